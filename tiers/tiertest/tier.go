package tiertest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

type entry struct {
	id       artifact.ID
	payload  []byte // never modified after Put: views of it stay valid
	meta     artifact.Meta
	pins     int32
	seq      uint64
	evicting chan struct{} // non-nil while handed to the evict hook
}

// Tier is a fake tier: safe for concurrent use, FIFO eviction. It keeps the
// tiers.Tier contract: versioned puts are conditional, victims stay readable
// while the evict hook runs and a Put or Delete of their key waits for it.
type Tier struct {
	name     string
	kind     tiers.Kind
	capacity int64

	mu        sync.Mutex
	entries   map[uint64]*entry
	order     []uint64 // insertion order, stale entries skipped
	seqs      []uint64
	seq       uint64
	used      int64
	closed    bool
	evict     tiers.EvictFunc
	stats     tiers.Stats
	failed    error
	fenced    bool
	putFault  atomic.Pointer[func(id artifact.ID) error]
	viewFault atomic.Pointer[func(id artifact.ID)]
	readHook  atomic.Pointer[func(id artifact.ID)]
	puts      atomic.Int64
}

// New returns a fake memory-kind tier with the given byte budget.
func New(name string, capacityBytes int64) *Tier {
	return &Tier{name: name, kind: tiers.KindMemory, capacity: capacityBytes, entries: map[uint64]*entry{}}
}

// WithKind sets the kind the fake reports.
func (t *Tier) WithKind(k tiers.Kind) *Tier { t.kind = k; return t }

func (t *Tier) Name() string     { return t.name }
func (t *Tier) Kind() tiers.Kind { return t.kind }
func (t *Tier) PutCount() int64  { return t.puts.Load() }
func (t *Tier) SetEvictFunc(f tiers.EvictFunc) {
	t.mu.Lock()
	t.evict = f
	t.mu.Unlock()
}

func (t *Tier) lookup(id artifact.ID) (*entry, error) {
	if t.closed {
		return nil, tiers.ErrClosed
	}
	if t.failed != nil {
		return nil, fmt.Errorf("%w: %w", tiers.ErrNotFound, tiers.ErrFailed)
	}
	e, ok := t.entries[id.Hash]
	if !ok {
		t.stats.Misses++
		return nil, tiers.ErrNotFound
	}
	if !e.id.Equal(id) {
		t.stats.Collisions++
		return nil, fmt.Errorf("%w: %s", tiers.ErrCollision, id)
	}
	if e.meta.Expired(time.Now().UnixNano()) && e.evicting == nil {
		t.removeLocked(e)
		t.stats.Misses++
		return nil, tiers.ErrNotFound
	}
	t.stats.Hits++
	return e, nil
}

func (t *Tier) removeLocked(e *entry) {
	if t.entries[e.id.Hash] == e {
		delete(t.entries, e.id.Hash)
		t.used -= int64(len(e.payload))
	}
}

