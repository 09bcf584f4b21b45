package actors

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// dirtyEntry is one artifact stored above and not yet flushed below.
type dirtyEntry struct {
	id      artifact.ID
	size    int64
	version uint64 // the newest version marked dirty
	seq     uint64
	since   int64 // unix nanos when it became dirty
}

// linkState is the plain logic of the link between tiers[index] and
// tiers[index+1]. The dirty set is touched only by the LinkActor's
// goroutine; the byte bound (reserve/release) is shared with writers.
type linkState struct {
	index  int
	cfg    LinkConfig
	eng    *Engine
	pid    *actor.PID
	health actorHealth

	// Owned by the actor goroutine.
	dirty   map[uint64]*dirtyEntry
	pending int64    // bytes of the dirty entries (not counting reservations)
	order   []uint64 // hashes, oldest first; stale seqs skipped lazily
	seqs    []uint64
	seq     uint64

	// The dirty-byte bound: reserved + dirty bytes, guarded by mu, and a
	// channel closed whenever the figure drops so waiting writers re-check.
	mu         sync.Mutex
	dirtyBytes int64
	changed    chan struct{}

	dirtyCount        atomic.Int64
	oldestDirty       atomic.Int64
	flushed           atomic.Uint64
	flushedBytes      atomic.Uint64
	flushBatches      atomic.Uint64
	flushFailures     atomic.Uint64
	superseded        atomic.Uint64
	backpressureWaits atomic.Uint64
	demotions         atomic.Uint64
	demoteFailures    atomic.Uint64
	restarts          atomic.Uint64
}

func newLinkState(index int, cfg LinkConfig, eng *Engine) *linkState {
	name := "link " + eng.tiers[index].tier.Name() + "->" + eng.tiers[index+1].tier.Name()
	return &linkState{
		index:   index,
		cfg:     cfg,
		eng:     eng,
		health:  newActorHealth(name),
		dirty:   make(map[uint64]*dirtyEntry),
		changed: make(chan struct{}),
	}
}

func (l *linkState) writeBack() bool { return l.cfg.Policy == WriteBack }

// reserve books size dirty bytes before a write-back store, waiting (with
// ctx) while the bound is reached. An artifact larger than the bound passes
// when nothing else is dirty, so no size can wait forever.
func (l *linkState) reserve(ctx context.Context, size int64) error {
	for {
		if l.health.isDown.Load() {
			return l.health.downErr()
		}
		l.mu.Lock()
		if l.dirtyBytes == 0 || l.dirtyBytes+size <= l.cfg.MaxDirtyBytes {
			l.dirtyBytes += size
			l.mu.Unlock()
			return nil
		}
		ch := l.changed
		l.mu.Unlock()
		l.backpressureWaits.Add(1)
		l.eng.root.Send(l.pid, &flushMsg{})
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.health.down:
			return l.health.downErr()
		case <-l.eng.stopped:
			return ErrClosed
		}
	}
}

// release returns size bytes to the bound and wakes waiting writers.
func (l *linkState) release(size int64) {
	if size == 0 {
		return
	}
	l.mu.Lock()
	l.dirtyBytes -= size
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *linkState) boundBytes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dirtyBytes
}

// markDirty tells the link actor that version v of id (size bytes, already
// reserved) is in the upper tier and not yet below. When the actor is down
// the reservation is returned and the store fails with ErrDegraded: nothing
// would ever flush it.
func (l *linkState) markDirty(id artifact.ID, size int64, v uint64) error {
	if l.health.isDown.Load() {
		l.release(size)
		return l.health.downErr()
	}
	l.eng.root.Send(l.pid, &markDirtyMsg{ID: id.Clone(), Size: size, Version: v})
	return nil
}

// onMarkDirty records a write-back store whose bytes are already reserved.
// If it panics before the entry is recorded, the reservation is returned.
func (l *linkState) onMarkDirty(m *markDirtyMsg) {
	recorded := false
	defer func() {
		if !recorded {
			l.release(m.Size)
		}
	}()
	l.seq++
	if e, ok := l.dirty[m.ID.Hash]; ok {
		recorded = true
		l.release(e.size) // the older version's reservation
		l.pending += m.Size - e.size
		e.id, e.size, e.seq = m.ID, m.Size, l.seq
		e.version = max(e.version, m.Version)
	} else {
		l.dirty[m.ID.Hash] = &dirtyEntry{id: m.ID, size: m.Size, version: m.Version, seq: l.seq, since: time.Now().UnixNano()}
		recorded = true
		l.dirtyCount.Add(1)
		l.pending += m.Size
	}
	l.order = append(l.order, m.ID.Hash)
	l.seqs = append(l.seqs, l.seq)
	l.noteOldest()
	if l.pending >= l.cfg.FlushBatchBytes {
		l.flush(false)
	}
}

