package resp

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/stratacache/node/internal/perturb"
)

// handoffRounds scales TestLoopHandoff: -handoff.rounds=50 is the soak
// named in docs/node.md; the default keeps go test ./... short.
var handoffRounds = flag.Int("handoff.rounds", 1, "rounds of TestLoopHandoff (each ~100 connections crossing the event loop hand-off)")

// TestLoopHandoff is native's TestLoopHandoff for RESP: connections send
// small SET/GETs (served on the event loop), then a SET whose value is too
// large for the loop (the connection moves to its goroutine in the middle
// of it) with small SETs pipelined behind it, then GETs, written in seeded
// random pieces while the scheduling is perturbed; every reply and value
// is checked. Half the connections authenticate first (AUTH pipelined with
// what follows: the pre-auth read buffer is swapped for the full one).
func TestLoopHandoff(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("event loops are Linux only")
	}
	srv, addr := startServer(t, Config{EventLoops: 1, Engine: newEngine(t, 1<<30)})
	authSrv, authAddr := startServer(t, Config{EventLoops: 1, Engine: newEngine(t, 1<<30), AuthToken: "tok"})
	stop := perturb.Scheduling(11)
	defer stop()
	workers, conns := 6, 16
	if raceEnabled {
		workers, conns = 4, 6
	}
	for round := range *handoffRounds {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				for i := range conns {
					a, auth := addr, ""
					if i%2 == 1 {
						a, auth = authAddr, "tok"
					}
					if err := handoffConn(a, auth, rng, fmt.Sprintf("r%d-w%d-c%d", round, w, i)); err != nil {
						errs <- fmt.Errorf("round %d worker %d conn %d: %w", round, w, i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			break
		}
	}
	for _, s := range []*Server{srv, authSrv} {
		if st := s.Stats(); st.Panics != 0 || st.ProtocolErrors != 0 {
			t.Fatalf("server stats %+v", st)
		}
	}
}

// handoffSizes are the value sizes a script draws from: the first five are
// executed on the loop (under 16 KiB), from the seventh on they are the
// large SET: just over the loop's limit, around the 64 KiB read buffer,
// 200 KiB, 1 MiB and 4 MiB.
var handoffSizes = []int{0, 1, 100, 4 << 10, 16<<10 - 1, 16 << 10, 16<<10 + 1, 64<<10 - 100, 64 << 10, 64<<10 + 1, 200 << 10, 1 << 20, 4 << 20}

// handoffConn runs one connection's script (see TestLoopHandoff).
func handoffConn(addr, auth string, rng *rand.Rand, prefix string) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(2 * time.Minute)) // a hang fails, not a slow machine
	type step struct {
		get bool
		key string
		val []byte // SET: the value; GET: the value expected
	}
	var script []step
	vals := map[string][]byte{}
	var keys []string
	set := func(n int) {
		key := fmt.Sprintf("%s-%d", prefix, len(script))
		v := make([]byte, n)
		perturb.Fill(v, rng)
		vals[key] = v
		keys = append(keys, key)
		script = append(script, step{key: key, val: v})
	}
	get := func(key string) { script = append(script, step{get: true, key: key, val: vals[key]}) }
	for range 1 + rng.IntN(4) {
		set(handoffSizes[rng.IntN(5)])
		get(keys[len(keys)-1])
	}
	set(handoffSizes[6+rng.IntN(len(handoffSizes)-6)])
	large := keys[len(keys)-1]
	for range rng.IntN(6) {
		set(handoffSizes[rng.IntN(5)])
	}
	get(large)
	for _, k := range keys {
		if rng.IntN(2) == 0 {
			get(k)
		}
	}

	var stream []byte
	if auth != "" {
		stream = append(stream, encode("AUTH", auth)...)
	}
	for _, st := range script {
		if st.get {
			stream = append(stream, encode("GET", st.key)...)
		} else {
			stream = append(stream, encode("SET", st.key, st.val)...)
		}
	}
	wrng := rand.New(rand.NewPCG(rng.Uint64(), 1))
	werr := make(chan error, 1)
	go func() { werr <- perturb.WritePieces(nc, stream, wrng) }()

	br := bufio.NewReaderSize(nc, 32<<10)
	if auth != "" {
		if line, err := br.ReadString('\n'); err != nil || line != "+OK\r\n" {
			return fmt.Errorf("auth: %q %v", line, err)
		}
	}
	for i, st := range script {
		line, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("reply %d of %d (get=%v, %d bytes): %w", i, len(script), st.get, len(st.val), err)
		}
		if !st.get {
			if line != "+OK\r\n" {
				return fmt.Errorf("set reply %d: %q", i, line)
			}
			continue
		}
		if want := "$" + strconv.Itoa(len(st.val)) + "\r\n"; line != want {
			return fmt.Errorf("get reply %d: %q, want %q", i, line, want)
		}
		got := make([]byte, len(st.val)+2)
		if _, err := io.ReadFull(br, got); err != nil {
			return fmt.Errorf("get %d value: %w", i, err)
		}
		if !bytes.Equal(got[:len(st.val)], st.val) || string(got[len(st.val):]) != "\r\n" {
			return fmt.Errorf("get %d: value differs", i)
		}
	}
	return <-werr
}
