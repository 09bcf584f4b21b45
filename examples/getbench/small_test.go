package getbench

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/clientsdk"
	"github.com/stratacache/stratacache/node/native"
)

// BenchmarkGet4KiB is BenchmarkGet4MiB for small values, where the
// per-request cost of the client (its connection handling, deadlines and
// frame bookkeeping), not the copy, decides: alternating rounds of 64
// reads through node/native's client and clientsdk, each on one
// connection, reporting both rates and the median per-round ratio.
func BenchmarkGet4KiB(b *testing.B) {
	addr := startServer(b)
	ctx := context.Background()
	raw, err := native.Dial(ctx, addr, native.DialOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	c, err := clientsdk.New(clientsdk.WithNodes(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const size = 4 << 10
	id := artifact.MustID(artifact.NamespaceKV, "bench@00000000000000bb/all")
	if err := c.Put(ctx, id, make([]byte, size)); err != nil {
		b.Fatal(err)
	}
	bufN, bufS := make([]byte, size), make([]byte, size)
	const round = 64
	var tn, ts time.Duration
	var ratios []float64
	b.ReportAllocs()
	b.ResetTimer()
	readN := func() time.Duration {
		t0 := time.Now()
		for j := 0; j < round; j++ {
			if bufN, _, err = raw.Get(ctx, bufN, id); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	readS := func() time.Duration {
		t0 := time.Now()
		for j := 0; j < round; j++ {
			if bufS, err = c.Get(ctx, bufS, id); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	for i := 0; i < b.N; i += round {
		var dn, ds time.Duration
		if (i/round)%2 == 0 {
			dn, ds = readN(), readS()
		} else {
			ds, dn = readS(), readN()
		}
		tn += dn
		ts += ds
		ratios = append(ratios, float64(dn)/float64(ds))
	}
	b.StopTimer()
	reads := float64(len(ratios) * round)
	slices.Sort(ratios)
	b.ReportMetric(reads/tn.Seconds(), "native-ops/s")
	b.ReportMetric(reads/ts.Seconds(), "sdk-ops/s")
	b.ReportMetric(ratios[len(ratios)/2], "sdk/native")
}

// BenchmarkSDKGet4KiBParallel: many goroutines reading 4 KiB values
// through one client (its pool hands each request a connection of its
// own), as a scheduler's workers would.
func BenchmarkSDKGet4KiBParallel(b *testing.B) {
	addr := startServer(b)
	ctx := context.Background()
	c, err := clientsdk.New(clientsdk.WithNodes(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const size = 4 << 10
	id := artifact.MustID(artifact.NamespaceKV, "bench@00000000000000cc/all")
	if err := c.Put(ctx, id, make([]byte, size)); err != nil {
		b.Fatal(err)
	}
	var failed atomic.Value
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, size)
		for pb.Next() {
			var err error
			if buf, err = c.Get(ctx, buf, id); err != nil {
				failed.Store(err)
				return
			}
		}
	})
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}
