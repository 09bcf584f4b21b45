package messages

import (
	"errors"
	"fmt"
	"time"

	"github.com/stratacache/stratacache/artifact"
)

// MaxShapeDims bounds the rank of a tensor shape accepted from a message.
// KV chunks are rank 5 ([layers, 2, tokens, heads, head_dim]); the bound only
// keeps hostile input from carrying megabytes of "shape".
const MaxShapeDims = 16

var (
	// ErrNilID is returned when a message carries no ArtifactID where one is
	// required.
	ErrNilID = errors.New("messages: missing artifact id")
	// ErrHashMismatch is returned when an ArtifactID's hash is not the hash of
	// its namespace and key.
	ErrHashMismatch = errors.New("messages: artifact id hash does not match its key")
	// ErrNilMeta is returned when a message carries no Metadata where it is
	// required.
	ErrNilMeta = errors.New("messages: missing metadata")
	// ErrBadMeta is returned for metadata no artifact can have: a negative
	// length, pin count, TTL or dimension, an unknown dtype, too many
	// dimensions.
	ErrBadMeta = errors.New("messages: bad metadata")
)

// IDToProto converts an artifact id to its message. The message's key aliases
// id.Key: neither may be modified while the other is in use.
func IDToProto(id artifact.ID) *ArtifactID {
	return &ArtifactID{
		Hash:      id.Hash,
		Namespace: Namespace(id.Namespace),
		Key:       id.Key,
	}
}

// IDFromProto converts a message from outside the process (or any untrusted
// one) to an artifact id and validates it: a known namespace, a key of
// 1..artifact.MaxKeyLen bytes, and a hash equal to artifact.NewID's for that
// namespace and key. A hash of 0 means "not sent" and is computed, so clients
// may leave it out. The id's Key aliases p.Key.
//
// The errors wrap ErrNilID, ErrHashMismatch, or artifact's ErrUnknownNamespace,
// ErrEmptyKey and ErrKeyTooLong.
func IDFromProto(p *ArtifactID) (artifact.ID, error) {
	if p == nil {
		return artifact.ID{}, ErrNilID
	}
	ns, err := namespaceFromProto(p.GetNamespace())
	if err != nil {
		return artifact.ID{}, err
	}
	id, err := artifact.NewID(ns, p.GetKey())
	if err != nil {
		return artifact.ID{}, fmt.Errorf("messages: artifact id: %w", err)
	}
	if p.GetHash() != 0 && p.GetHash() != id.Hash {
		return artifact.ID{}, fmt.Errorf("%w: sent %016x, key hashes to %016x", ErrHashMismatch, p.GetHash(), id.Hash)
	}
	return id, nil
}

// IDFromProtoTrusted is IDFromProto for messages built in this process by
// IDToProto: it validates namespace and key but keeps the hash as sent
// without recomputing it, so that ids with a forced hash (artifact.WithHash,
// used by collision tests) survive a trip through an actor message. Never use
// it on bytes that came from a socket.
func IDFromProtoTrusted(p *ArtifactID) (artifact.ID, error) {
	if p == nil {
		return artifact.ID{}, ErrNilID
	}
	ns, err := namespaceFromProto(p.GetNamespace())
	if err != nil {
		return artifact.ID{}, err
	}
	id := artifact.WithHash(ns, p.GetKey(), p.GetHash())
	if err := id.Validate(); err != nil {
		return artifact.ID{}, fmt.Errorf("messages: artifact id: %w", err)
	}
	return id, nil
}

// namespaceFromProto maps the enum to artifact's type, rejecting values that
// do not fit (an unknown enum number survives proto3 decoding as is).
func namespaceFromProto(n Namespace) (artifact.Namespace, error) {
	if n < Namespace_NAMESPACE_KV || n > Namespace_NAMESPACE_BLOB {
		return artifact.NamespaceInvalid, fmt.Errorf("messages: artifact id: %w: %d", artifact.ErrUnknownNamespace, int32(n))
	}
	return artifact.Namespace(n), nil
}

// MetaToProto converts artifact metadata to its message. The message's shape
// aliases m.Shape.
func MetaToProto(m artifact.Meta) *Metadata {
	p := new(Metadata)
	MetaInto(p, m)
	return p
}

// MetaInto is MetaToProto into a message the caller owns (a reused one on a
// hot path): it sets every field MetaToProto sets. p.Shape aliases m.Shape.
func MetaInto(p *Metadata, m artifact.Meta) {
	p.Length = m.Length
	p.Checksum = m.Checksum
	p.Dtype = DType(m.DType)
	p.Shape = m.Shape
	p.CreatedUnixNano = m.Created
	p.AccessedUnixNano = m.Accessed
	p.Pins = m.Pins
	p.TtlNanos = int64(m.TTL)
	p.Epoch = m.Epoch
}

// MetaFromProto converts a metadata message to artifact metadata and validates
// it (see ErrBadMeta). The shape is copied, so the result owns all its
// memory. The errors wrap ErrNilMeta or ErrBadMeta.
func MetaFromProto(p *Metadata) (artifact.Meta, error) {
	if p == nil {
		return artifact.Meta{}, ErrNilMeta
	}
	switch {
	case p.GetLength() < 0:
		return artifact.Meta{}, fmt.Errorf("%w: length %d", ErrBadMeta, p.GetLength())
	case p.GetPins() < 0:
		return artifact.Meta{}, fmt.Errorf("%w: pins %d", ErrBadMeta, p.GetPins())
	case p.GetTtlNanos() < 0:
		return artifact.Meta{}, fmt.Errorf("%w: ttl %d ns", ErrBadMeta, p.GetTtlNanos())
	case p.GetDtype() < DType_DTYPE_NONE || p.GetDtype() > DType_DTYPE_I32:
		return artifact.Meta{}, fmt.Errorf("%w: unknown dtype %d", ErrBadMeta, int32(p.GetDtype()))
	case len(p.GetShape()) > MaxShapeDims:
		return artifact.Meta{}, fmt.Errorf("%w: %d dimensions > %d", ErrBadMeta, len(p.GetShape()), MaxShapeDims)
	}
	var shape []int64
	if len(p.GetShape()) > 0 {
		shape = make([]int64, len(p.GetShape()))
		for i, d := range p.GetShape() {
			if d < 0 {
				return artifact.Meta{}, fmt.Errorf("%w: dimension %d is %d", ErrBadMeta, i, d)
			}
			shape[i] = d
		}
	}
	return artifact.Meta{
		Length:   p.GetLength(),
		Checksum: p.GetChecksum(),
		DType:    artifact.DType(p.GetDtype()),
		Shape:    shape,
		Created:  p.GetCreatedUnixNano(),
		Accessed: p.GetAccessedUnixNano(),
		Pins:     p.GetPins(),
		TTL:      time.Duration(p.GetTtlNanos()),
		Epoch:    p.GetEpoch(),
	}, nil
}
