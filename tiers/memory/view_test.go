package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/stratacache/tiers"
)

func TestReplaceKeepsViewOfOld(t *testing.T) {
	tr := newTestTier(t, 1<<20)
	id := key(1)
	old, nw := fill(1, 100000), fill(2, 50000)
	if err := tr.Put(context.Background(), id, old, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	v, err := tr.View(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Put(context.Background(), id, nw, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ := tr.Get(make([]byte, 1<<20), id)
	if !bytes.Equal(got, nw) || !bytes.Equal(v.Bytes(), old) {
		t.Fatal("replace: new not served or old view changed")
	}
	s := stats(tr)
	if s.Artifacts != 1 || s.PendingBytes != 102400 || s.UsedBytes != 102400+53248 {
		t.Fatalf("stats with a view on the replaced payload %+v", s)
	}
	v.Release()
	if s := stats(tr); s.PendingBytes != 0 || s.UsedBytes != 53248 {
		t.Fatalf("stats after release %+v", s)
	}
}

// A view taken before the artifact is evicted, deleted or replaced keeps its
// bytes while other Puts put the arena under pressure; once released its
// extent is reused.
func TestViewSurvivesRemoval(t *testing.T) {
	for _, how := range []string{"evict", "delete", "replace"} {
		t.Run(how, func(t *testing.T) {
			const unit = 64 << 10
			tr := newTestTier(t, 16*unit)
			want := fill(99, unit)
			if err := tr.Put(context.Background(), key(0), want, tiers.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			v, err := tr.View(key(0))
			if err != nil {
				t.Fatal(err)
			}
			off := v.(*entry).ext.off
			switch how {
			case "delete":
				del(tr, key(0))
			case "replace":
				if err := tr.Put(context.Background(), key(0), fill(7, unit), tiers.PutOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			// 100 Puts through a 16-unit arena: the LRU evicts key 0 early;
			// only the view keeps its extent from reuse.
			for i := 1; i <= 100; i++ {
				if err := tr.Put(context.Background(), key(i), fill(uint64(i), unit), tiers.PutOptions{}); err != nil {
					t.Fatal(err)
				}
				if s := stats(tr); s.UsedBytes > s.CapacityBytes {
					t.Fatalf("used %d > capacity", s.UsedBytes)
				}
			}
			if tr.Contains(key(0)) {
				t.Fatal("key 0 still indexed")
			}
			if !bytes.Equal(v.Bytes(), want) {
				t.Fatal("view bytes changed under pressure")
			}
			if s := stats(tr); s.PendingBytes != unit {
				t.Fatalf("pending %d, want %d", s.PendingBytes, unit)
			}
			v.Release()
			if s := stats(tr); s.PendingBytes != 0 {
				t.Fatalf("pending %d after release", s.PendingBytes)
			}
			// The next Put must land in the released extent: it is the only
			// free space (best fit picks it after eviction frees nothing
			// smaller).
			if err := tr.Put(context.Background(), key(1000), fill(1000, unit), tiers.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			nv, err := tr.View(key(1000))
			if err != nil {
				t.Fatal(err)
			}
			defer nv.Release()
			if got := nv.(*entry).ext.off; got != off {
				t.Fatalf("released extent at %d not reused; new Put at %d", off, got)
			}
		})
	}
}

func TestClose(t *testing.T) {
	tr, err := New(Config{CapacityBytes: 1 << 20, Policy: newLRU()})
	if err != nil {
		t.Fatal(err)
	}
	p := fill(3, 70000)
	if err := tr.Put(context.Background(), key(1), p, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Put(context.Background(), key(2), p, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	v, err := tr.View(key(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := tr.Get(make([]byte, 70000), key(2)); !errors.Is(err, tiers.ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if _, err := tr.View(key(2)); !errors.Is(err, tiers.ErrClosed) {
		t.Fatalf("View after Close: %v", err)
	}
	if err := tr.Put(context.Background(), key(3), p, tiers.PutOptions{}); !errors.Is(err, tiers.ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	if err := tr.Pin(key(2)); !errors.Is(err, tiers.ErrClosed) {
		t.Fatalf("Pin after Close: %v", err)
	}
	if tr.Contains(key(2)) || del(tr, key(2)) {
		t.Fatal("Contains/Delete after Close")
	}
	// The outstanding view still reads its bytes; the arena goes with it.
	if !bytes.Equal(v.Bytes(), p) {
		t.Fatal("view changed after Close")
	}
	if tr.arena.mem == nil {
		t.Fatal("arena unmapped under a live view")
	}
	v.Release()
	if tr.arena.mem != nil {
		t.Fatal("arena still mapped after the last view was released")
	}
	if s := stats(tr); s.UsedBytes != 0 || s.Artifacts != 0 || s.PendingBytes != 0 {
		t.Fatalf("stats after close %+v", s)
	}
}

// A Put that needs space held only by a view waits for its release.
func TestPutWaitsForViewRelease(t *testing.T) {
	const unit = 64 << 10
	tr := newTestTier(t, 2*unit)
	for i := range 2 {
		if err := tr.Put(context.Background(), key(i), fill(uint64(i), unit), tiers.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	v0, _ := tr.View(key(0))
	v1, _ := tr.View(key(1))
	done := make(chan error, 1)
	go func() { done <- tr.Put(context.Background(), key(2), fill(2, unit), tiers.PutOptions{}) }()
	// Wait until the Put has evicted both and is parked on the views.
	for {
		tr.allocMu.Lock()
		w := tr.waiters
		tr.allocMu.Unlock()
		if w > 0 && stats(tr).PendingBytes == 2*unit {
			break
		}
		runtime.Gosched()
	}
	v1.Release()
	if err := <-done; err != nil {
		t.Fatalf("Put after release: %v", err)
	}
	v0.Release()
	got, _ := tr.Get(make([]byte, unit), key(2))
	if !bytes.Equal(got, fill(2, unit)) {
		t.Fatal("payload")
	}

	// With a short wait and nobody releasing: ErrNoSpace, nothing leaked.
	short := newTestTier(t, unit, func(c *Config) { c.SpaceWait = time.Millisecond })
	if err := short.Put(context.Background(), key(0), fill(0, unit), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	v, _ := short.View(key(0))
	if err := short.Put(context.Background(), key(1), fill(1, unit), tiers.PutOptions{}); !errors.Is(err, tiers.ErrNoSpace) {
		t.Fatalf("Put against a held view: %v", err)
	}
	v.Release()
	if s := stats(short); s.UsedBytes != 0 || s.PendingBytes != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// Close while writers and readers run: every call either works or reports
// tiers.ErrClosed (or a miss), views taken before Close read intact bytes,
// and the arena is unmapped once the last of them is released.
func TestCloseUnderLoad(t *testing.T) {
	const unit = 16 << 10
	tr, err := New(Config{CapacityBytes: 32 * unit, Policy: newLRU()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 16 {
		if err := tr.Put(context.Background(), key(i), fill(uint64(i), unit), tiers.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var ready, wg sync.WaitGroup
	views := make(chan tiers.View, 64)
	for g := range 4 {
		ready.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 5))
			dst := make([]byte, unit)
			signalled := false
			defer func() {
				if !signalled { // failed early: do not leave Close waiting
					ready.Done()
				}
			}()
			for i := 0; ; i++ {
				if i == 10 {
					ready.Done()
					signalled = true
				}
				k := r.IntN(16)
				var err error
				switch g {
				case 0:
					err = tr.Put(context.Background(), key(k), fill(uint64(k), unit), tiers.PutOptions{})
				case 1:
					var v tiers.View
					if v, err = tr.View(key(k)); err == nil {
						select {
						case views <- v:
						default:
							v.Release()
						}
					}
				default:
					var got []byte
					if got, err = tr.Get(dst, key(k)); err == nil && !bytes.Equal(got, fill(uint64(k), unit)) {
						t.Errorf("Get %d: wrong bytes", k)
					}
				}
				if errors.Is(err, tiers.ErrClosed) {
					return
				}
				if err != nil && !errors.Is(err, tiers.ErrNotFound) {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
			}
		}()
	}
	ready.Wait()
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(views)
	for v := range views {
		var k int
		if _, err := fmt.Sscanf(string(v.(*entry).key), "k%d", &k); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(v.Bytes(), fill(uint64(k), unit)) {
			t.Fatalf("view of %d changed after Close", k)
		}
		v.Release()
	}
	if tr.arena.mem != nil {
		t.Fatal("arena still mapped after every view was released")
	}
	if s := stats(tr); s.UsedBytes != 0 || s.PendingBytes != 0 || s.Artifacts != 0 {
		t.Fatalf("stats %+v", s)
	}
}
