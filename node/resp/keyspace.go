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
// an enumeration finds them absent.
type keyspace struct {
	shards [keyspaceShards]struct {
		mu   sync.Mutex
		keys map[string]struct{}
	}
}

func (k *keyspace) init() {
	for i := range k.shards {
		k.shards[i].keys = map[string]struct{}{}
	}
}

func shardOf(key []byte) int { return int(xxhash.Sum64(key) & (keyspaceShards - 1)) }

// add records key; it allocates only for a key not yet recorded.
func (k *keyspace) add(key []byte) {
	sh := &k.shards[shardOf(key)]
	sh.mu.Lock()
	if _, ok := sh.keys[string(key)]; !ok {
		sh.keys[string(key)] = struct{}{}
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
