// Package keylock is the node's table of per-key stripe locks: every
// writer of a key on the RESP and native ports (SET, MSET, DEL, EXPIRE,
// INCR, APPEND, GETSET, PUT, DELETE, ...) takes its key's stripe, so that
// read-modify-write commands are atomic against blind writes and deletes
// from either port. It imports the standard library only.
package keylock

import (
	"slices"
	"sync"
)

// Stripes is the number of locks; keys share a lock when their hashes are
// equal modulo Stripes.
const Stripes = 1024

// Table holds the stripes. The zero value is ready to use.
type Table struct {
	mu [Stripes]sync.Mutex
}

// Stripe is the lock of the key with hash h.
func (t *Table) Stripe(h uint64) *sync.Mutex { return &t.mu[h%Stripes] }

// LockAll locks the stripes of every hash in hs, in stripe order (so that
// two multi-key writers cannot deadlock), each once, and returns the
// unlock of them all.
func (t *Table) LockAll(hs []uint64) (unlock func()) {
	idx := make([]int, len(hs))
	for i, h := range hs {
		idx[i] = int(h % Stripes)
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		t.mu[i].Lock()
	}
	return func() {
		for j := len(idx) - 1; j >= 0; j-- {
			t.mu[idx[j]].Unlock()
		}
	}
}

// AfterFill wraps the fill function of a streamed store (Engine.StoreFill)
// of the key with hash h: the stripe is locked once fill has read the whole
// value, just before the store publishes it, and done (call it when the
// store returns) unlocks it if it was taken. A writer of the key like any
// other, but one whose slow upload never holds the lock.
func (t *Table) AfterFill(h uint64, fill func(dst []byte) error) (wrapped func(dst []byte) error, done func()) {
	mu := t.Stripe(h)
	locked := false
	wrapped = func(dst []byte) error {
		if err := fill(dst); err != nil {
			return err
		}
		mu.Lock()
		locked = true
		return nil
	}
	done = func() {
		if locked {
			locked = false
			mu.Unlock()
		}
	}
	return wrapped, done
}
