package keylock

import (
	"sync"
	"testing"
)

// Writers of overlapping key sets, taking them in any order, never
// deadlock and never run together on a shared key; the table is empty
// once they are done.
func TestLocksSerialiseAndDrain(t *testing.T) {
	var tb Table
	var wg sync.WaitGroup
	counter := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hs := []uint64{uint64(g), 5, 1<<40 + 5, 3, uint64(7 - g), 5} // duplicates and reversed orders
			for range 1000 {
				unlock := tb.LockAll(hs)
				counter++ // every set holds key 5: this is serialised
				unlock()
				k := tb.Key(5)
				k.Lock()
				counter++
				k.Unlock()
			}
		}()
	}
	wg.Wait()
	if counter != 16000 {
		t.Fatalf("counter %d", counter)
	}
	for i := range tb.shards {
		if n := len(tb.shards[i].m); n != 0 {
			t.Fatalf("shard %d keeps %d locks nobody holds", i, n)
		}
	}
}

// Different keys do not wait for each other: a held key does not block
// another key of the same shard.
func TestDistinctKeysDoNotWait(t *testing.T) {
	var tb Table
	a := tb.Key(1)
	a.Lock()
	done := make(chan struct{})
	go func() {
		b := tb.Key(1 + shards) // same shard, another key
		b.Lock()
		b.Unlock()
		close(done)
	}()
	<-done
	a.Unlock()
}
