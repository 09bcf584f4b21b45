package clientsdk

import (
	"errors"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/placement"
)

func seq(n int) []uint32 {
	t := make([]uint32, n)
	for i := range t {
		t[i] = uint32(i)
	}
	return t
}

// The vectors of docs/hashing.md, through the SDK's helper.
func TestHashVectors(t *testing.T) {
	cases := []struct {
		model   string
		extra   []string
		n       int
		partial bool
		seed    uint64
		want    []uint64
	}{
		{"llama-3-8b", nil, 32, false, 0xe39251d9742ebb6d, []uint64{0xfb17f16ced7ef596, 0x8661bca9a26ab68c}},
		{"llama-3-8b", []string{"lora:sql"}, 32, false, 0x24c9372aca27c278, []uint64{0x1cd05e80e874fc1a, 0x74c81ae7751a1632}},
		{"qwen2.5-7b", nil, 40, true, 0x69f66c45562c0a05, []uint64{0x5b5cc9b6c27c43e1, 0xae8ca1190fda68d4, 0xef9c7a6fd63aa9ca}},
	}
	for _, tc := range cases {
		h, err := NewHasher(HashConfig{Model: tc.model, Extra: tc.extra, BlockSizes: []int{16}, Partial: tc.partial})
		if err != nil {
			t.Fatal(err)
		}
		if h.Seed() != tc.seed {
			t.Fatalf("%s: seed %#x, want %#x", tc.model, h.Seed(), tc.seed)
		}
		var p Prompt
		if err := h.Hash(&p, seq(tc.n)); err != nil {
			t.Fatal(err)
		}
		got := p.Levels[0].Hashes
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d hashes, want %d", tc.model, len(got), len(tc.want))
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("%s block %d: %#x, want %#x", tc.model, i, got[i], tc.want[i])
			}
			// The id the index is keyed by is the id engines store under.
			id, err := h.ChunkID(got[i])
			if err != nil {
				t.Fatal(err)
			}
			if p.Levels[0].IDs[i] != id.Hash {
				t.Fatalf("%s block %d: id hash %#x, ChunkID %#x", tc.model, i, p.Levels[0].IDs[i], id.Hash)
			}
		}
	}
}

func TestHashBlockSizesAndPartial(t *testing.T) {
	for _, partial := range []bool{false, true} {
		h, err := NewHasher(HashConfig{Model: "m", BlockSizes: []int{16, 256, 512}, Partial: partial,
			Layers: artifact.Layer(3), Extra: []string{"lora:x"}})
		if err != nil {
			t.Fatal(err)
		}
		var p Prompt
		toks := seq(1000)
		if err := h.Hash(&p, toks); err != nil {
			t.Fatal(err)
		}
		for _, lv := range p.Levels {
			full := 1000 / lv.BlockSize
			want := full
			if partial && 1000%lv.BlockSize != 0 {
				want++
			}
			if len(lv.Hashes) != want || len(lv.IDs) != want {
				t.Fatalf("bs %d partial %v: %d blocks, want %d", lv.BlockSize, partial, len(lv.Hashes), want)
			}
			ref, _ := placement.PrefixHashes(nil, h.Seed(), toks, lv.BlockSize, partial)
			for i := range ref {
				if ref[i] != lv.Hashes[i] {
					t.Fatalf("bs %d block %d differs from placement.PrefixHashes", lv.BlockSize, i)
				}
			}
			wantLast := lv.BlockSize
			if partial && 1000%lv.BlockSize != 0 {
				wantLast = 1000 % lv.BlockSize
			}
			if lv.LastTokens != wantLast {
				t.Fatalf("bs %d partial %v: last block %d tokens, want %d", lv.BlockSize, partial, lv.LastTokens, wantLast)
			}
			id, _ := h.ChunkID(lv.Hashes[len(lv.Hashes)-1])
			if id.Hash != lv.IDs[len(lv.IDs)-1] {
				t.Fatal("per-layer, extra-key chunk id differs from artifact.KVKey")
			}
		}
	}
	if _, err := NewHasher(HashConfig{Model: "m", BlockSizes: []int{0}}); !errors.Is(err, ErrHashConfig) {
		t.Fatalf("block size 0: %v", err)
	}
	if _, err := NewHasher(HashConfig{}); !errors.Is(err, ErrHashConfig) {
		t.Fatalf("empty model: %v", err)
	}
}

func TestHashReusesPrompt(t *testing.T) {
	h, _ := NewHasher(HashConfig{Model: "m", BlockSizes: []int{16, 512}})
	var p Prompt
	toks := seq(4096)
	_ = h.Hash(&p, toks)
	if a := testing.AllocsPerRun(20, func() { _ = h.Hash(&p, toks) }); a != 0 && !raceOn {
		t.Fatalf("Hash allocates %v times per call on a warm Prompt", a)
	}
}
