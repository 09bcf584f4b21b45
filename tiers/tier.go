package tiers

import (
	"errors"
	"time"

	"github.com/stratacache/stratacache/artifact"
)

// Sentinel errors of every tier. Tiers wrap them with %w and context; callers
// test with errors.Is.
var (
	// ErrNotFound: the tier does not hold the artifact.
	ErrNotFound = errors.New("tiers: artifact not found")
	// ErrCollision: the tier holds a different key with the same 64-bit id.
	// The other artifact is never served in its place.
	ErrCollision = errors.New("tiers: id collision with a different key")
	// ErrTooLarge: the payload exceeds the tier's capacity or per-artifact limit.
	ErrTooLarge = errors.New("tiers: payload too large")
	// ErrNoSpace: nothing more can be evicted (everything is pinned or held
	// by readers) and the payload does not fit.
	ErrNoSpace = errors.New("tiers: no space")
	// ErrClosed: the tier has been closed.
	ErrClosed = errors.New("tiers: closed")
	// ErrShortBuffer: the caller's buffer is smaller than the payload.
	ErrShortBuffer = errors.New("tiers: destination buffer too small")
	// ErrCorrupt: the stored bytes fail their checksum; served as a miss.
	ErrCorrupt = errors.New("tiers: checksum mismatch")
)

// Kind names the medium of a tier.
type Kind uint8

// The media StrataCache knows.
const (
	KindMemory Kind = iota + 1
	KindCXL
	KindDisk
	KindRemote
)

func (k Kind) String() string {
	switch k {
	case KindMemory:
		return "memory"
	case KindCXL:
		return "cxl"
	case KindDisk:
		return "disk"
	case KindRemote:
		return "remote"
	}
	return "unknown"
}

// View is a zero-copy, read-only window on a stored payload. The bytes stay
// valid and unchanged until Release, even if the artifact is replaced,
// deleted or evicted meanwhile: the tier reuses the memory only after the last
// view is released. Release must be called exactly once; Bytes must not be
// used after it.
type View interface {
	Bytes() []byte
	Meta() artifact.Meta
	Release()
}

// Evicted describes an artifact a tier removed to make room. View holds the
// payload alive for the handler; the handler must Release it.
type Evicted struct {
	ID   artifact.ID
	View View
}

// EvictFunc is called by a tier for every artifact it evicts, on the
// goroutine of the Put that caused the eviction, after the artifact has left
// the tier's index and with no tier lock held. It may block (to demote the
// payload to a lower tier: that is backpressure on the writer) and must call
// ev.View.Release exactly once.
type EvictFunc func(ev Evicted)

// PutOptions are the optional knobs of Put.
type PutOptions struct {
	// Meta carries dtype/shape/TTL/epoch; Length and Checksum are computed by
	// the tier from the payload.
	Meta artifact.Meta
	// Pin keeps the artifact from eviction until Unpin.
	Pin bool
}

// Tier is one storage medium with an exact byte budget. Every method is safe
// for concurrent use. Put copies the payload once; Get copies it once into
// the caller's buffer; View copies nothing.
type Tier interface {
	Name() string
	Kind() Kind
	// Put stores payload under id, replacing an existing artifact of the
	// same key atomically: readers see the old or the new payload, never a
	// mix. It evicts per the tier's policy to stay in budget, calling the
	// tier's EvictFunc for each victim.
	Put(id artifact.ID, payload []byte, opts PutOptions) error
	// Get copies the payload into dst (which must be at least Meta.Length
	// long) and returns dst[:n].
	Get(dst []byte, id artifact.ID) ([]byte, error)
	// View returns a zero-copy view of the payload; see View.
	View(id artifact.ID) (View, error)
	// Stat returns the metadata without touching the payload.
	Stat(id artifact.ID) (artifact.Meta, error)
	// Contains reports whether the tier holds id (full key compared).
	Contains(id artifact.ID) bool
	// Delete removes id; it reports whether it was present.
	Delete(id artifact.ID) bool
	// Pin and Unpin adjust the artifact's pin count (pinned: never evicted).
	Pin(id artifact.ID) error
	Unpin(id artifact.ID) error
	// Stats fills s with a snapshot of the tier's counters.
	Stats(s *Stats)
	// SetEvictFunc installs the eviction hook (nil: victims are dropped).
	// Call it before the tier is shared.
	SetEvictFunc(f EvictFunc)
	// Close releases the medium; later calls return ErrClosed. Safe to call
	// twice.
	Close() error
}

// Stats is a value snapshot of a tier's counters.
type Stats struct {
	Name          string
	Kind          Kind
	CapacityBytes int64 // the budget
	UsedBytes     int64 // bytes allocated to artifacts (incl. rounding)
	PendingBytes  int64 // bytes of removed artifacts still held by views
	Artifacts     int64
	Hits          uint64
	Misses        uint64
	Puts          uint64
	Deletes       uint64
	Evictions     uint64
	EvictedBytes  uint64
	Collisions    uint64
	Corruptions   uint64
}

// FillPutter is an optional interface of tiers that can let the caller
// write a payload straight into the tier's memory (for example io.ReadFull
// from a socket), saving the copy out of an intermediate buffer. Test for it
// with a type assertion; Tier does not require it.
type FillPutter interface {
	// PutFill reserves n bytes for id, calls fill with exactly those n
	// bytes to write the payload into, then publishes the artifact as Put
	// does (atomic replace, same eviction and errors). fill runs with no
	// tier lock held. If fill returns an error, nothing is stored, the
	// reserved bytes are freed and the error is returned (wrapped). Limits
	// (ErrTooLarge, a collision) are checked before fill is called; fill
	// is not called when PutFill fails early. fill must not keep dst.
	PutFill(id artifact.ID, n int64, opts PutOptions, fill func(dst []byte) error) error
}

// TTLSetter is an optional interface of tiers that can change an
// artifact's expiry in place, without storing its payload again (Redis's
// EXPIRE and PERSIST). Test for it with a type assertion.
type TTLSetter interface {
	// SetTTL makes id expire remaining from now (0: never). It reports
	// whether the tier held id.
	SetTTL(id artifact.ID, remaining time.Duration) (bool, error)
}
