package memory

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/eviction"
)

// benchTier holds n artifacts of size bytes (keys 0..n-1).
func benchTier(b *testing.B, size, n int) *Tier {
	b.Helper()
	tr := newTestTier(b, int64(size*n)+int64(size), func(c *Config) {
		c.MaxArtifactBytes = int64(size)
		c.Prefault = true
		c.Policy, c.PolicyName = nil, "lru" // the production LRU
	})
	p := fill(1, size)
	for i := range n {
		if err := tr.Put(context.Background(), key(i), p, tiers.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	return tr
}

func benchKeys(n int) []artifact.ID {
	ids := make([]artifact.ID, n)
	for i := range ids {
		ids[i] = key(i)
	}
	return ids
}

func BenchmarkContains(b *testing.B) {
	const n = 4096
	tr := benchTier(b, 4096, n)
	ids := benchKeys(n)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if !tr.Contains(ids[i&(n-1)]) {
			b.Fatal("miss")
		}
	}
}

func benchGet(b *testing.B, size, n int) {
	tr := benchTier(b, size, n)
	ids := benchKeys(n)
	dst := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := tr.Get(dst, ids[i%n]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet4K(b *testing.B)  { benchGet(b, 4<<10, 4096) }
func BenchmarkGet4M(b *testing.B)  { benchGet(b, 4<<20, 16) }
func BenchmarkGet16M(b *testing.B) { benchGet(b, 16<<20, 8) }

func BenchmarkView4K(b *testing.B) {
	const n = 4096
	tr := benchTier(b, 4096, n)
	ids := benchKeys(n)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		v, err := tr.View(ids[i&(n-1)])
		if err != nil {
			b.Fatal(err)
		}
		v.Release()
	}
}

// benchPut stores into a full tier of n slots, so every Put evicts one
// artifact (steady state of a cache).
func benchPut(b *testing.B, size, n int) {
	tr := newTestTier(b, int64(size*n), func(c *Config) {
		c.MaxArtifactBytes = int64(size)
		c.Prefault = true
		c.Policy, c.PolicyName = nil, "lru" // the production LRU
	})
	ids := benchKeys(4 * n)
	p := fill(2, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := tr.Put(context.Background(), ids[i%len(ids)], p, tiers.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPut4K(b *testing.B)  { benchPut(b, 4<<10, 1024) }
func BenchmarkPut4M(b *testing.B)  { benchPut(b, 4<<20, 16) }
func BenchmarkPut16M(b *testing.B) { benchPut(b, 16<<20, 8) }

// The copy benchmarks are the yardstick: a plain copy() between two Go
// buffers of the same sizes, cycling through as many sources as the Get
// benchmarks so that caches play the same part.
func benchCopy(b *testing.B, size, n int) {
	srcs := make([][]byte, n)
	for i := range srcs {
		srcs[i] = fill(uint64(i), size)
	}
	dst := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		copy(dst, srcs[i%n])
	}
}

func BenchmarkCopy4K(b *testing.B)  { benchCopy(b, 4<<10, 4096) }
func BenchmarkCopy4M(b *testing.B)  { benchCopy(b, 4<<20, 16) }
func BenchmarkCopy16M(b *testing.B) { benchCopy(b, 16<<20, 8) }

// BenchmarkChecksum4M is the other half of a Put's cost.
func BenchmarkChecksum4M(b *testing.B) {
	p := fill(3, 4<<20)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		_ = artifact.Checksum(p)
	}
}

func BenchmarkGet4KParallel(b *testing.B) {
	const n = 4096
	tr := benchTier(b, 4096, n)
	ids := benchKeys(n)
	b.SetBytes(4096)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]byte, 4096)
		i := 0
		for pb.Next() {
			if _, err := tr.Get(dst, ids[i&(n-1)]); err != nil {
				panic(fmt.Sprint(err)) // b.Fatal is not for RunParallel goroutines
			}
			i += 7
		}
	})
}

// BenchmarkPutCold4M stores payloads cycling through 192 MiB of sources, so
// the payload is not in cache when Put reads it (a freshly received buffer
// of another request).
func BenchmarkPutCold4M(b *testing.B) {
	const size, n, nsrc = 4 << 20, 16, 48
	tr := newTestTier(b, size*n, func(c *Config) {
		c.MaxArtifactBytes = size
		c.Prefault = true
		c.Policy, c.PolicyName = nil, "lru"
	})
	srcs := make([][]byte, nsrc)
	for i := range srcs {
		srcs[i] = fill(uint64(i), size)
	}
	ids := benchKeys(4 * n)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := tr.Put(context.Background(), ids[i%len(ids)], srcs[i%nsrc], tiers.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadHitScaling is issue 16's read-hit scaling: g goroutines take
// and release views of 4 KiB artifacts (the hit path without a copy, so the
// policy bookkeeping is what is measured), with every hit recorded under
// the policy mutex (exact) or through the read buffer (buffered), side by
// side in one run. ns/op is wall time per hit over all goroutines;
// dropped/op is the share of hits the read buffer lost to a busy mutex.
//
//	go test -run XXX -bench ReadHitScaling -count 3 ./tiers/memory/
func BenchmarkReadHitScaling(b *testing.B) {
	const n = 4096
	for _, mode := range []string{"exact", "buffered"} {
		for _, g := range []int{1, 2, 4, 8} {
			b.Run(fmt.Sprintf("mode=%s/g=%d", mode, g), func(b *testing.B) {
				tr := newTestTier(b, int64(4096*(n+1)), func(c *Config) {
					c.Prefault = true
					c.Policy, c.PolicyName = nil, "lru"
					c.ExactReads = mode == "exact"
				})
				p := fill(1, 4096)
				ids := benchKeys(n)
				for _, id := range ids {
					if err := tr.Put(context.Background(), id, p, tiers.PutOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				var wg sync.WaitGroup
				errs := make(chan error, g)
				for w := range g {
					ops := b.N / g
					if w < b.N%g {
						ops++
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						// A different odd stride per goroutine: each walks
						// every key, in its own order.
						j, stride := w*977, 2*w+1
						for range ops {
							v, err := tr.View(ids[j&(n-1)])
							if err != nil {
								errs <- err
								return
							}
							v.Release()
							j += stride
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				var bs eviction.BufferStats
				tr.ReadBufferStats(&bs)
				b.ReportMetric(float64(bs.Dropped)/float64(b.N), "dropped/op")
			})
		}
	}
}
