package keylock

import (
	"sync"
	"testing"
)

// Writers of overlapping key sets, taking them in any order, never
// deadlock and never run together on a shared stripe.
func TestLockAllOrdersStripes(t *testing.T) {
	var tb Table
	var wg sync.WaitGroup
	counter := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hs := []uint64{uint64(g), 5, Stripes + 5, 3, uint64(7 - g)} // duplicates and reversed orders
			for range 1000 {
				unlock := tb.LockAll(hs)
				counter++ // every set holds stripe 5: this is serialised
				unlock()
				m := tb.Stripe(5)
				m.Lock()
				counter++
				m.Unlock()
			}
		}()
	}
	wg.Wait()
	if counter != 16000 {
		t.Fatalf("counter %d", counter)
	}
}
