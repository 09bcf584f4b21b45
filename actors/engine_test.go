package actors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/tiertest"
)

func id(k string) artifact.ID { return artifact.MustID(artifact.NamespaceKV, k) }

func payload(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// newEngine builds an engine over fake tiers named t0, t1, ... with the
// given capacities and link policies.
func newEngine(t *testing.T, caps []int64, links []LinkConfig, promote bool) (*Engine, []*tiertest.Tier) {
	t.Helper()
	var ts []tiers.Tier
	var fakes []*tiertest.Tier
	for i, c := range caps {
		f := tiertest.New(fmt.Sprintf("t%d", i), c)
		fakes = append(fakes, f)
		ts = append(ts, f)
	}
	e, err := NewEngine(Config{Tiers: ts, Links: links, PromoteOnHit: promote})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e, fakes
}

func wt() LinkConfig { return LinkConfig{Policy: WriteThrough} }

// wb is a write-back link whose timer never fires during a test, so that
// flushes happen only when the test or the bound asks.
func wb(maxDirty int64) LinkConfig {
	return LinkConfig{Policy: WriteBack, MaxDirtyBytes: maxDirty, FlushBatchBytes: maxDirty, FlushInterval: time.Hour}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling a condition, not synchronising by sleep
	}
}

func TestStoreLoadChainWriteThrough(t *testing.T) {
	e, f := newEngine(t, []int64{1 << 20, 1 << 20}, []LinkConfig{wt()}, false)
	ctx := context.Background()
	p := payload(1, 4096)
	if err := e.Store(ctx, id("a"), p, StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if !f[0].Holds(id("a"), p) || !f[1].Holds(id("a"), p) {
		t.Fatal("write-through store did not reach both tiers before returning")
	}
	got, err := e.Load(ctx, nil, id("a"), Chain())
	if err != nil || !bytes.Equal(got, p) {
		t.Fatalf("load: %v", err)
	}
	buf := make([]byte, 0, 8192)
	got, err = e.Load(ctx, buf, id("a"), Chain())
	if err != nil || &got[0] != &buf[:1][0] {
		t.Fatalf("load did not reuse the caller's buffer: %v", err)
	}
}

func TestWriteBackFlushAndClose(t *testing.T) {
	e, f := newEngine(t, []int64{1 << 20, 1 << 20}, []LinkConfig{wb(1 << 20)}, false)
	ctx := context.Background()
	var ps [][]byte
	for i := 0; i < 20; i++ {
		p := payload(int64(i), 1000+i)
		ps = append(ps, p)
		if err := e.Store(ctx, id(fmt.Sprint("k", i)), p, StoreOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if f[1].Holds(id("k0"), ps[0]) {
		t.Fatal("write-back stored below before any flush")
	}
	var st EngineStats
	waitFor(t, "20 dirty artifacts", func() bool { e.Stats(&st); return st.Links[0].DirtyArtifacts == 20 })
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		if !f[1].Holds(id(fmt.Sprint("k", i)), p) {
			t.Fatalf("k%d not in lower tier after Flush", i)
		}
	}
	e.Stats(&st)
	if st.Links[0].DirtyArtifacts != 0 || st.Links[0].DirtyBytes != 0 {
		t.Fatalf("after flush: %+v", st.Links[0])
	}
	// Stores after the flush reach the lower tier on Close.
	late := payload(99, 3000)
	if err := e.Store(ctx, id("late"), late, StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if !f[1].Holds(id("late"), late) {
		t.Fatal("Close did not drain the write-back link")
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := e.Store(ctx, id("x"), late, StoreOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("store after close: %v", err)
	}
	if _, err := e.Load(ctx, nil, id("late"), Chain()); !errors.Is(err, ErrClosed) {
		t.Fatalf("load after close: %v", err)
	}
}

// The top tier holds 4 artifacts; 50 stores through a write-back link must
// all end up somewhere in the chain: dirty victims are demoted on eviction.
func TestNothingLostWhenTopEvicts(t *testing.T) {
	for _, lc := range []LinkConfig{wb(1 << 30), wt()} {
		t.Run(lc.Policy.String(), func(t *testing.T) {
			e, f := newEngine(t, []int64{4 * 1000, 1 << 20}, []LinkConfig{lc}, false)
			ctx := context.Background()
			for i := 0; i < 50; i++ {
				if err := e.Store(ctx, id(fmt.Sprint("k", i)), payload(int64(i), 1000), StoreOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 50; i++ {
				k := id(fmt.Sprint("k", i))
				got, err := e.Load(ctx, nil, k, Chain())
				if err != nil || !bytes.Equal(got, payload(int64(i), 1000)) {
					t.Fatalf("k%d lost: %v", i, err)
				}
			}
			var st tiers.Stats
			f[0].Stats(&st)
			if st.Evictions < 46 || st.UsedBytes > 4000 {
				t.Fatalf("top tier stats %+v", st)
			}
		})
	}
}

func TestPromotionOnLowerTierHit(t *testing.T) {
	e, f := newEngine(t, []int64{1 << 20, 1 << 20}, []LinkConfig{wt()}, true)
	ctx := context.Background()
	p := payload(7, 2048)
	if err := e.Store(ctx, id("p"), p, StoreOptions{Access: Exact("t1")}); err != nil {
		t.Fatal(err)
	}
	if f[0].Contains(id("p")) {
		t.Fatal("exact store wrote the top tier")
	}
	got, err := e.Load(ctx, nil, id("p"), Chain())
	if err != nil || !bytes.Equal(got, p) {
		t.Fatal(err)
	}
	waitFor(t, "promotion to t0", func() bool { return f[0].Holds(id("p"), p) })
	var st EngineStats
	e.Stats(&st)
	if st.Tiers[0].Promotions != 1 {
		t.Fatalf("promotions = %d", st.Tiers[0].Promotions)
	}
	if tier, ok, _ := e.Locate(ctx, id("p"), Chain()); !ok || tier != "t0" {
		t.Fatalf("locate = %q %v", tier, ok)
	}
}

func TestAccessModes(t *testing.T) {
	e, f := newEngine(t, []int64{1 << 20, 1 << 20, 1 << 20}, []LinkConfig{wt(), wt()}, false)
	ctx := context.Background()
	p := payload(3, 512)
	// exact: one tier only.
	if err := e.Store(ctx, id("e"), p, StoreOptions{Access: Exact("t1")}); err != nil {
		t.Fatal(err)
	}
	if f[0].Contains(id("e")) || !f[1].Contains(id("e")) || f[2].Contains(id("e")) {
		t.Fatal("exact store touched other tiers")
	}
	if _, err := e.Load(ctx, nil, id("e"), Exact("t0")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("exact load from the wrong tier: %v", err)
	}
	if ok, _ := e.Contains(ctx, id("e"), Exact("t2")); ok {
		t.Fatal("exact contains in t2")
	}
	// prefer: the named tier and its links down, not above.
	if err := e.Store(ctx, id("p"), p, StoreOptions{Access: Prefer("t1")}); err != nil {
		t.Fatal(err)
	}
	if f[0].Contains(id("p")) || !f[1].Contains(id("p")) || !f[2].Contains(id("p")) {
		t.Fatal("prefer store: want t1 and t2 only")
	}
	// prefer load: falls back to the chain when the preferred tier misses.
	if _, v, err := e.View(ctx, id("e"), Prefer("t2")); err != nil || v != "t1" {
		t.Fatalf("prefer load fallback: tier %q err %v", v, err)
	} else {
		vv, _, _ := e.View(ctx, id("e"), Prefer("t2"))
		vv.Release()
	}
	v, tier, err := e.View(ctx, id("p"), Prefer("t2"))
	if err != nil || tier != "t2" {
		t.Fatalf("prefer load served by %q: %v", tier, err)
	}
	v.Release()
	// prefer store falls back to the chain when the tier refuses.
	f[1].SetPutFault(func(artifact.ID) error { return tiers.ErrNoSpace })
	if err := e.Store(ctx, id("fb"), p, StoreOptions{Access: Prefer("t1")}); !errors.Is(err, ErrNoSpace) {
		// the chain passes through t1 as well (write-through), so it fails too
		t.Fatalf("prefer fallback through a failing tier: %v", err)
	}
	f[1].SetPutFault(nil)
	// Unknown tier and mode.
	if err := e.Store(ctx, id("x"), p, StoreOptions{Access: Exact("nope")}); !errors.Is(err, ErrUnknownTier) {
		t.Fatalf("unknown tier: %v", err)
	}
	if _, err := e.Load(ctx, nil, id("x"), Access{Mode: 9}); !errors.Is(err, ErrUnknownMode) {
		t.Fatalf("unknown mode: %v", err)
	}
	if _, err := ParseMode("sideways"); !errors.Is(err, ErrUnknownMode) {
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	ts := []tiers.Tier{tiertest.New("t0", 1<<20), tiertest.New("t1", 1<<20)}
	e, err := NewEngine(Config{Tiers: ts, Links: []LinkConfig{wt()}, MaxArtifactBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	if err := e.Store(ctx, id("big"), make([]byte, 64<<10+1), StoreOptions{}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if ok, _ := e.Contains(ctx, id("big"), Chain()); ok {
		t.Fatal("partial artifact left after a refused store")
	}
	empty := artifact.ID{Namespace: artifact.NamespaceKV}
	if err := e.Store(ctx, empty, []byte("x"), StoreOptions{}); !errors.Is(err, ErrInvalidKey) || !errors.Is(err, artifact.ErrEmptyKey) {
		t.Fatalf("empty key: %v", err)
	}
	badNS := artifact.ID{Namespace: 42, Key: []byte("k")}
	if _, err := e.Load(ctx, nil, badNS, Chain()); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("bad namespace: %v", err)
	}
	// A store the second tier refuses leaves the first tier's copy (the
	// chain is a cache, the top copy is whole) and reports the error.
	ts[1].(*tiertest.Tier).SetPutFault(func(artifact.ID) error { return errors.New("disk on fire") })
	if err := e.Store(ctx, id("half"), []byte("hello"), StoreOptions{}); err == nil {
		t.Fatal("want the lower tier's error")
	}
	// Config validation.
	if _, err := NewEngine(Config{}); err == nil {
		t.Fatal("no tiers accepted")
	}
	if _, err := NewEngine(Config{Tiers: []tiers.Tier{tiertest.New("a", 1), tiertest.New("a", 1)}}); err == nil {
		t.Fatal("duplicate names accepted")
	}
	// Store over a tier's capacity.
	if err := e.Store(ctx, id("cap"), make([]byte, 2<<20), StoreOptions{}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over capacity: %v", err)
	}
}

func TestCollisionDetected(t *testing.T) {
	e, _ := newEngine(t, []int64{1 << 20}, nil, false)
	ctx := context.Background()
	a := artifact.WithHash(artifact.NamespaceKV, []byte("alpha"), 42)
	b := artifact.WithHash(artifact.NamespaceKV, []byte("beta"), 42)
	if err := e.Store(ctx, a, []byte("A"), StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Load(ctx, nil, b, Chain()); !errors.Is(err, ErrCollision) {
		t.Fatalf("colliding load served: %v", err)
	}
	if err := e.Store(ctx, b, []byte("B"), StoreOptions{}); !errors.Is(err, ErrCollision) {
		t.Fatalf("colliding store: %v", err)
	}
	if ok, _ := e.Contains(ctx, b, Chain()); ok {
		t.Fatal("contains reported a colliding key")
	}
	got, err := e.Load(ctx, nil, a, Chain())
	if err != nil || string(got) != "A" {
		t.Fatalf("original damaged: %q %v", got, err)
	}
}

func TestDeleteAlsoDropsDirty(t *testing.T) {
	e, f := newEngine(t, []int64{1 << 20, 1 << 20}, []LinkConfig{wb(1 << 20)}, false)
	ctx := context.Background()
	if err := e.Store(ctx, id("d"), []byte("doomed"), StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	found, err := e.Delete(ctx, id("d"))
	if err != nil || !found {
		t.Fatalf("delete: %v %v", found, err)
	}
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if f[0].Contains(id("d")) || f[1].Contains(id("d")) {
		t.Fatal("deleted artifact came back through the flush")
	}
	if found, _ := e.Delete(ctx, id("d")); found {
		t.Fatal("second delete found it")
	}
}

// With a 10 KiB dirty bound and a flush only when the bound is reached,
// 100 stores of 1 KiB must wait for flushes (backpressure), never exceed
// the bound, and lose nothing.
func TestWriteBackBackpressure(t *testing.T) {
	e, f := newEngine(t, []int64{1 << 20, 1 << 20}, []LinkConfig{wb(10 << 10)}, false)
	ctx := context.Background()
	var wg sync.WaitGroup
	var st EngineStats
	stop := make(chan struct{})
	maxSeen := int64(0)
	var mu sync.Mutex
	go func() { // sample the bound while writers run
		var s EngineStats
		for {
			select {
			case <-stop:
				return
			default:
			}
			e.Stats(&s)
			mu.Lock()
			maxSeen = max(maxSeen, s.Links[0].DirtyBytes)
			mu.Unlock()
		}
	}()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				k := fmt.Sprintf("w%d-%d", w, i)
				if err := e.Store(ctx, id(k), payload(int64(w*100+i), 1024), StoreOptions{}); err != nil {
					t.Error(err)
				}
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	e.Stats(&st)
	mu.Lock()
	defer mu.Unlock()
	if maxSeen > 10<<10 {
		t.Fatalf("dirty bytes reached %d > bound %d", maxSeen, 10<<10)
	}
	if st.Links[0].Flushed < 100 {
		t.Fatalf("flushed %d, want 100", st.Links[0].Flushed)
	}
	for w := 0; w < 4; w++ {
		for i := 0; i < 25; i++ {
			if !f[1].Holds(id(fmt.Sprintf("w%d-%d", w, i)), payload(int64(w*100+i), 1024)) {
				t.Fatalf("w%d-%d missing below", w, i)
			}
		}
	}
}

func TestStoreHonoursDeadlineUnderBackpressure(t *testing.T) {
	// The lower tier refuses everything, so dirty bytes never drain.
	e, f := newEngine(t, []int64{1 << 20, 1 << 20}, []LinkConfig{wb(2048)}, false)
	f[1].SetPutFault(func(artifact.ID) error { return tiers.ErrNoSpace })
	ctx := context.Background()
	if err := e.Store(ctx, id("a"), make([]byte, 2000), StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := e.Store(dctx, id("b"), make([]byte, 2000), StoreOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	if f[0].Contains(id("b")) {
		t.Fatal("a store that timed out in backpressure was written")
	}
	f[1].SetPutFault(nil)
}

func TestSupervisorRestartKeepsData(t *testing.T) {
	e, _ := newEngine(t, []int64{1 << 20, 1 << 20}, []LinkConfig{wb(1 << 20)}, false)
	ctx := context.Background()
	p := payload(5, 4096)
	if err := e.Store(ctx, id("keep"), p, StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	c := &crashMsg{reply: newReply(), Reason: "test"}
	if _, err := e.request(ctx, &e.tiers[0].health, e.tiers[0].pid, c, c.done); !errors.Is(err, ErrActorCrashed) {
		t.Fatalf("crash reply: %v", err)
	}
	c2 := &crashMsg{reply: newReply(), Reason: "test"}
	if _, err := e.request(ctx, &e.links[0].health, e.links[0].pid, c2, c2.done); !errors.Is(err, ErrActorCrashed) {
		t.Fatalf("crash reply: %v", err)
	}
	var st EngineStats
	waitFor(t, "restarts", func() bool {
		e.Stats(&st)
		return st.Tiers[0].Restarts == 1 && st.Links[0].Restarts == 1
	})
	// The restarted actors serve with the same state: the data is there, the
	// dirty set survived, new stores work.
	got, err := e.Load(ctx, nil, id("keep"), Chain())
	if err != nil || !bytes.Equal(got, p) {
		t.Fatalf("after restart: %v", err)
	}
	if st.Links[0].DirtyArtifacts != 1 {
		t.Fatalf("dirty set lost in restart: %d", st.Links[0].DirtyArtifacts)
	}
	if err := e.Store(ctx, id("after"), p, StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}