// drop forgets a dirty entry and returns its bytes to the bound.
func (l *linkState) drop(hash uint64) (*dirtyEntry, bool) {
	e, ok := l.dirty[hash]
	if !ok {
		return nil, false
	}
	delete(l.dirty, hash)
	l.dirtyCount.Add(-1)
	l.pending -= e.size
	l.release(e.size)
	return e, true
}

func (l *linkState) onForget(id artifact.ID) {
	if e, ok := l.dirty[id.Hash]; ok && e.id.Equal(id) {
		l.drop(id.Hash)
		l.noteOldest()
	}
}

// flush writes dirty artifacts down, oldest first: one batch of about
// FlushBatchBytes, or all of them. Entries that cannot be written (the lower
// tier has no space right now) stay dirty for the next round; entries that
// can never be written there (too large, collision) are dropped and counted.
// The head of the queue is popped only once handled, so a panic leaves it
// for the next round.
func (l *linkState) flush(all bool) (flushed, left int64) {
	var budget int64 = l.cfg.FlushBatchBytes
	var retry []*dirtyEntry
	l.flushBatches.Add(1)
	for len(l.order) > 0 && (all || budget > 0) {
		h, s := l.order[0], l.seqs[0]
		e, ok := l.dirty[h]
		if !ok || e.seq != s {
			l.order, l.seqs = l.order[1:], l.seqs[1:]
			continue // stale: rewritten later or already gone
		}
		err := l.flushOne(e)
		l.order, l.seqs = l.order[1:], l.seqs[1:]
		switch {
		case err == nil:
			flushed++
			budget -= e.size
			l.drop(h)
		case errors.Is(err, tiers.ErrTooLarge) || errors.Is(err, tiers.ErrCollision) || errors.Is(err, ErrInvalidKey):
			l.flushFailures.Add(1)
			l.eng.log.Warn("write-back flush dropped an artifact", slog.Int("link", l.index), slog.String("id", e.id.String()), slog.Any("err", err))
			l.drop(h)
		case errors.Is(err, errFlushAgain):
			retry = append(retry, e)
		default:
			l.flushFailures.Add(1)
			retry = append(retry, e)
		}
	}
	for _, e := range retry {
		l.order = append(l.order, e.id.Hash)
		l.seqs = append(l.seqs, e.seq)
	}
	if len(l.order) == 0 {
		l.order, l.seqs = l.order[:0:0], l.seqs[:0:0] // let the backing arrays go
	}
	l.noteOldest()
	return flushed, int64(len(l.dirty))
}

// flushOne copies one dirty artifact down: whatever version the upper tier
// holds now (the newest; a later store marks itself dirty again). It is a
// copy that read its source before it writes, so its puts are guarded
// (copyGuard): a store or delete that began meanwhile wins. Nothing to copy
// (the artifact left the upper tier: a delete, or an eviction that demoted
// it) and a copy the lower tier refused as older are not errors. A copy the
// guard refused because a writer of another key of the stripe ran is
// retried, and then left dirty for the next round (errFlushAgain).
func (l *linkState) flushOne(e *dirtyEntry) error {
	upper := l.eng.tiers[l.index].tier
	for attempt := 0; ; attempt++ {
		guard := l.eng.guardCopy(e.id)
		v, err := upper.View(e.id)
		if err != nil {
			return nil
		}
		meta := v.Meta()
		ctx, cancel := context.WithTimeout(context.Background(), l.eng.cfg.RequestTimeout)
		err = l.eng.push(ctx, l.index+1, e.id, v.Bytes(), tiers.PutOptions{Meta: meta, Guard: guard}, false)
		cancel()
		n := len(v.Bytes())
		v.Release()
		switch {
		case err == nil:
			l.flushed.Add(1)
			l.flushedBytes.Add(uint64(n))
			return nil
		case !errors.Is(err, tiers.ErrStale):
			return err
		case guard.valid():
			// The lower tier holds this version or a newer one.
			l.superseded.Add(1)
			return nil
		}
		// The guard refused: a store or delete of the stripe ran. If it
		// was of this key, the upper tier holds a newer version now (its
		// store marks it dirty again) or nothing (a delete, which tells
		// the link to forget it): done.
		if cur, ok := upper.Version(e.id); !ok || cur != meta.Version {
			l.superseded.Add(1)
			return nil
		}
		if attempt == 2 {
			return errFlushAgain
		}
	}
}

