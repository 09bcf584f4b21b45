package artifact

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// Namespace separates the kinds of artifacts so that equal key bytes in two
// namespaces never name the same artifact.
type Namespace uint8

const (
	// NamespaceInvalid is the zero value; it is never a valid namespace.
	NamespaceInvalid Namespace = 0
	// NamespaceKV holds prefix KV-cache chunks.
	NamespaceKV Namespace = 1
	// NamespaceParam holds model-parameter chunks.
	NamespaceParam Namespace = 2
	// NamespaceBlob holds opaque values (the RESP port's keys).
	NamespaceBlob Namespace = 3
)

// MaxKeyLen bounds the full key kept beside every artifact.
const MaxKeyLen = 4096

var (
	// ErrEmptyKey is returned for an artifact key of zero length.
	ErrEmptyKey = errors.New("artifact: empty key")
	// ErrKeyTooLong is returned for a key longer than MaxKeyLen.
	ErrKeyTooLong = errors.New("artifact: key too long")
	// ErrUnknownNamespace is returned for a namespace other than kv, param, blob.
	ErrUnknownNamespace = errors.New("artifact: unknown namespace")
)

// String returns the namespace's name as used in config, keys and logs.
func (n Namespace) String() string {
	switch n {
	case NamespaceKV:
		return "kv"
	case NamespaceParam:
		return "param"
	case NamespaceBlob:
		return "blob"
	}
	return fmt.Sprintf("namespace(%d)", uint8(n))
}

// Valid reports whether n is one of kv, param, blob.
func (n Namespace) Valid() bool { return n >= NamespaceKV && n <= NamespaceBlob }

// ParseNamespace maps "kv", "param" or "blob" to its Namespace.
func ParseNamespace(s string) (Namespace, error) {
	switch s {
	case "kv":
		return NamespaceKV, nil
	case "param":
		return NamespaceParam, nil
	case "blob":
		return NamespaceBlob, nil
	}
	return NamespaceInvalid, fmt.Errorf("%w: %q (want kv, param or blob)", ErrUnknownNamespace, s)
}

// ID names one artifact. Hash is the index key; Namespace and Key are the
// full identity and are compared on every lookup so that two keys with the
// same Hash are told apart. The zero ID is invalid.
//
// Key is not copied by NewID: the caller must not modify it while the ID is in
// use. Tiers copy the key when they store an artifact.
type ID struct {
	Hash      uint64
	Namespace Namespace
	Key       []byte
}

// hashSeed keeps the namespace in the hash without allocating: the namespace
// byte seeds the digest before the key bytes.
func hashOf(ns Namespace, key []byte) uint64 {
	var d xxhash.Digest
	d.Reset()
	var b [1]byte
	b[0] = byte(ns)
	_, _ = d.Write(b[:])
	_, _ = d.Write(key)
	return d.Sum64()
}

// NewID validates namespace and key and computes the 64-bit id.
func NewID(ns Namespace, key []byte) (ID, error) {
	if !ns.Valid() {
		return ID{}, fmt.Errorf("%w: %d", ErrUnknownNamespace, uint8(ns))
	}
	if len(key) == 0 {
		return ID{}, ErrEmptyKey
	}
	if len(key) > MaxKeyLen {
		return ID{}, fmt.Errorf("%w: %d bytes > %d", ErrKeyTooLong, len(key), MaxKeyLen)
	}
	return ID{Hash: hashOf(ns, key), Namespace: ns, Key: key}, nil
}

// MustID is NewID for constants in tests and examples; it panics on bad input
// and must not be used on input from outside the program.
func MustID(ns Namespace, key string) ID {
	id, err := NewID(ns, []byte(key))
	if err != nil {
		panic(err)
	}
	return id
}

// WithHash returns an ID with a forced hash. It exists so tests can build two
// different keys that collide; production code always uses NewID.
func WithHash(ns Namespace, key []byte, hash uint64) ID {
	return ID{Hash: hash, Namespace: ns, Key: key}
}

// Validate reports whether id is usable: a known namespace, a non-empty key
// of bounded length.
func (id ID) Validate() error {
	if !id.Namespace.Valid() {
		return fmt.Errorf("%w: %d", ErrUnknownNamespace, uint8(id.Namespace))
	}
	if len(id.Key) == 0 {
		return ErrEmptyKey
	}
	if len(id.Key) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes > %d", ErrKeyTooLong, len(id.Key), MaxKeyLen)
	}
	return nil
}

// SameKey reports whether id names the same artifact as (ns, key): the full
// identity, not just the hash.
func (id ID) SameKey(ns Namespace, key []byte) bool {
	return id.Namespace == ns && bytes.Equal(id.Key, key)
}

// Equal reports whether two ids name the same artifact.
func (id ID) Equal(o ID) bool {
	return id.Hash == o.Hash && id.Namespace == o.Namespace && bytes.Equal(id.Key, o.Key)
}

// Clone returns an ID whose Key is a private copy.
func (id ID) Clone() ID {
	id.Key = append([]byte(nil), id.Key...)
	return id
}

// String is for logs: namespace, hash and a bounded, quoted key prefix.
func (id ID) String() string {
	k := id.Key
	if len(k) > 48 {
		k = k[:48]
	}
	return fmt.Sprintf("%s:%016x:%q", id.Namespace, id.Hash, k)
}
