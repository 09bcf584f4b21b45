package tiers

import (
	"context"
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
	// ErrStale: a versioned Put was not applied because the tier already
	// holds the same or a newer version of the artifact, or its Guard
	// refused it (a newer store or a delete is under way). Nothing changed.
	ErrStale = errors.New("tiers: superseded by a newer version")
	// ErrFailed: the tier hit a write or sync error it cannot recover from
	// (a failed fsync or msync loses the writes it covered, and retrying
	// does not bring them back). It refuses every further operation until
	// it is reopened (and a fenced medium reset); reads miss.
	ErrFailed = errors.New("tiers: failed after an unrecoverable write or sync error")
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
// goroutine of the Put that caused the eviction (ctx is that Put's), with no
// tier lock held. The victim has left the tier's eviction policy but stays
// readable in the tier until EvictFunc returns: a reader never finds it in
// neither this tier nor the one it is being demoted to. While it runs, a Put
// or Delete of the same key waits for it to return (bounded by their own
// context), so the demoted copy is still the artifact's current version when
// it lands below. It may block (to demote the payload to a lower tier: that
// is backpressure on the writer), must return within a bounded time (honour
// ctx) and must call ev.View.Release exactly once.
type EvictFunc func(ctx context.Context, ev Evicted)

// Guard is consulted by a tier under its index lock, right before a
// versioned Put is published: Admit reports whether the copy of id at
// version may still be applied. It lets the owner of a chain refuse a copy
// that a newer store or a delete has overtaken, atomically with the put.
// Admit must not block and must not call into the tier.
type Guard interface {
	Admit(id artifact.ID, version uint64) bool
}

// PutOptions are the optional knobs of Put.
type PutOptions struct {
	// Meta carries dtype/shape/TTL/epoch and the version; Length and
	// Checksum are computed by the tier from the payload (persistent tiers
	// may trust a supplied checksum, see their configs).
	//
	// Meta.Version, when non-zero, makes the Put conditional: it is applied
	// only if the tier holds no version of the key at least as new (and the
	// Guard, if any, admits it); otherwise the Put fails with ErrStale and
	// changes nothing. The check and the publication are one atomic step
	// under the tier's index lock. A zero version replaces whatever is held.
	Meta artifact.Meta
	// Pin keeps the artifact from eviction until Unpin.
	Pin bool
	// Guard, when set, must admit a versioned Put (see Guard).
	Guard Guard
	// Demote says the put is the demotion of a victim of the tier above:
	// the artifact is leaving the tiers above (it is still readable there
	// until the demotion returns, see EvictFunc). A tier that spills only
	// what leaves the node (the remote tier) tells demotions from stores
	// passing by with it.
	Demote bool
}

// DeleteOptions are the optional knobs of Delete.
type DeleteOptions struct {
	// Below, when non-zero, deletes only a copy older than this version:
	// a newer copy stays (a delete at version Below that a newer store
	// overtook, or a store's invalidation of superseded copies).
	Below uint64
}

// Tier is one storage medium with an exact byte budget. Every method is safe
// for concurrent use. Put copies the payload once; Get copies it once into
// the caller's buffer; View copies nothing.
//
// Versions: every artifact a tier holds carries the version it was put with
// (Meta.Version; 0 for unversioned puts). Persistent tiers keep it across a
// reopen.
type Tier interface {
	Name() string
	Kind() Kind
	// Put stores payload under id, replacing an existing artifact of the
	// same key atomically: readers see the old or the new payload, never a
	// mix. It evicts per the tier's policy to stay in budget, calling the
	// tier's EvictFunc for each victim. A versioned Put is conditional (see
	// PutOptions.Meta). Waits (for space, for an eviction of the same key)
	// end with ctx.
	Put(ctx context.Context, id artifact.ID, payload []byte, opts PutOptions) error
	// Get copies the payload into dst (which must be at least Meta.Length
	// long) and returns dst[:n].
	Get(dst []byte, id artifact.ID) ([]byte, error)
	// View returns a zero-copy view of the payload; see View.
	View(id artifact.ID) (View, error)
	// Stat returns the metadata without touching the payload.
	Stat(id artifact.ID) (artifact.Meta, error)
	// Contains reports whether the tier holds id (full key compared).
	Contains(id artifact.ID) bool
	// Version reports the version of id the tier holds (full key compared)
	// without touching the payload or the policy; ok is false on a miss.
	// A tier that cannot tell (the remote tier) reports 0 for a hit.
	Version(id artifact.ID) (version uint64, ok bool)
	// Delete removes id (only a copy older than opts.Below when set); it
	// reports whether it removed it. It waits (with ctx) for an eviction of
	// the same key in progress. A persistent tier whose puts are durable
	// before they return makes the delete durable before it returns too.
	Delete(ctx context.Context, id artifact.ID, opts DeleteOptions) (bool, error)
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

// HighWaterMarker is implemented by tiers that persist the highest version
// they were ever given (across deletes and restarts): the chain starts its
// version counter above it, so versions never go backwards.
type HighWaterMarker interface {
	VersionHighWater() uint64
}

// Failer is implemented by tiers that can fail for good (ErrFailed): Failed
// returns the error that failed the tier (nil while it works), and whether
// the medium was fenced (marked failed durably, so that a reopen refuses it
// until it is reset): a fenced tier can never serve what it holds again.
type Failer interface {
	Failed() (err error, fenced bool)
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
	// Stale counts versioned Puts refused because the tier held the same or
	// a newer version, or the Guard refused them.
	Stale uint64
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
	PutFill(ctx context.Context, id artifact.ID, n int64, opts PutOptions, fill func(dst []byte) error) error
}

// TTLSetter is an optional interface of tiers that can change an
// artifact's expiry in place, without storing its payload again (Redis's
// EXPIRE and PERSIST). Test for it with a type assertion.
type TTLSetter interface {
	// SetTTL makes id expire remaining from now (0: never). It reports
	// whether the tier held id.
	SetTTL(id artifact.ID, remaining time.Duration) (bool, error)
}