// wait waits for an eviction in progress (mu released meanwhile).
func (t *Tier) wait(ctx context.Context, ch chan struct{}) error {
	t.mu.Unlock()
	defer t.mu.Lock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Put stores a private copy of payload, evicting oldest-first.
func (t *Tier) Put(ctx context.Context, id artifact.ID, payload []byte, opts tiers.PutOptions) error {
	t.puts.Add(1)
	if err := id.Validate(); err != nil {
		return err
	}
	if f := t.putFault.Load(); f != nil {
		if err := (*f)(id); err != nil {
			return err
		}
	}
	size := int64(len(payload))
	if size > t.capacity {
		return fmt.Errorf("%w: %d > capacity %d", tiers.ErrTooLarge, size, t.capacity)
	}
	cp := append([]byte(nil), payload...)
	meta := opts.Meta
	meta.Length = size
	meta.Checksum = artifact.Checksum(cp)
	now := time.Now().UnixNano()
	meta.Created, meta.Accessed = now, now
	v := meta.Version

	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if t.closed {
			return tiers.ErrClosed
		}
		if t.failed != nil {
			return fmt.Errorf("%w: %w", tiers.ErrFailed, t.failed)
		}
		old, had := t.entries[id.Hash]
		if had && !old.id.Equal(id) {
			t.stats.Collisions++
			return fmt.Errorf("%w: %s", tiers.ErrCollision, id)
		}
		if had && old.evicting != nil {
			if err := t.wait(ctx, old.evicting); err != nil {
				return err
			}
			continue
		}
		if v != 0 && ((had && old.meta.Version >= v) || (opts.Guard != nil && !opts.Guard.Admit(id, v))) {
			t.stats.Stale++
			return tiers.ErrStale
		}
		free := t.capacity - t.used
		if had {
			free += int64(len(old.payload))
		}
		if free < size {
			victim := t.victimLocked(id.Hash)
			if victim == nil {
				return fmt.Errorf("%w: %d bytes needed, everything else pinned or leaving", tiers.ErrNoSpace, size)
			}
			t.evictLocked(ctx, victim)
			continue
		}
		if had {
			t.removeLocked(old)
		}
		t.seq++
		e := &entry{id: id.Clone(), payload: cp, meta: meta, seq: t.seq}
		if had {
			e.pins = old.pins
		}
		if opts.Pin {
			e.pins++
		}
		t.entries[id.Hash] = e
		t.order = append(t.order, id.Hash)
		t.seqs = append(t.seqs, t.seq)
		t.used += size
		t.stats.Puts++
		return nil
	}
}

// evictLocked hands victim to the hook with mu released, the victim still
// indexed, then drops it.
func (t *Tier) evictLocked(ctx context.Context, victim *entry) {
	t.stats.Evictions++
	t.stats.EvictedBytes += uint64(len(victim.payload))
	f := t.evict
	if f == nil {
		t.removeLocked(victim)
		return
	}
	victim.evicting = make(chan struct{})
	t.mu.Unlock()
	f(ctx, tiers.Evicted{ID: victim.id, View: &view{b: victim.payload, meta: victim.meta}})
	t.mu.Lock()
	t.removeLocked(victim)
	close(victim.evicting)
}

// victimLocked returns the oldest unpinned entry other than skip that is
// not already leaving.
func (t *Tier) victimLocked(skip uint64) *entry {
	for i := 0; i < len(t.order); i++ {
		h, s := t.order[i], t.seqs[i]
		e, ok := t.entries[h]
		if !ok || e.seq != s {
			t.order = append(t.order[:i], t.order[i+1:]...)
			t.seqs = append(t.seqs[:i], t.seqs[i+1:]...)
			i--
			continue
		}
		if e.pins > 0 || h == skip || e.evicting != nil {
			continue
		}
		t.order = append(t.order[:i], t.order[i+1:]...)
		t.seqs = append(t.seqs[:i], t.seqs[i+1:]...)
		return e
	}
	return nil
}

func (t *Tier) Get(dst []byte, id artifact.ID) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.lookup(id)
	if err != nil {
		return nil, err
	}
	if len(dst) < len(e.payload) {
		return nil, tiers.ErrShortBuffer
	}
	n := copy(dst, e.payload)
	return dst[:n], nil
}

type view struct {
	b        []byte
	meta     artifact.Meta
	released atomic.Bool
}

func (v *view) Bytes() []byte       { return v.b }
func (v *view) Meta() artifact.Meta { return v.meta }
func (v *view) Release() {
	if v.released.Swap(true) {
		panic("tiertest: view released twice")
	}
}

func (t *Tier) View(id artifact.ID) (tiers.View, error) {
	t.beforeRead(id)
	t.mu.Lock()
	e, err := t.lookup(id)
	if err != nil {
		t.mu.Unlock()
		return nil, err
	}
	v := &view{b: e.payload, meta: e.meta}
	t.mu.Unlock()
	if f := t.viewFault.Load(); f != nil {
		(*f)(id)
	}
	return v, nil
}

func (t *Tier) Stat(id artifact.ID) (artifact.Meta, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.lookup(id)
	if err != nil {
		return artifact.Meta{}, err
	}
	return e.meta, nil
}

