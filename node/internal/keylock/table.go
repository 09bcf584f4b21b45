// Package keylock is the node's table of per-key locks: every writer of a
// key on the RESP and native ports (SET, MSET, DEL, EXPIRE, INCR, APPEND,
// GETSET, PUT, DELETE, ...) holds its key's lock, so that read-modify-write
// commands are atomic against blind writes and deletes from either port.
// A lock exists only while someone holds or waits for it, and keys never
// share one (short of equal 64-bit hashes), so a writer that is slow — a
// large value still arriving — delays only writers of the same key, which
// must be ordered after it anyway. It imports the standard library only.
package keylock

import (
	"slices"
	"sync"
)

const shards = 256

// Table holds the locks in use. The zero value is ready to use.
type Table struct {
	shards [shards]struct {
		mu sync.Mutex
		m  map[uint64]*keyLock
	}
}

type keyLock struct {
	mu   sync.Mutex
	refs int // holders and waiters, under the shard's mutex
}

var pool = sync.Pool{New: func() any { return new(keyLock) }}

// Key is the lock of the key with hash h.
func (t *Table) Key(h uint64) Handle { return Handle{t: t, h: h} }

// Handle locks and unlocks one key; it is a value, free to copy.
type Handle struct {
	t *Table
	h uint64
}

// Lock takes the key's lock, waiting for its holder.
func (k Handle) Lock() {
	sh := &k.t.shards[k.h%shards]
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[uint64]*keyLock)
	}
	kl := sh.m[k.h]
	if kl == nil {
		kl = pool.Get().(*keyLock)
		sh.m[k.h] = kl
	}
	kl.refs++
	sh.mu.Unlock()
	kl.mu.Lock()
}

// Unlock releases a lock taken by Lock.
func (k Handle) Unlock() {
	sh := &k.t.shards[k.h%shards]
	sh.mu.Lock()
	kl := sh.m[k.h]
	kl.refs--
	if kl.refs == 0 {
		delete(sh.m, k.h)
	}
	kl.mu.Unlock()
	if kl.refs == 0 {
		pool.Put(kl)
	}
	sh.mu.Unlock()
}

// LockAll locks the keys of every hash in hs, in hash order (so that two
// multi-key writers cannot deadlock), each once, and returns the unlock of
// them all.
func (t *Table) LockAll(hs []uint64) (unlock func()) {
	hs = slices.Clone(hs)
	slices.Sort(hs)
	hs = slices.Compact(hs)
	for _, h := range hs {
		t.Key(h).Lock()
	}
	return func() {
		for j := len(hs) - 1; j >= 0; j-- {
			t.Key(hs[j]).Unlock()
		}
	}
}
