package actors

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

func memEngine(t *testing.T, link LinkConfig, maxArtifact int64) (*Engine, tiers.Tier, tiers.Tier) {
	t.Helper()
	top, low := memTier(t, "cpu", 4<<20), memTier(t, "cpu2", 16<<20)
	e, err := NewEngine(Config{Tiers: []tiers.Tier{top, low}, Links: []LinkConfig{link}, MaxArtifactBytes: maxArtifact})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e, top, low
}

func holds(t *testing.T, tr tiers.Tier, k string, p []byte) bool {
	t.Helper()
	got, err := tr.Get(make([]byte, len(p)), id(k))
	return err == nil && bytes.Equal(got, p)
}

func copyFill(p []byte) func([]byte) error {
	return func(dst []byte) error {
		if len(dst) != len(p) {
			return errors.New("wrong dst length")
		}
		copy(dst, p)
		return nil
	}
}

// In place into the top memory tier, then copied down a write-through link
// before StoreFill returns.
func TestStoreFillWriteThrough(t *testing.T) {
	e, top, low := memEngine(t, wt(), 0)
	p := payload(3, 300_000)
	if err := e.StoreFill(context.Background(), id("f"), int64(len(p)), StoreOptions{}, copyFill(p)); err != nil {
		t.Fatal(err)
	}
	if !holds(t, top, "f", p) || !holds(t, low, "f", p) {
		t.Fatal("write-through StoreFill did not reach both tiers")
	}
	got, err := e.Load(context.Background(), nil, id("f"), Chain())
	if err != nil || !bytes.Equal(got, p) {
		t.Fatalf("load: %v", err)
	}
}

// A failing fill stores nothing anywhere and gives back the write-back
// link's dirty reservation.
func TestStoreFillErrorLeavesNothing(t *testing.T) {
	for _, link := range []LinkConfig{wt(), wb(1 << 20)} {
		e, top, low := memEngine(t, link, 0)
		boom := errors.New("client went away")
		err := e.StoreFill(context.Background(), id("x"), 100_000, StoreOptions{}, func(dst []byte) error {
			copy(dst, payload(1, 5000))
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the fill's", err)
		}
		if top.Contains(id("x")) || low.Contains(id("x")) {
			t.Fatal("failed fill left an artifact")
		}
		var st EngineStats
		e.Stats(&st)
		if st.Links[0].DirtyBytes != 0 || st.Links[0].DirtyArtifacts != 0 {
			t.Fatalf("dirty state after a failed fill: %+v", st.Links[0])
		}
		var ts tiers.Stats
		top.Stats(&ts)
		if ts.UsedBytes != 0 {
			t.Fatalf("top tier still uses %d bytes", ts.UsedBytes)
		}
	}
}

// Through a write-back link the artifact is marked dirty and reaches the
// lower tier on Flush, not before.
func TestStoreFillWriteBackMarksDirty(t *testing.T) {
	e, top, low := memEngine(t, wb(1<<20), 0)
	p := payload(4, 64<<10)
	ctx := context.Background()
	if err := e.StoreFill(ctx, id("d"), int64(len(p)), StoreOptions{}, copyFill(p)); err != nil {
		t.Fatal(err)
	}
	if !holds(t, top, "d", p) || low.Contains(id("d")) {
		t.Fatal("write-back StoreFill: want top only before a flush")
	}
	var st EngineStats
	waitFor(t, "one dirty artifact", func() bool { e.Stats(&st); return st.Links[0].DirtyArtifacts == 1 })
	if st.Links[0].DirtyBytes != int64(len(p)) {
		t.Fatalf("dirty bytes %d, want %d", st.Links[0].DirtyBytes, len(p))
	}
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !holds(t, low, "d", p) {
		t.Fatal("flush did not write the filled artifact down")
	}
}

// Limits are checked before fill runs: the caller can still skip the bytes.
func TestStoreFillTooLargeRefusedBeforeFill(t *testing.T) {
	e, top, _ := memEngine(t, wt(), 1<<20)
	called := false
	fill := func([]byte) error { called = true; return nil }
	err := e.StoreFill(context.Background(), id("big"), 2<<20, StoreOptions{}, fill)
	if !errors.Is(err, ErrTooLarge) || called {
		t.Fatalf("engine limit: err = %v, fill called %v", err, called)
	}
	// Under the engine's limit but over the tier's capacity.
	e2, _, _ := memEngine(t, wt(), 64<<20)
	err = e2.StoreFill(context.Background(), id("big"), 8<<20, StoreOptions{}, fill)
	if !errors.Is(err, ErrTooLarge) || called {
		t.Fatalf("tier limit: err = %v, fill called %v", err, called)
	}
	if err := e.StoreFill(context.Background(), artifact.ID{Namespace: artifact.NamespaceKV}, 10, StoreOptions{}, fill); !errors.Is(err, ErrInvalidKey) || called {
		t.Fatalf("bad key: err = %v, fill called %v", err, called)
	}
	if top.Contains(id("big")) {
		t.Fatal("refused store left an artifact")
	}
}

// Tiers that cannot be filled in place go through a buffer and Store.
func TestStoreFillFallback(t *testing.T) {
	e, f := newEngine(t, []int64{1 << 20, 1 << 20}, []LinkConfig{wt()}, false)
	p := payload(5, 5000)
	if err := e.StoreFill(context.Background(), id("b"), int64(len(p)), StoreOptions{}, copyFill(p)); err != nil {
		t.Fatal(err)
	}
	if !f[0].Holds(id("b"), p) || !f[1].Holds(id("b"), p) {
		t.Fatal("fallback StoreFill did not reach both tiers")
	}
	boom := errors.New("boom")
	if err := e.StoreFill(context.Background(), id("c"), 10, StoreOptions{}, func([]byte) error { return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if f[0].Contains(id("c")) {
		t.Fatal("failed fallback fill stored")
	}
}
