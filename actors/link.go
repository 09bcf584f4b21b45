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
	id    artifact.ID
	size  int64
	seq   uint64
	since int64 // unix nanos when it became dirty
}

// linkState is the plain logic of the link between tiers[index] and
// tiers[index+1]. The dirty set is touched only by the LinkActor's
// goroutine; the byte bound (reserve/release) is shared with writers.
type linkState struct {
	index int
	cfg   LinkConfig
	eng   *Engine
	pid   *actor.PID

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
	backpressureWaits atomic.Uint64
	demotions         atomic.Uint64
	restarts          atomic.Uint64
}

func newLinkState(index int, cfg LinkConfig, eng *Engine) *linkState {
	return &linkState{
		index:   index,
		cfg:     cfg,
		eng:     eng,
		dirty:   make(map[uint64]*dirtyEntry),
		changed: make(chan struct{}),
	}
}

func (l *linkState) writeBack() bool { return l.cfg.Policy == WriteBack }

// reserve books size dirty bytes before a write-back store, waiting while the
// bound is reached. An artifact larger than the bound passes when nothing
// else is dirty, so no size can wait forever.
func (l *linkState) reserve(ctx context.Context, size int64) error {
	for {
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

// onMarkDirty records a write-back store whose bytes are already reserved.
func (l *linkState) onMarkDirty(m *markDirtyMsg) {
	l.seq++
	if e, ok := l.dirty[m.ID.Hash]; ok {
		l.release(e.size) // the older version's reservation
		l.pending += m.Size - e.size
		e.id, e.size, e.seq = m.ID, m.Size, l.seq
	} else {
		l.dirty[m.ID.Hash] = &dirtyEntry{id: m.ID, size: m.Size, seq: l.seq, since: time.Now().UnixNano()}
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
func (l *linkState) flush(all bool) (flushed, left int64) {
	var budget int64 = l.cfg.FlushBatchBytes
	var retry []*dirtyEntry
	l.flushBatches.Add(1)
	for len(l.order) > 0 && (all || budget > 0) {
		h, s := l.order[0], l.seqs[0]
		l.order, l.seqs = l.order[1:], l.seqs[1:]
		e, ok := l.dirty[h]
		if !ok || e.seq != s {
			continue // stale: rewritten later or already gone
		}
		err := l.flushOne(e)
		switch {
		case err == nil:
			flushed++
			budget -= e.size
			l.drop(h)
		case errors.Is(err, tiers.ErrTooLarge) || errors.Is(err, tiers.ErrCollision) || errors.Is(err, ErrInvalidKey):
			l.flushFailures.Add(1)
			l.eng.log.Warn("write-back flush dropped an artifact", slog.Int("link", l.index), slog.String("id", e.id.String()), slog.Any("err", err))
			l.drop(h)
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

// flushOne copies one dirty artifact down. If it left the upper tier it is
// not an error: a delete dropped it, or its eviction demoted it already.
func (l *linkState) flushOne(e *dirtyEntry) error {
	v, err := l.eng.tiers[l.index].tier.View(e.id)
	if err != nil {
		return nil
	}
	defer v.Release()
	meta := v.Meta()
	err = l.eng.storeFrom(context.Background(), l.index+1, e.id, v.Bytes(), tiers.PutOptions{Meta: meta}, false)
	if err == nil {
		l.flushed.Add(1)
		l.flushedBytes.Add(uint64(len(v.Bytes())))
	}
	return err
}

// onEvicted demotes a victim of the upper tier: always when it was dirty,
// and when it is clean but missing below (the lower tier evicted its copy),
// so that leaving the top tier never loses an artifact the chain could hold.
func (l *linkState) onEvicted(ev tiers.Evicted) error {
	defer ev.View.Release()
	wasDirty := false
	if e, ok := l.dirty[ev.ID.Hash]; ok && e.id.Equal(ev.ID) {
		l.drop(ev.ID.Hash)
		l.noteOldest()
		wasDirty = true
	}
	if !wasDirty && l.eng.tiers[l.index+1].tier.Contains(ev.ID) {
		return nil
	}
	err := l.eng.storeFrom(context.Background(), l.index+1, ev.ID, ev.View.Bytes(), tiers.PutOptions{Meta: ev.View.Meta()}, false)
	if err == nil {
		l.demotions.Add(1)
		l.eng.tiers[l.index+1].demotions.Add(1)
	} else {
		l.eng.log.Warn("demotion failed", slog.Int("link", l.index), slog.String("id", ev.ID.String()), slog.Bool("dirty", wasDirty), slog.Any("err", err))
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
		m.respond(result{Err: a.st.onEvicted(m.Ev)})
	case *forgetMsg:
		a.st.onForget(m.ID)
		m.respond(result{})
	case *crashMsg:
		panic("link actor crash requested: " + m.Reason)
	case *actor.Restarting:
		a.st.restarts.Add(1)
	}
}
