package artifact

import (
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
