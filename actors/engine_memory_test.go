package actors

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/eviction"
	"github.com/stratacache/stratacache/tiers/memory"
)

func memTier(t testing.TB, name string, capacity int64) *memory.Tier {
	t.Helper()
	pol, err := eviction.New("lru", 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := memory.New(memory.Config{Name: name, CapacityBytes: capacity, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// stamp makes a payload whose every 8-byte word names (key, version), so a
// reader can tell a whole payload from a mix of two versions.
func stamp(key, version, n int) []byte {
	b := make([]byte, n)
	var w [8]byte
	binary.LittleEndian.PutUint64(w[:], uint64(key)<<32|uint64(version))
	for i := 0; i+8 <= n; i += 8 {
		copy(b[i:], w[:])
	}
	return b
}

// Over two real memory tiers with a write-back link: 4 writers store 600
// artifacts into a 1 MiB top tier (far over budget) while readers load;
// the top tier's budget holds at every sample, every artifact ends up
// readable and whole, and nothing is lost to eviction.
func TestEngineOverMemoryTiers(t *testing.T) {
	top := memTier(t, "cpu", 1<<20)
	low := memTier(t, "cpu2", 64<<20)
	e, err := NewEngine(Config{Tiers: []tiers.Tier{top, low}, Links: []LinkConfig{wb(256 << 10)}, PromoteOnHit: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	const writers, per, size = 4, 150, 16 << 10
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var overBudget error
	var mu sync.Mutex
	go func() {
		var s tiers.Stats
		for {
			select {
			case <-stop:
				return
			default:
			}
			top.Stats(&s)
			if s.UsedBytes > s.CapacityBytes {
				mu.Lock()
				overBudget = fmt.Errorf("used %d > capacity %d", s.UsedBytes, s.CapacityBytes)
				mu.Unlock()
			}
		}
	}()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := make([]byte, size)
			for i := 0; i < per; i++ {
				k := w*per + i
				if err := e.Store(ctx, id(fmt.Sprint("m", k)), stamp(k, 1, size), StoreOptions{}); err != nil {
					t.Error(err)
					return
				}
				if i > 0 { // read back an earlier one: a miss is a bug here
					j := w*per + i/2
					got, err := e.Load(ctx, buf, id(fmt.Sprint("m", j)), Chain())
					if err != nil || !bytes.Equal(got, stamp(j, 1, size)) {
						t.Errorf("m%d: %v", j, err)
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	mu.Lock()
	if overBudget != nil {
		t.Fatal(overBudget)
	}
	mu.Unlock()
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < writers*per; k++ {
		got, err := e.Load(ctx, nil, id(fmt.Sprint("m", k)), Chain())
		if err != nil || !bytes.Equal(got, stamp(k, 1, size)) {
			t.Fatalf("m%d lost or damaged: %v", k, err)
		}
	}
}

// Replacing an artifact while readers load it: every read is wholly one
// version, never a mix.
func TestReplaceIsAtomicForReaders(t *testing.T) {
	e, err := NewEngine(Config{Tiers: []tiers.Tier{memTier(t, "cpu", 8<<20)}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	const size = 64 << 10
	k := id("hot")
	if err := e.Store(ctx, k, stamp(1, 0, size), StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, size)
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := e.Load(ctx, buf, k, Chain())
				if err != nil {
					t.Error(err)
					return
				}
				v := int(binary.LittleEndian.Uint64(got) & 0xffffffff)
				if !bytes.Equal(got, stamp(1, v, size)) {
					t.Errorf("torn read: starts as version %d, differs later", v)
					return
				}
				runtime.Gosched() // let the writer in on a 2-core machine
			}
		}()
	}
	for v := 1; v <= 100; v++ {
		if err := e.Store(ctx, k, stamp(1, v, size), StoreOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
}

// A view taken through the engine stays intact while the artifact is
// deleted and its space reused.
func TestEngineViewSurvivesDelete(t *testing.T) {
	e, err := NewEngine(Config{Tiers: []tiers.Tier{memTier(t, "cpu", 1<<20)}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	want := stamp(7, 7, 512<<10)
	if err := e.Store(ctx, id("v"), want, StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	v, tier, err := e.View(ctx, id("v"), Chain())
	if err != nil || tier != "cpu" {
		t.Fatal(err)
	}
	if _, err := e.Delete(ctx, id("v")); err != nil {
		t.Fatal(err)
	}
	// The view's 512 KiB are still held: a 768 KiB store must not reuse
	// them, so it cannot fit until the view is released.
	for i := 0; i < 3; i++ {
		err := e.Store(ctx, id(fmt.Sprint("x", i)), stamp(i, 9, 256<<10), StoreOptions{})
		if err != nil && !errors.Is(err, ErrNoSpace) {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(v.Bytes(), want) {
		t.Fatal("view changed under its reader")
	}
	v.Release()
	if _, err := e.Load(ctx, nil, id("v"), Chain()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted artifact served: %v", err)
	}
	_ = artifact.NamespaceKV
}
