package actors

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/disk"
)

// BenchmarkWriteBackStore measures a 16 KiB write-back store into a CPU tier
// over a disk tier, for each disk durability, overwriting 64 keys in turn,
// in the two cases that differ: "supersedes" stores keys whose previous
// version was flushed to the disk tier (a Flush before every round of 64,
// outside the timer): the store must invalidate that copy before it returns,
// durably with durability sync (a slot clear and an fdatasync); "dirty"
// overwrites keys that are dirty in the CPU tier and not on disk (the
// invalidation is an index miss). docs/BENCHMARKS.md compares it with the
// engine before stores invalidated lower copies.
//
// The "4writers" cases split every round of 64 stores over 4 goroutines, as
// 4 connections would: with durability sync their invalidations share
// fdatasyncs (the disk tier's group commit).
func BenchmarkWriteBackStore(b *testing.B) {
	for _, dur := range []disk.Durability{disk.DurabilityNone, disk.DurabilitySync} {
		for _, supersede := range []bool{false, true} {
			for _, writers := range []int{1, 4} {
				name := fmt.Sprintf("%s/dirty", dur)
				if supersede {
					name = fmt.Sprintf("%s/supersedes", dur)
				}
				if writers > 1 {
					name += fmt.Sprintf("/%dwriters", writers)
				}
				b.Run(name, func(b *testing.B) { benchWriteBackStore(b, dur, supersede, writers) })
			}
		}
	}
}

func benchWriteBackStore(b *testing.B, dur disk.Durability, supersede bool, writers int) {
	const size, keys = 16 << 10, 64
	d, err := disk.Open(disk.Config{Name: "disk", Path: filepath.Join(b.TempDir(), "disk.tier"), CapacityBytes: 64 << 20, Durability: dur, TrustPutChecksum: true})
	if err != nil {
		b.Fatal(err)
	}
	link := LinkConfig{Policy: WriteBack, MaxDirtyBytes: 64 << 20, FlushBatchBytes: 64 << 20, FlushInterval: time.Hour}
	e, err := NewEngine(Config{Tiers: []tiers.Tier{memTier(b, "cpu", 64<<20), d}, Links: []LinkConfig{link}})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(i)
	}
	ids := make([]artifact.ID, keys)
	for k := range ids {
		ids[k] = id(fmt.Sprintf("wb/%d", k))
		if err := e.Store(ctx, ids[k], p, StoreOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; {
		if supersede {
			b.StopTimer()
			if err := e.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		n := min(keys, b.N-i)
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for k := w; k < n; k += writers {
					if err := e.Store(ctx, ids[k], p, StoreOptions{}); err != nil {
						errs <- err
						return
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		i += n
	}
}