func (t *Tier) Contains(id artifact.ID) bool {
	t.beforeRead(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[id.Hash]
	return ok && !t.closed && t.failed == nil && e.id.Equal(id)
}

// Version reports the version of id the fake holds.
func (t *Tier) Version(id artifact.ID) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[id.Hash]
	if !ok || t.closed || t.failed != nil || !e.id.Equal(id) {
		return 0, false
	}
	return e.meta.Version, true
}

// Delete removes id (only a version older than opts.Below when set),
// waiting for an eviction of id in progress.
func (t *Tier) Delete(ctx context.Context, id artifact.ID, opts tiers.DeleteOptions) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if t.closed {
			return false, tiers.ErrClosed
		}
		if t.failed != nil {
			return false, fmt.Errorf("%w: %w", tiers.ErrFailed, t.failed)
		}
		e, ok := t.entries[id.Hash]
		if !ok || !e.id.Equal(id) || (opts.Below != 0 && e.meta.Version >= opts.Below) {
			return false, nil
		}
		if e.evicting != nil {
			if err := t.wait(ctx, e.evicting); err != nil {
				return false, err
			}
			continue
		}
		t.removeLocked(e)
		t.stats.Deletes++
		return true, nil
	}
}

func (t *Tier) pin(id artifact.ID, d int32) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.lookup(id)
	if err != nil {
		return err
	}
	if e.pins+d >= 0 {
		e.pins += d
	}
	return nil
}

func (t *Tier) Pin(id artifact.ID) error   { return t.pin(id, 1) }
func (t *Tier) Unpin(id artifact.ID) error { return t.pin(id, -1) }

func (t *Tier) Stats(s *tiers.Stats) {
	t.mu.Lock()
	defer t.mu.Unlock()
	*s = t.stats
	s.Name, s.Kind = t.name, t.kind
	s.CapacityBytes = t.capacity
	s.UsedBytes = t.used
	s.Artifacts = int64(len(t.entries))
}

// Close refuses further use; safe to call twice. The contents stay
// inspectable through Holds, so tests can check what a closing engine left.
func (t *Tier) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	return nil
}

// Holds reports whether the tier holds id with exactly payload, also after
// Close.
func (t *Tier) Holds(id artifact.ID, payload []byte) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[id.Hash]
	return ok && e.id.Equal(id) && string(e.payload) == string(payload)
}

var _ tiers.Tier = (*Tier)(nil)
var _ tiers.Failer = (*Tier)(nil)

// SetFailed fails the fake as a persistent tier fails after a failed sync:
// it reports err (tiers.Failer), fenced or not, refuses puts and deletes
// with tiers.ErrFailed and misses every read.
func (t *Tier) SetFailed(err error, fenced bool) {
	t.mu.Lock()
	t.failed, t.fenced = err, fenced
	t.mu.Unlock()
}

// Failed implements tiers.Failer.
func (t *Tier) Failed() (error, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed, t.fenced
}

// SetPutFault installs f, called at the start of every Put; a non-nil
// result fails the Put (fault injection). f may block: a test holds a put
// there to interleave other operations with it. nil removes it.
func (t *Tier) SetPutFault(f func(id artifact.ID) error) {
	if f == nil {
		t.putFault.Store(nil)
		return
	}
	t.putFault.Store(&f)
}

// SetReadHook installs f, called by View and Contains before they look id
// up (no lock held): a test runs other operations between a reader's visits
// to two tiers. nil removes it.
func (t *Tier) SetReadHook(f func(id artifact.ID)) {
	if f == nil {
		t.readHook.Store(nil)
		return
	}
	t.readHook.Store(&f)
}

func (t *Tier) beforeRead(id artifact.ID) {
	if f := t.readHook.Load(); f != nil {
		(*f)(id)
	}
}

// SetViewFault installs f, called by View after it took its view and before
// it returns it (no lock held): a test holds a reader there. nil removes it.
func (t *Tier) SetViewFault(f func(id artifact.ID)) {
	if f == nil {
		t.viewFault.Store(nil)
		return
	}
	t.viewFault.Store(&f)
}
