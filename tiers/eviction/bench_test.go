package eviction

import (
	"math/rand/v2"
	"testing"
)

// The benchmark workload: Zipf(1.01) accesses over 200k distinct keys through
// a 20k-entry cache, driven exactly like the simulator drives a policy (Touch
// on a hit, Insert then Evict while over capacity on a miss), through the
// Policy interface.
const (
	benchKeys     = 200_000
	benchCapacity = 20_000
	benchTraceLen = 1 << 20
)

// scramble turns a rank into a well-spread 64-bit key (splitmix64 finaliser),
// so keys look like the hashes tiers use; rank 0 maps to key 0's neighbour,
// and key 0 itself is exercised by the unit tests.
func scramble(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

func zipfTrace(seed uint64, n, keys int) []uint64 {
	r := rand.New(rand.NewPCG(seed, seed^0x5EED))
	z := rand.NewZipf(r, 1.01, 1, uint64(keys-1))
	trace := make([]uint64, n)
	for i := range trace {
		trace[i] = scramble(z.Uint64())
	}
	return trace
}

var benchTrace = zipfTrace(42, benchTraceLen, benchKeys)

// access runs one trace step; it reports a hit.
func access(p Policy, key uint64, capacity int) bool {
	if p.Contains(key) {
		p.Touch(key)
		return true
	}
	p.Insert(key)
	for p.Len() > capacity {
		if _, ok := p.Evict(); !ok {
			break
		}
	}
	return false
}

type sizer interface{ Bytes() int }

func benchPolicy(b *testing.B, name string) {
	p, err := New(name, benchCapacity)
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range benchTrace { // warm up to steady state
		access(p, k, benchCapacity)
	}
	hits := 0
	lockThread()
	defer unlockThread()
	cpu0, cpuOK := threadCPU()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if access(p, benchTrace[i&(benchTraceLen-1)], benchCapacity) {
			hits++
		}
	}
	b.StopTimer()
	cpu1, _ := threadCPU()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "accesses/s")
	if cpuOK && cpu1 > cpu0 {
		cpuNs := float64(cpu1-cpu0) / float64(b.N)
		b.ReportMetric(cpuNs, "cpu-ns/op")
		b.ReportMetric(1e9/cpuNs, "accesses/cpu-s")
	}
	b.ReportMetric(float64(hits)/float64(b.N), "hit-ratio")
	if s, ok := p.(sizer); ok {
		b.ReportMetric(float64(s.Bytes())/float64(p.Len()), "B/block")
	}
}

func BenchmarkLRUAccess(b *testing.B)    { benchPolicy(b, "lru") }
func BenchmarkFIFOAccess(b *testing.B)   { benchPolicy(b, "fifo") }
func BenchmarkLFUAccess(b *testing.B)    { benchPolicy(b, "lfu") }
func BenchmarkS3FIFOAccess(b *testing.B) { benchPolicy(b, "s3fifo") }
func BenchmarkSIEVEAccess(b *testing.B)  { benchPolicy(b, "sieve") }
func BenchmarkARCAccess(b *testing.B)    { benchPolicy(b, "arc") }
func BenchmarkPrefixAccess(b *testing.B) { benchPolicy(b, "prefix") }

// BenchmarkPrefixChainAccess: the prefix policy on its own workload: Zipf
// over 12.5k documents of 16 chained blocks (200k blocks), every request
// walking its chain root to leaf; one op is one block access.
func BenchmarkPrefixChainAccess(b *testing.B) {
	const chain = 16
	docs := zipfTrace(43, benchTraceLen/chain, benchKeys/chain)
	p := NewPrefix(benchCapacity)
	step := func(n int) bool {
		doc := docs[(n/chain)&(benchTraceLen/chain-1)] % (benchKeys / chain)
		j := uint64(n % chain)
		key := scramble(doc*chain + j)
		if p.Contains(key) {
			p.Touch(key)
			return true
		}
		if j > 0 {
			p.SetParent(key, scramble(doc*chain+j-1))
		}
		p.Insert(key)
		for p.Len() > benchCapacity {
			if _, ok := p.Evict(); !ok {
				break
			}
		}
		return false
	}
	for n := 0; n < benchTraceLen; n++ {
		step(n)
	}
	hits := 0
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		if step(n) {
			hits++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "accesses/s")
	b.ReportMetric(float64(hits)/float64(b.N), "hit-ratio")
	b.ReportMetric(float64(p.Bytes())/float64(p.Len()), "B/block")
}
