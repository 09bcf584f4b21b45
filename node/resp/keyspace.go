package resp

import (
	"sync"

	"github.com/cespare/xxhash/v2"
)

// keyspaceShards is a power of two; SCAN's cursor is a shard index.
const keyspaceShards = 1024

// keyspace remembers the keys written through this server so that SCAN,
// DBSIZE and FLUSHALL can enumerate them: the engine indexes by hash and
// has no iteration. Keys the engine has since evicted are pruned whenever
// an enumeration finds them absent, and whenever a shard has doubled since
// its last pruning (so a stream of unique keys through a small cache does
// not grow the set without bound: amortised O(1) per add).
type keyspace struct {
	present func(key []byte) bool
	shards  [keyspaceShards]struct {
		mu    sync.Mutex
		keys  map[string]struct{}
		limit int // prune when len(keys) exceeds it
	}
}

// minPruneLimit is the shard size below which pruning is not worth it.
const minPruneLimit = 64

func (k *keyspace) init(present func(key []byte) bool) {
	k.present = present
	for i := range k.shards {
		k.shards[i].keys = map[string]struct{}{}
		k.shards[i].limit = minPruneLimit
	}
}

func shardOf(key []byte) int { return int(xxhash.Sum64(key) & (keyspaceShards - 1)) }

// add records key; it allocates only for a key not yet recorded.
func (k *keyspace) add(key []byte) {
	sh := &k.shards[shardOf(key)]
	sh.mu.Lock()
	if _, ok := sh.keys[string(key)]; !ok {
		sh.keys[string(key)] = struct{}{}
		if len(sh.keys) > sh.limit {
			for k2 := range sh.keys {
				if !k.present([]byte(k2)) {
					delete(sh.keys, k2)
				}
			}
			sh.limit = max(2*len(sh.keys), minPruneLimit)
		}
	}
	sh.mu.Unlock()
}

func (k *keyspace) remove(key []byte) {
	sh := &k.shards[shardOf(key)]
	sh.mu.Lock()
	delete(sh.keys, string(key))
	sh.mu.Unlock()
}

// scan visits the keys of shards [cursor, ...) until at least count keys
// were offered to visit or the shards run out, and returns the next cursor
// (0 when the iteration is complete). present filters out (and forgets)
// keys the engine no longer holds. visit is called without a lock held.
func (k *keyspace) scan(cursor, count int, present func(key []byte) bool, visit func(key []byte)) int {
	var batch []string
	offered := 0
	for cursor < keyspaceShards {
		sh := &k.shards[cursor]
		sh.mu.Lock()
		batch = batch[:0]
		for key := range sh.keys {
			batch = append(batch, key)
		}
		sh.mu.Unlock()
		cursor++
		for _, key := range batch {
			if !present([]byte(key)) {
				// Re-check under the lock: a SET may have re-added it.
				sh.mu.Lock()
				if !present([]byte(key)) {
					delete(sh.keys, key)
				}
				sh.mu.Unlock()
				continue
			}
			visit([]byte(key))
			offered++
		}
		if offered >= count {
			break
		}
	}
	if cursor >= keyspaceShards {
		return 0
	}
	return cursor
}

// size is the number of keys remembered (some may have been evicted since;
// SCAN and DBSIZE prune those they meet).
func (k *keyspace) size() int {
	n := 0
	for i := range k.shards {
		sh := &k.shards[i]
		sh.mu.Lock()
		n += len(sh.keys)
		sh.mu.Unlock()
	}
	return n
}
