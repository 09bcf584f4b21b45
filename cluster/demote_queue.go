package cluster

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/stratacache/stratacache/artifact"
)

// demoteQueue holds the last local tier's victims on their way to a
// peer's pool, so that an eviction never waits on the network: the
// evicting writer copies the victim in (or finds the queue full and lets
// it go) and returns; one goroutine of the remote tier drains the queue
// (RemoteTier.drain). It is bounded by entries and by bytes.
//
// A queued victim is still this node's to serve: reads of the remote tier
// look here first. A later store or delete of the same key cancels it;
// one already on the wire is undone after it lands (RemoteTier.send).
type demoteQueue struct {
	maxItems int
	maxBytes int64

	mu    sync.Mutex
	items []*demoteItem          // waiting, oldest first
	byKey map[string]*demoteItem // waiting or being sent
	// wire is the item the drainer is sending (one drainer), also after a
	// later push of its key superseded it in byKey.
	wire  *demoteItem
	bytes int64         // payload bytes of byKey and of reservations
	resv  int           // pushes copying outside the lock
	wake  chan struct{} // 1-buffered: something was queued
	// settled counts pushed victims that left the queue: sent, failed,
	// superseded or dropped at shutdown.
	settled atomic.Uint64
}

// demoteItem is one queued victim. buf is a pooled copy (getBuf) that the
// queue owns until finish.
type demoteItem struct {
	key       string
	id        artifact.ID
	buf       []byte
	meta      artifact.Meta
	sending   bool // taken by the drainer
	cancelled bool // superseded (a store or delete of the key) while sending
	// undone is made when the item is cancelled while sending and closed
	// once the drainer has settled it: the send failed, or it landed and
	// the peer's copy was deleted again. A delete waits on it, so that no
	// copy it superseded lands on a peer after it returns.
	undone chan struct{}
}

func newDemoteQueue(maxItems int, maxBytes int64) *demoteQueue {
	return &demoteQueue{maxItems: maxItems, maxBytes: maxBytes, byKey: map[string]*demoteItem{}, wake: make(chan struct{}, 1)}
}

// push queues a copy of payload. It reports false, copying nothing, when
// the queue has no room for it: the caller drops the victim.
func (q *demoteQueue) push(key string, id artifact.ID, payload []byte, meta artifact.Meta) bool {
	size := int64(len(payload))
	q.mu.Lock()
	q.cancelLocked(key)
	if len(q.items)+q.resv >= q.maxItems || q.bytes+size > q.maxBytes {
		q.mu.Unlock()
		return false
	}
	// Reserve the room before copying outside the lock, so that two
	// writers cannot both pass the bound.
	q.bytes += size
	q.resv++
	q.mu.Unlock()
	buf := getBuf(len(payload))
	copy(buf, payload)
	meta.Length = size
	it := &demoteItem{key: key, id: id.Clone(), buf: buf, meta: meta}
	q.mu.Lock()
	q.resv--
	q.cancelLocked(key) // another copy of the key queued meanwhile: the later push wins
	q.items = append(q.items, it)
	q.byKey[key] = it
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// cancel forgets a queued victim of key (a newer store or a delete); one
// being sent is marked so that the drainer undoes it. It reports whether
// the key was queued.
func (q *demoteQueue) cancel(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.cancelLocked(key)
}

// cancelWait is cancel that also returns, when the victim was already on
// the wire, a channel closed once the drainer has settled it (nil
// otherwise).
func (q *demoteQueue) cancelWait(key string) (bool, <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	found := q.cancelLocked(key)
	if w := q.wire; w != nil && w.key == key {
		// On the wire: cancelled just now, or superseded by a push whose
		// own copy was then cancelled above. Either way its undo is due.
		return found, w.undone
	}
	return found, nil
}

func (q *demoteQueue) cancelLocked(key string) bool {
	it, ok := q.byKey[key]
	if !ok {
		return false
	}
	delete(q.byKey, key)
	if it.sending {
		it.cancelled = true // the drainer releases it
		it.undone = make(chan struct{})
		return true
	}
	for i, x := range q.items {
		if x == it {
			q.items = append(q.items[:i], q.items[i+1:]...)
			break
		}
	}
	q.bytes -= int64(len(it.buf))
	putBuf(it.buf)
	q.settled.Add(1)
	return true
}

// next takes the oldest waiting item, waiting for one until ctx ends (nil
// then).
func (q *demoteQueue) next(ctx context.Context) *demoteItem {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			it := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			it.sending = true
			q.wire = it
			q.mu.Unlock()
			return it
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		}
	}
}

// commit ends a successful send: unless the item was cancelled meanwhile,
// record runs under the queue's lock (so that a delete finds either the
// queued item or the directory entry record wrote, never neither). It
// reports whether the item had been cancelled.
func (q *demoteQueue) commit(it *demoteItem, record func()) (cancelled bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !it.cancelled {
		record()
	}
	q.releaseLocked(it)
	return it.cancelled
}

// finish ends a failed send (the victim is dropped).
func (q *demoteQueue) finish(it *demoteItem) {
	q.mu.Lock()
	q.releaseLocked(it)
	q.mu.Unlock()
	q.settle(it)
}

// settle ends a cancelled item's time on the wire: the send failed, or
// the peer's copy was deleted again. Deletes waiting on it go on.
func (q *demoteQueue) settle(it *demoteItem) {
	q.mu.Lock()
	undone := it.undone
	if q.wire == it {
		q.wire = nil
	}
	q.mu.Unlock()
	if undone != nil {
		close(undone)
	}
}

func (q *demoteQueue) releaseLocked(it *demoteItem) {
	if q.wire == it && it.undone == nil {
		q.wire = nil // a cancelled one stays until undone (settle)
	}
	if q.byKey[it.key] == it {
		delete(q.byKey, it.key)
	}
	q.bytes -= int64(len(it.buf))
	putBuf(it.buf)
	it.buf = nil
	q.settled.Add(1)
}

// read copies a queued victim of id out (nil when none is queued or it
// was superseded).
func (q *demoteQueue) read(key string, id artifact.ID) (*fetched, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	it, ok := q.byKey[key]
	if !ok || !it.id.Equal(id) {
		return nil, false
	}
	b := getBuf(len(it.buf))
	copy(b, it.buf)
	return &fetched{b: b, meta: it.meta}, true
}

// stat returns a queued victim's metadata.
func (q *demoteQueue) stat(key string, id artifact.ID) (artifact.Meta, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	it, ok := q.byKey[key]
	if !ok || !it.id.Equal(id) {
		return artifact.Meta{}, false
	}
	return it.meta, true
}

// len is the number of victims queued or being sent, and their bytes.
func (q *demoteQueue) len() (int, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.byKey), q.bytes
}

// drop releases everything waiting (the node is closing).
func (q *demoteQueue) drop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, it := range q.items {
		q.releaseLocked(it)
	}
	q.items = nil
}
