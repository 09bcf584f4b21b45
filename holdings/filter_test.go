package holdings

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/bits-and-blooms/bloom/v3"
)

func TestFilterRoundTripAndGarbage(t *testing.T) {
	f, err := NewFilter(1000, DefaultBitsPerEntry, DefaultK)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var keys []uint64
	for i := 0; i < 1000; i++ {
		keys = append(keys, rng.Uint64())
		f.Add(keys[i])
	}
	g, err := DecodeFilter(f.AppendTo(nil))
	if err != nil || g.Len() != 1000 || g.Bits() != f.Bits() {
		t.Fatalf("round trip: %v", err)
	}
	for _, k := range keys {
		if !g.Contains(k) {
			t.Fatal("a false negative after a round trip")
		}
	}
	for _, b := range [][]byte{nil, {1, 8}, {2, 0, 0, 8}, {2, 8, 0, 1, 0}, {2, 8, 0, 8, 1, 2, 3}} {
		if _, err := DecodeFilter(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%v: %v", b, err)
		}
	}
	for _, c := range [][3]int{{-1, 16, 8}, {10, 0, 8}, {10, 16, 0}, {10, 16, 15}} {
		if _, err := NewFilter(c[0], c[1], c[2]); !errors.Is(err, ErrMalformed) {
			t.Errorf("%v: %v", c, err)
		}
	}
	var fd Feed
	for _, b := range [][]byte{nil, {1, 2}, {1, 0, 1, 1, 5}, {1, 1, 1, 1, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if err := DecodeFeed(b, &fd); !errors.Is(err, ErrMalformed) {
			t.Errorf("feed %v: %v", b, err)
		}
	}
}

// BenchmarkFilterContains: this package's filter against
// bits-and-blooms/bloom/v3 (a maintained Bloom filter) at the same
// false-positive rate, over the same 64k keys, probing random keys (mostly
// absent) and held ones: why the summary filter is written here
// (docs/clientsdk.md). go test ./holdings -bench FilterContains
func BenchmarkFilterContains(b *testing.B) {
	const n = 1 << 16
	rng := rand.New(rand.NewPCG(3, 3))
	keys := make([]uint64, n)
	probes := make([]uint64, 4096)
	for i := range keys {
		keys[i] = rng.Uint64()
	}
	for i := range probes {
		if i%2 == 0 {
			probes[i] = keys[rng.IntN(n)]
		} else {
			probes[i] = rng.Uint64()
		}
	}
	f, _ := NewFilter(n, DefaultBitsPerEntry, DefaultK)
	for _, k := range keys {
		f.Add(k)
	}
	lib := bloom.NewWithEstimates(n, 0.001)
	var kb [8]byte
	for _, k := range keys {
		binary.LittleEndian.PutUint64(kb[:], k)
		lib.Add(kb[:])
	}
	b.Run("holdings", func(b *testing.B) {
		b.ReportMetric(float64(f.Bits())/n, "bits/entry")
		hit := 0
		for i := 0; i < b.N; i++ {
			if f.Contains(probes[i&4095]) {
				hit++
			}
		}
		_ = hit
	})
	b.Run("bits-and-blooms", func(b *testing.B) {
		b.ReportMetric(float64(lib.Cap())/n, "bits/entry")
		var kb [8]byte
		hit := 0
		for i := 0; i < b.N; i++ {
			binary.LittleEndian.PutUint64(kb[:], probes[i&4095])
			if lib.Test(kb[:]) {
				hit++
			}
		}
		_ = hit
	})
}
