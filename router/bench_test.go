package router

import (
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/stratacache/stratacache/kvevents"
)

// benchRouter: 64 pods, 1M (pod, block) entries indexed: each pod holds
// 15,625 unrelated blocks, and pod i also the first 8*i blocks of the
// prompt (an 8,192-token prompt is 512 blocks at block size 16), so runs
// from 0 to 504 blocks are walked.
func benchRouter(b *testing.B) (*Router, []uint32) {
	r := newRouter(b, nil)
	rng := rand.New(rand.NewSource(1))
	tokens := make([]uint32, 8192)
	for i := range tokens {
		tokens[i] = uint32(rng.Intn(128000))
	}
	hs := vllmHashes(b, tokens, 16)
	const pods, perPod = 64, 1_000_000 / 64
	for p := 0; p < pods; p++ {
		name := "pod-" + string(rune('A'+p/26)) + string(rune('a'+p%26))
		other := make([]uint64, perPod)
		for i := range other {
			other[i] = rng.Uint64()
		}
		r.Index().Apply(name, gpuStore(other))
		r.Index().Apply(name, gpuStore(hs[:8*p]))
	}
	if n := r.Index().Len(); n < 1_000_000 {
		b.Fatalf("%d entries", n)
	}
	return r, tokens
}

func latencies(b *testing.B, f func()) {
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		f()
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkScore8K64Pods is POST /v1/score's work without HTTP: hashing an
// 8,192-token prompt (vllm scheme), looking it up for 64 pods in an index
// of 1M blocks, ordering the answer.
func BenchmarkScore8K64Pods(b *testing.B) {
	r, tokens := benchRouter(b)
	req := &ScoreRequest{Tokens: tokens}
	latencies(b, func() {
		resp, err := r.Score(req)
		if err != nil || resp.Pods[0].HitBlocks != 504 {
			b.Fatalf("%v %+v", err, resp.Pods[0])
		}
	})
}

// BenchmarkHash8K is the hashing part alone (sha256 over canonical CBOR,
// 512 blocks).
func BenchmarkHash8K(b *testing.B) {
	r := newRouter(b, nil)
	tokens := make([]uint32, 8192)
	dst := make([]uint64, 0, 512)
	latencies(b, func() { dst, _ = r.Hashes(dst[:0], tokens, "", nil) })
}

// BenchmarkLookupPerPod8K64Pods is the first design's lookup, kept for
// comparison (docs/router.md): each of the 64 pods' leading run walked
// separately (Index.Run), a lookup per pod and block, where Score makes
// one lookup per block for all pods.
func BenchmarkLookupPerPod8K64Pods(b *testing.B) {
	r, tokens := benchRouter(b)
	hs, _ := r.Hashes(nil, tokens, "", nil)
	media := make([]kvevents.Media, len(hs))
	pods := r.Index().Pods()
	latencies(b, func() {
		for _, p := range pods {
			r.Index().Run(p.Pod, hs, media)
		}
	})
}
