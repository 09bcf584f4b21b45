package placement

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/stratacache/stratacache/internal/docvectors"
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

// Test vectors published in docs/hashing.md, read from the document.
// Changing any of these breaks every router and engine that implemented the
// documented hash.
func TestHashVectors(t *testing.T) {
	rows, err := docvectors.Table(docvectors.Doc("hashing.md"), "stratacache")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		var extra []string
		if e := r["extras"]; e != "—" && e != "" {
			extra = strings.Split(e, ",")
		}
		tokens := parseTokens(t, r["tokens"])
		seed := ModelSeed(r["model"], extra...)
		if want := parseU64(t, r["seed"]); seed != want {
			t.Errorf("%v: seed %#016x, want %#016x", r, seed, want)
		}
		hs, err := PrefixHashes(nil, seed, tokens, 16, r["partial"] == "yes")
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Split(r["block hashes"], ",")
		if len(hs) != len(want) {
			t.Fatalf("%v: %d blocks, want %d", r, len(hs), len(want))
		}
		for j := range hs {
			if w := parseU64(t, want[j]); hs[j] != w {
				t.Errorf("%v block %d: %#016x, want %#016x", r, j, hs[j], w)
			}
		}
	}
}

// parseTokens reads a vectors table's token column: "32" or "range(32)"
// (0, 1, ..., 31) or a JSON array.
func parseTokens(t *testing.T, s string) []uint32 {
	t.Helper()
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var ts []uint32
		if err := json.Unmarshal([]byte(s), &ts); err != nil {
			t.Fatalf("tokens %q: %v", s, err)
		}
		return ts
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "range("), ")")
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("tokens %q: %v", s, err)
	}
	ts := make([]uint32, n)
	for i := range ts {
		ts[i] = uint32(i)
	}
	return ts
}

func parseU64(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimSpace(s), 0, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v
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
