package eviction

import (
	"fmt"
	"sync"
	"testing"
)

// Hits that do not fill a stripe before the next Evict reach the policy in
// the order they happened, whatever stripes they landed in.
func TestBufferedAppliesHitsInOrder(t *testing.T) {
	var mu sync.Mutex
	b := NewBuffered(NewLRU(0), &mu, 0)
	for k := uint64(1); k <= 8; k++ {
		b.Insert(k)
	}
	// Touch the even keys, last first: the LRU order becomes 1 3 5 7 8 6 4 2.
	at := int64(0)
	for _, k := range []uint64{8, 6, 4, 2} {
		at++
		b.Hit(k, at)
	}
	var got []uint64
	for range 8 {
		k, ok := b.Evict()
		if !ok {
			t.Fatal("empty")
		}
		got = append(got, k)
	}
	if fmt.Sprint(got) != "[1 3 5 7 8 6 4 2]" {
		t.Fatalf("victims %v", got)
	}
	var s BufferStats
	b.Stats(&s)
	if s.Applied != 0 || s.Dropped != 0 { // all four applied at once
		t.Fatalf("stats %+v", s)
	}
}

// A full stripe meeting a busy lock keeps its newest hits and drops the
// oldest; the kept ones are applied by the next Drain, in time order.
func TestBufferedDropsOnlyWhenFullAndBusy(t *testing.T) {
	var mu sync.Mutex
	p := NewLRU(0)
	b := NewBuffered(p, &mu, 1)
	busy := true
	b.SetBusy(func() bool { return busy })
	b.Insert(1)
	b.Insert(2)
	b.Insert(3)
	// 2 is hit first, then 1 (ReadBuffered+4 times): 2's hit is the one
	// overwritten, so 2 is the least recent after the drain, then 3.
	b.Hit(2, 0)
	for i := range ReadBuffered + 4 {
		b.Hit(1, int64(i+1))
	}
	var s BufferStats
	b.Stats(&s)
	if s.Applied != 0 || s.Dropped != 5 {
		t.Fatalf("while busy: %+v", s)
	}
	if k, _ := b.Evict(); k != 2 { // Evict drained the kept hits of 1 first
		t.Fatalf("victim %d, want 2", k)
	}
	if k, _ := b.Evict(); k != 3 {
		t.Fatalf("victim %d, want 3", k)
	}
	b.Insert(2)
	b.Stats(&s)
	if s.Applied != ReadBuffered {
		t.Fatalf("after drain: %+v", s)
	}
	busy = false
	for i := range ReadBatch {
		b.Hit(1, int64(i))
	}
	b.Stats(&s)
	if s.Applied != ReadBuffered+ReadBatch || s.Dropped != 5 {
		t.Fatalf("lock free: %+v", s)
	}
	if mu.TryLock() {
		mu.Unlock()
	} else {
		t.Fatal("Hit left the owner's lock held")
	}
}

// Readers hit concurrently with an owner that inserts and evicts under its
// lock: no more hits are counted than were made, and the policy keeps its
// keys (run with -race).
func TestBufferedConcurrentHits(t *testing.T) {
	var mu sync.Mutex
	b := NewBuffered(NewLRU(0), &mu, 8)
	const keys, readers, hits = 256, 4, 5000
	mu.Lock()
	for k := range uint64(keys) {
		b.Insert(k)
	}
	mu.Unlock()
	var wg sync.WaitGroup
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range hits {
				b.Hit(uint64((i*(2*r+1))%keys), int64(i))
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 2000 {
			mu.Lock()
			if k, ok := b.Evict(); ok {
				b.Insert(k) // keep the key set
			}
			if i%7 == 0 {
				b.Touch(uint64(i % keys))
			}
			mu.Unlock()
		}
	}()
	wg.Wait()
	mu.Lock()
	b.Drain()
	n := b.Len()
	mu.Unlock()
	var s BufferStats
	b.Stats(&s)
	if s.Applied+s.Dropped > readers*hits {
		t.Fatalf("applied %d + dropped %d buffered hits > %d hits", s.Applied, s.Dropped, readers*hits)
	}
	if n != keys {
		t.Fatalf("len %d", n)
	}
}