// errFlushAgain: a flush refused by the guard because writers of its key
// stripe kept running; the artifact stays dirty for the next round.
var errFlushAgain = errors.New("engine: flush overtaken by writers of its key stripe")

// onEvicted demotes a victim of the upper tier: always when it was dirty,
// and when the lower tier does not hold its version (the lower tier evicted
// its copy, or never had it), so that leaving the top tier never loses an
// artifact the chain could hold. The victim stays readable in the upper
// tier, and a store or delete of its key waits, until this returns: the
// copy is the key's current version when it lands (no guard needed). A
// demotion that fails removes the older copies below, so what the chain
// serves afterwards is nothing rather than something older.
func (l *linkState) onEvicted(m *evictedMsg) error {
	ev := m.Ev
	if !m.state.CompareAndSwap(evictQueued, evictStarted) {
		return nil // the evicting writer gave up on us and released the view
	}
	defer ev.View.Release()
	meta := ev.View.Meta()
	wasDirty := false
	if e, ok := l.dirty[ev.ID.Hash]; ok && e.id.Equal(ev.ID) && e.version <= meta.Version {
		l.drop(ev.ID.Hash)
		l.noteOldest()
		wasDirty = true
	}
	lower := l.eng.tiers[l.index+1].tier
	if !wasDirty {
		if v, ok := lower.Version(ev.ID); ok && v >= meta.Version {
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.eng.cfg.RequestTimeout)
	defer cancel()
	err := l.eng.push(ctx, l.index+1, ev.ID, ev.View.Bytes(), tiers.PutOptions{Meta: meta, Demote: true}, false)
	switch {
	case err == nil:
		l.demotions.Add(1)
		l.eng.tiers[l.index+1].demotions.Add(1)
		return nil
	case errors.Is(err, tiers.ErrStale):
		return nil
	}
	l.demoteFailures.Add(1)
	l.eng.log.Warn("demotion failed", slog.Int("link", l.index), slog.String("id", ev.ID.String()), slog.Bool("dirty", wasDirty), slog.Any("err", err))
	if meta.Version != 0 {
		if ierr := l.eng.invalidate(ctx, ev.ID, meta.Version, l.index+1, len(l.eng.tiers)); ierr != nil {
			l.eng.log.Warn("removing older copies after a failed demotion", slog.String("id", ev.ID.String()), slog.Any("err", ierr))
		}
	}
	return err
}

// noteOldest publishes when the longest-waiting dirty entry became dirty,
// for Stats' flush lag. Stale queue heads are popped on the way.
func (l *linkState) noteOldest() {
	for len(l.order) > 0 {
		e, ok := l.dirty[l.order[0]]
		if ok && e.seq == l.seqs[0] {
			l.oldestDirty.Store(e.since)
			return
		}
		l.order, l.seqs = l.order[1:], l.seqs[1:]
	}
	l.oldestDirty.Store(0)
}

// linkActor is the mailbox around a linkState.
type linkActor struct{ st *linkState }

func (a *linkActor) Receive(ctx actor.Context) {
	defer answerOnCrash(ctx)
	switch m := ctx.Message().(type) {
	case *markDirtyMsg:
		a.st.onMarkDirty(m)
	case *flushMsg:
		n, left := a.st.flush(m.All)
		m.respond(result{Flushed: n, Left: left})
	case flushTick:
		if len(a.st.dirty) > 0 {
			a.st.flush(false)
		}
	case *evictedMsg:
		m.respond(result{Err: a.st.onEvicted(m)})
	case *forgetMsg:
		a.st.onForget(m.ID)
	case *crashMsg:
		panic("link actor crash requested: " + m.Reason)
	case *actor.Restarting:
		a.st.restarts.Add(1)
	}
}
