package placement

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// The chained prefix hash is defined byte by byte in docs/hashing.md; this
// recomputes it from that definition, independently of BlockHash's buffer.
func TestBlockHashMatchesDefinition(t *testing.T) {
	seed := ModelSeed("llama-3-8b")
	tokens := make([]uint32, 300) // longer than BlockHash's stack buffer
	for i := range tokens {
		tokens[i] = uint32(i*7919) ^ 0xdeadbeef
	}
	var b []byte
	b = binary.LittleEndian.AppendUint64(b, 12345)
	for _, tok := range tokens {
		b = binary.LittleEndian.AppendUint32(b, tok)
	}
	d := xxhash.NewWithSeed(seed)
	d.Write(b)
	if got, want := BlockHash(seed, 12345, tokens), d.Sum64(); got != want {
		t.Fatalf("BlockHash %x, definition %x", got, want)
	}
}

// Test vectors published in docs/hashing.md. Changing any of these breaks
// every router and engine that implemented the documented hash.
func TestHashVectors(t *testing.T) {
	seqTokens := func(n int) []uint32 {
		ts := make([]uint32, n)
		for i := range ts {
			ts[i] = uint32(i)
		}
		return ts
	}
	cases := []struct {
		model  string
		extra  []string
		tokens []uint32
		block  int
		part   bool
		seed   uint64
		hashes []uint64
	}{
		{"llama-3-8b", nil, seqTokens(32), 16, false, 0, nil},
		{"llama-3-8b", []string{"lora:sql"}, seqTokens(32), 16, false, 0, nil},
		{"qwen2.5-7b", nil, seqTokens(40), 16, true, 0, nil},
	}
	want := [][]uint64{
		{0xfb17f16ced7ef596, 0x8661bca9a26ab68c},
		{0x1cd05e80e874fc1a, 0x74c81ae7751a1632},
		{0x5b5cc9b6c27c43e1, 0xae8ca1190fda68d4, 0xef9c7a6fd63aa9ca},
	}
	wantSeeds := []uint64{0xe39251d9742ebb6d, 0x24c9372aca27c278, 0x69f66c45562c0a05}
	for i, c := range cases {
		seed := ModelSeed(c.model, c.extra...)
		if seed != wantSeeds[i] {
			t.Errorf("case %d: seed %#016x, want %#016x", i, seed, wantSeeds[i])
		}
		hs, err := PrefixHashes(nil, seed, c.tokens, c.block, c.part)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != len(want[i]) {
			t.Fatalf("case %d: %d blocks, want %d", i, len(hs), len(want[i]))
		}
		for j := range hs {
			if hs[j] != want[i][j] {
				t.Errorf("case %d block %d: %#016x, want %#016x", i, j, hs[j], want[i][j])
			}
		}
	}
}

func TestPrefixHashesPartialAndErrors(t *testing.T) {
	seed := ModelSeed("m")
	toks := make([]uint32, 33)
	full, _ := PrefixHashes(nil, seed, toks, 16, false)
	part, _ := PrefixHashes(nil, seed, toks, 16, true)
	if len(full) != 2 || len(part) != 3 || full[1] != part[1] {
		t.Fatalf("full %d part %d", len(full), len(part))
	}
	if _, err := PrefixHashes(nil, seed, toks, 0, false); !errors.Is(err, ErrBlockSize) {
		t.Fatal(err)
	}
	// A prefix's hashes are the leading hashes of any extension.
	long, _ := PrefixHashes(nil, seed, append(toks[:32:32], 1, 2, 3), 16, false)
	if long[0] != full[0] || long[1] != full[1] {
		t.Fatal("chained hash is not prefix-stable")
	}
}

func BenchmarkPrefixHashes32K(b *testing.B) {
	toks := make([]uint32, 32768)
	for i := range toks {
		toks[i] = uint32(i)
	}
	seed := ModelSeed("m")
	dst := make([]uint64, 0, 2048)
	b.SetBytes(int64(len(toks) * 4))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		dst, _ = PrefixHashes(dst[:0], seed, toks, 16, false)
	}
}

// blockHash must equal cespare/xxhash's XXH64 of the defined byte stream for
// every token count, including the short (<32 byte) and odd-length cases.
func TestBlockHashEqualsXXH64(t *testing.T) {
	rng := uint64(1)
	next := func() uint64 { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng }
	for n := 0; n <= 300; n++ {
		toks := make([]uint32, n)
		for i := range toks {
			toks[i] = uint32(next())
		}
		seed, parent := next(), next()
		b := binary.LittleEndian.AppendUint64(nil, parent)
		for _, tok := range toks {
			b = binary.LittleEndian.AppendUint32(b, tok)
		}
		d := xxhash.NewWithSeed(seed)
		d.Write(b)
		if got, want := blockHash(seed, parent, toks), d.Sum64(); got != want {
			t.Fatalf("%d tokens: %#x, want %#x", n, got, want)
		}
	}
}
