// Package perturb shakes the timing of a test that looks for races
// between goroutines and the network: GOMAXPROCS that changes under it,
// busy goroutines competing for the processors, and writes cut in random
// pieces, all seeded. The node's protocol tests use it to drive
// connections across the event loop's hand-off (node/internal/connserver).
//
// It imports the standard library only.
package perturb

import (
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Scheduling changes GOMAXPROCS between 1 and 4 every 0-2 ms and runs two
// busy goroutines (spinning, yielding now and then) until stop is called;
// stop restores GOMAXPROCS. Not for tests that run in parallel with
// others that depend on GOMAXPROCS.
func Scheduling(seed uint64) (stop func()) {
	procs := runtime.GOMAXPROCS(0)
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(seed, 0))
		for !done.Load() {
			runtime.GOMAXPROCS(1 + rng.IntN(4))
			d := time.Duration(rng.IntN(2000)) * time.Microsecond
			for start := time.Now(); time.Since(start) < d && !done.Load(); {
				runtime.Gosched()
			}
		}
	}()
	for range 2 {
		go func() {
			defer wg.Done()
			for i := 0; !done.Load(); i++ {
				if i%64 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	return func() {
		done.Store(true)
		wg.Wait()
		runtime.GOMAXPROCS(procs)
	}
}

// WritePieces writes b to w in pieces of random size: a third of 1-64
// bytes (a frame's prefix or a command's first line split across reads),
// the rest up to 192 KiB (a value split anywhere, several requests in one
// read), yielding after some of them.
func WritePieces(w io.Writer, b []byte, rng *rand.Rand) error {
	for len(b) > 0 {
		n := min(len(b), 1+rng.IntN(3)*rng.IntN(96<<10)+rng.IntN(64))
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
		if rng.IntN(4) == 0 {
			runtime.Gosched()
		}
	}
	return nil
}

// Fill fills b with bytes drawn from rng, eight at a time.
func Fill(b []byte, rng *rand.Rand) {
	for len(b) >= 8 {
		v := rng.Uint64()
		for i := range 8 {
			b[i] = byte(v >> (8 * i))
		}
		b = b[8:]
	}
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}
