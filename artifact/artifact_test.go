package artifact

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func TestNewIDValidates(t *testing.T) {
	if _, err := NewID(NamespaceKV, nil); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("empty key: %v", err)
	}
	if _, err := NewID(NamespaceKV, make([]byte, MaxKeyLen+1)); !errors.Is(err, ErrKeyTooLong) {
		t.Fatalf("long key: %v", err)
	}
	if _, err := NewID(Namespace(9), []byte("k")); !errors.Is(err, ErrUnknownNamespace) {
		t.Fatalf("bad namespace: %v", err)
	}
	if _, err := ParseNamespace("tensor"); !errors.Is(err, ErrUnknownNamespace) {
		t.Fatalf("parse: %v", err)
	}
	for _, n := range []string{"kv", "param", "blob"} {
		ns, err := ParseNamespace(n)
		if err != nil || ns.String() != n {
			t.Fatalf("%s: %v %v", n, ns, err)
		}
	}
}

func TestNamespaceSeparatesKeys(t *testing.T) {
	a := MustID(NamespaceKV, "same")
	b := MustID(NamespaceBlob, "same")
	if a.Hash == b.Hash || a.Equal(b) {
		t.Fatal("equal key bytes in two namespaces must be two artifacts")
	}
	if !a.Equal(MustID(NamespaceKV, "same")) {
		t.Fatal("ids of equal keys differ")
	}
	// The id is xxhash64 over the namespace byte then the key.
	want := xxhash.Sum64(append([]byte{byte(NamespaceKV)}, "same"...))
	if a.Hash != want {
		t.Fatalf("hash %x, want %x", a.Hash, want)
	}
}

func TestCollidingIDsAreNotEqual(t *testing.T) {
	a := WithHash(NamespaceKV, []byte("a"), 7)
	b := WithHash(NamespaceKV, []byte("b"), 7)
	if a.Equal(b) || a.SameKey(b.Namespace, b.Key) {
		t.Fatal("ids with equal hashes but different keys compared equal")
	}
}

func TestCloneIsPrivate(t *testing.T) {
	k := []byte("key")
	id := MustID(NamespaceKV, string(k))
	c := id.Clone()
	c.Key[0] = 'X'
	if string(id.Key) != "key" {
		t.Fatal("Clone shares the key")
	}
}

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

func TestKeyBuilders(t *testing.T) {
	k := KVKey{Model: "m", PrefixHash: 0xab, Layers: Layer(3), Extra: []string{"lora:x"}}
	b, err := k.AppendKey(nil)
	if err != nil || string(b) != "m@00000000000000ab/L3#lora:x" {
		t.Fatalf("%q %v", b, err)
	}
	k.Layers = Layers{From: 0, To: 31}
	b, _ = k.AppendKey(nil)
	if !strings.Contains(string(b), "/L0-31") {
		t.Fatalf("%q", b)
	}
	k.Layers = AllLayers
	id, err := k.ID()
	if err != nil || id.Namespace != NamespaceKV || !strings.HasSuffix(string(id.Key), "/all#lora:x") {
		t.Fatalf("%v %v", id, err)
	}
	if _, err := (KVKey{Model: "m", Layers: Layers{From: 3, To: 1}}).ID(); !errors.Is(err, ErrBadKeyPart) {
		t.Fatal(err)
	}
	if _, err := (KVKey{}).ID(); !errors.Is(err, ErrBadKeyPart) {
		t.Fatal(err)
	}
	p, err := ParamKey{Model: "m", Name: "layers.0.attn.q_proj.weight", Chunk: 2}.ID()
	if err != nil || string(p.Key) != "m/layers.0.attn.q_proj.weight#2" || p.Namespace != NamespaceParam {
		t.Fatalf("%v %v", p, err)
	}
	if _, err := (ParamKey{Model: "m", Name: "w", Chunk: -1}).ID(); !errors.Is(err, ErrBadKeyPart) {
		t.Fatal(err)
	}
}

func TestMetaExpired(t *testing.T) {
	m := Meta{Created: 100, TTL: 50}
	if m.Expired(149) || !m.Expired(150) {
		t.Fatal("TTL boundary")
	}
	if (&Meta{Created: 1}).Expired(1 << 62) {
		t.Fatal("no TTL never expires")
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
