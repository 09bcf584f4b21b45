package engine

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/stratacache/tiers"
)

// gatedMedia holds the first Sync after arm until release.
type gatedMedia struct {
	*memMedia
	armed   bool
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (m *gatedMedia) Sync() error {
	if m.armed {
		held := false
		m.once.Do(func() { held = true })
		if held {
			close(m.entered)
			<-m.release
		}
	}
	return m.memMedia.Sync()
}

// Concurrent durable puts share syncs: while one put's sync is under way,
// four more puts finish writing and wait; none of them is answered by the
// sync that started before its writes, and one more sync answers all four.
func TestConcurrentSyncsAreCoalesced(t *testing.T) {
	g := testGeo(t, 64, 1<<20)
	m := &gatedMedia{memMedia: newMemMedia(g, false), entered: make(chan struct{}), release: make(chan struct{})}
	e, err := Open(m, Options{Name: "test", Kind: tiers.KindDisk, Geometry: g, Policy: newFIFO(), SyncEachPut: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	m.armed = true
	before := m.syncs.Load()
	e.sg.mu.Lock()
	tickets := e.sg.issued
	e.sg.mu.Unlock()
	ctx := context.Background()
	errs := make(chan error, 5)
	put := func(i int) { errs <- e.Put(ctx, kid(i), payloadFor(uint64(i), 4096), tiers.PutOptions{}) }
	go put(0)
	<-m.entered
	var returned sync.WaitGroup
	returned.Add(4)
	for i := 1; i <= 4; i++ {
		go func(i int) { defer returned.Done(); put(i) }(i)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		e.sg.mu.Lock()
		issued := e.sg.issued
		e.sg.mu.Unlock()
		if issued-tickets >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d puts reached their sync", issued-tickets)
		}
		runtime.Gosched()
	}
	select {
	case err := <-errs:
		t.Fatalf("a put returned (%v) while the only sync under way started before its writes", err)
	default:
	}
	close(m.release)
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	returned.Wait()
	if n := m.syncs.Load() - before; n != 2 {
		t.Fatalf("%d medium syncs for 5 concurrent durable puts, want 2 (the first, then one for the four waiting)", n)
	}
	for i := 0; i <= 4; i++ {
		mustGet(t, e, kid(i), payloadFor(uint64(i), 4096))
	}
}
