package memory

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/eviction"
)

func newTestTier(t testing.TB, capacity int64, mod ...func(*Config)) *Tier {
	t.Helper()
	cfg := Config{CapacityBytes: capacity, Policy: newLRU()}
	for _, m := range mod {
		m(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func key(i int) artifact.ID { return artifact.MustID(artifact.NamespaceKV, fmt.Sprintf("k%d", i)) }

// fill returns n deterministic bytes for seed.
func fill(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func stats(tr *Tier) tiers.Stats {
	var s tiers.Stats
	tr.Stats(&s)
	return s
}

func TestConfigValidate(t *testing.T) {
	good := Config{CapacityBytes: 1 << 20, Policy: newLRU()}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]Config{
		"no capacity":   {Policy: newLRU()},
		"negative":      {CapacityBytes: -1, Policy: newLRU()},
		"no policy":     {CapacityBytes: 1 << 20},
		"align not pow": {CapacityBytes: 1 << 20, Policy: newLRU(), Alignment: 3000},
		"align small":   {CapacityBytes: 1 << 20, Policy: newLRU(), Alignment: 32},
		"below align":   {CapacityBytes: 1000, Policy: newLRU()},
		"shards":        {CapacityBytes: 1 << 20, Policy: newLRU(), Shards: 3},
		"max negative":  {CapacityBytes: 1 << 20, Policy: newLRU(), MaxArtifactBytes: -5},
	}
	for name, c := range bad {
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Validate = %v, want ErrConfig", name, err)
		}
		if tr, err := New(c); err == nil || tr != nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestPutGetViewStat(t *testing.T) {
	tr := newTestTier(t, 1<<20)
	id := key(1)
	p := fill(1, 10000)
	meta := artifact.Meta{DType: artifact.DTypeF16, Shape: []int64{2, 2500}, Epoch: 7}
	if err := tr.Put(id, p, tiers.PutOptions{Meta: meta}); err != nil {
		t.Fatal(err)
	}
	if !tr.Contains(id) {
		t.Fatal("Contains false after Put")
	}
	dst := make([]byte, 20000)
	got, err := tr.Get(dst, id)
	if err != nil || !bytes.Equal(got, p) {
		t.Fatalf("Get: %v, equal %v", err, bytes.Equal(got, p))
	}
	if _, err := tr.Get(make([]byte, 9999), id); !errors.Is(err, tiers.ErrShortBuffer) {
		t.Fatalf("short Get: %v", err)
	}
	v, err := tr.View(id)
	if err != nil || !bytes.Equal(v.Bytes(), p) {
		t.Fatalf("View: %v", err)
	}
	m := v.Meta()
	v.Release()
	if m.Length != 10000 || m.Checksum != artifact.Checksum(p) || m.DType != artifact.DTypeF16 ||
		len(m.Shape) != 2 || m.Epoch != 7 || m.Created == 0 || m.Accessed < m.Created {
		t.Fatalf("meta %+v", m)
	}
	sm, err := tr.Stat(id)
	if err != nil || sm.Checksum != m.Checksum {
		t.Fatalf("Stat %+v %v", sm, err)
	}
	if _, err := tr.Get(dst, key(2)); !errors.Is(err, tiers.ErrNotFound) {
		t.Fatalf("missing Get: %v", err)
	}
	s := stats(tr)
	if s.Artifacts != 1 || s.UsedBytes != 12288 || s.Puts != 1 || s.Hits != 3 || s.Misses != 1 ||
		s.CapacityBytes != 1<<20 || s.Kind != tiers.KindMemory || s.Name != "memory" {
		t.Fatalf("stats %+v", s)
	}
	if !tr.Delete(id) || tr.Delete(id) || tr.Contains(id) {
		t.Fatal("Delete")
	}
	if s := stats(tr); s.UsedBytes != 0 || s.Artifacts != 0 || s.Deletes != 1 {
		t.Fatalf("stats after delete %+v", s)
	}
	// Empty payloads are legal and cost no extent.
	if err := tr.Put(id, nil, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := tr.Get(nil, id); err != nil || len(got) != 0 {
		t.Fatalf("empty Get %v %v", got, err)
	}
}

func TestPutErrors(t *testing.T) {
	tr := newTestTier(t, 64<<10, func(c *Config) { c.MaxArtifactBytes = 32 << 10 })
	if err := tr.Put(key(1), make([]byte, 32<<10+1), tiers.PutOptions{}); !errors.Is(err, tiers.ErrTooLarge) {
		t.Fatalf("over max: %v", err)
	}
	if s := stats(tr); s.UsedBytes != 0 {
		t.Fatalf("ErrTooLarge left %d bytes used", s.UsedBytes)
	}
	if err := tr.Put(artifact.ID{Namespace: artifact.NamespaceKV}, []byte("x"), tiers.PutOptions{}); !errors.Is(err, artifact.ErrEmptyKey) {
		t.Fatalf("empty key: %v", err)
	}
	if _, err := tr.Get(nil, artifact.ID{Namespace: artifact.NamespaceKV}); !errors.Is(err, artifact.ErrEmptyKey) {
		t.Fatalf("empty key Get: %v", err)
	}
	if err := tr.Put(artifact.ID{Key: []byte("k")}, []byte("x"), tiers.PutOptions{}); !errors.Is(err, artifact.ErrUnknownNamespace) {
		t.Fatalf("bad namespace: %v", err)
	}
	// Capacity larger than the tier even with a large max.
	big := newTestTier(t, 64<<10, func(c *Config) { c.MaxArtifactBytes = 1 << 30 })
	if err := big.Put(key(1), make([]byte, 64<<10+1), tiers.PutOptions{}); !errors.Is(err, tiers.ErrTooLarge) {
		t.Fatalf("over capacity: %v", err)
	}

	// Everything pinned: ErrNoSpace, and nothing left allocated.
	p := newTestTier(t, 64<<10, func(c *Config) { c.SpaceWait = -1 })
	for i := range 4 {
		if err := p.Put(key(i), make([]byte, 16<<10), tiers.PutOptions{Pin: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Put(key(9), make([]byte, 4096), tiers.PutOptions{}); !errors.Is(err, tiers.ErrNoSpace) {
		t.Fatalf("all pinned: %v", err)
	}
	if s := stats(p); s.UsedBytes != 64<<10 || s.Artifacts != 4 {
		t.Fatalf("after ErrNoSpace %+v", s)
	}
	if err := p.Unpin(key(2)); err != nil {
		t.Fatal(err)
	}
	if err := p.Put(key(9), make([]byte, 4096), tiers.PutOptions{}); err != nil {
		t.Fatalf("after unpin: %v", err)
	}
	if p.Contains(key(2)) || !p.Contains(key(1)) {
		t.Fatal("the unpinned artifact should have been the victim")
	}
}

func TestCollision(t *testing.T) {
	tr := newTestTier(t, 1<<20)
	a := artifact.WithHash(artifact.NamespaceKV, []byte("alpha"), 42)
	b := artifact.WithHash(artifact.NamespaceKV, []byte("beta"), 42)
	c := artifact.WithHash(artifact.NamespaceParam, []byte("alpha"), 42)
	pa := fill(1, 5000)
	if err := tr.Put(a, pa, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, other := range []artifact.ID{b, c} {
		if err := tr.Put(other, fill(2, 5000), tiers.PutOptions{}); !errors.Is(err, tiers.ErrCollision) {
			t.Fatalf("colliding Put: %v", err)
		}
		if _, err := tr.Get(make([]byte, 5000), other); !errors.Is(err, tiers.ErrCollision) {
			t.Fatalf("colliding Get: %v", err)
		}
		if _, err := tr.View(other); !errors.Is(err, tiers.ErrCollision) {
			t.Fatalf("colliding View: %v", err)
		}
		if _, err := tr.Stat(other); !errors.Is(err, tiers.ErrCollision) {
			t.Fatalf("colliding Stat: %v", err)
		}
		if tr.Contains(other) || tr.Delete(other) {
			t.Fatal("colliding Contains/Delete true")
		}
		if err := tr.Pin(other); !errors.Is(err, tiers.ErrCollision) {
			t.Fatalf("colliding Pin: %v", err)
		}
	}
	got, err := tr.Get(make([]byte, 5000), a)
	if err != nil || !bytes.Equal(got, pa) {
		t.Fatalf("original after collisions: %v", err)
	}
	s := stats(tr)
	if s.Collisions < 8 || s.Artifacts != 1 || s.UsedBytes != 8192 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReplaceKeepsViewOfOld(t *testing.T) {
	tr := newTestTier(t, 1<<20)
	id := key(1)
	old, nw := fill(1, 100000), fill(2, 50000)
	if err := tr.Put(id, old, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	v, err := tr.View(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Put(id, nw, tiers.PutOptions{}); err != nil {
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
			if err := tr.Put(key(0), want, tiers.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			v, err := tr.View(key(0))
			if err != nil {
				t.Fatal(err)
			}
			off := v.(*entry).ext.off
			switch how {
			case "delete":
				tr.Delete(key(0))
			case "replace":
				if err := tr.Put(key(0), fill(7, unit), tiers.PutOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			// 100 Puts through a 16-unit arena: the LRU evicts key 0 early;
			// only the view keeps its extent from reuse.
			for i := 1; i <= 100; i++ {
				if err := tr.Put(key(i), fill(uint64(i), unit), tiers.PutOptions{}); err != nil {
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
			if err := tr.Put(key(1000), fill(1000, unit), tiers.PutOptions{}); err != nil {
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

func TestEvictFuncGetsValidBytes(t *testing.T) {
	const unit = 32 << 10
	tr := newTestTier(t, 8*unit)
	var evicted []int
	tr.SetEvictFunc(func(ev tiers.Evicted) {
		defer ev.View.Release()
		var i int
		if _, err := fmt.Sscanf(string(ev.ID.Key), "k%d", &i); err != nil {
			t.Errorf("victim key %q", ev.ID.Key)
			return
		}
		m := ev.View.Meta()
		if !bytes.Equal(ev.View.Bytes(), fill(uint64(i), unit)) || m.Checksum != artifact.Checksum(ev.View.Bytes()) {
			t.Errorf("victim %d: bytes differ from what was stored", i)
		}
		if tr.Contains(ev.ID) {
			t.Errorf("victim %d still indexed while its hook runs", i)
		}
		evicted = append(evicted, i)
	})
	for i := range 20 {
		if err := tr.Put(key(i), fill(uint64(i), unit), tiers.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(evicted) != 12 {
		t.Fatalf("evicted %v, want 12 victims", evicted)
	}
	for j, i := range evicted {
		if i != j {
			t.Fatalf("LRU victims out of order: %v", evicted)
		}
	}
	s := stats(tr)
	if s.Evictions != 12 || s.EvictedBytes != 12*unit || s.PendingBytes != 0 || s.UsedBytes != 8*unit {
		t.Fatalf("stats %+v", s)
	}
}

func TestPinsAndTouch(t *testing.T) {
	const unit = 4096
	tr := newTestTier(t, 4*unit)
	for i := range 4 {
		if err := tr.Put(key(i), fill(uint64(i), unit), tiers.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Pin(key(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Get(make([]byte, unit), key(1)); err != nil { // touch: 1 is now recent
		t.Fatal(err)
	}
	if err := tr.Put(key(4), fill(4, unit), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if !tr.Contains(key(0)) || !tr.Contains(key(1)) || tr.Contains(key(2)) {
		t.Fatal("expected key 2 to be the victim (0 pinned, 1 touched)")
	}
	m, _ := tr.Stat(key(0))
	if m.Pins != 1 {
		t.Fatalf("pins %d", m.Pins)
	}
	// Pins survive replacement of the same key.
	if err := tr.Put(key(0), fill(50, unit), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if m, _ := tr.Stat(key(0)); m.Pins != 1 {
		t.Fatalf("pins after replace %d", m.Pins)
	}
	if err := tr.Unpin(key(0)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Unpin(key(0)); err != nil { // extra unpin: no-op
		t.Fatal(err)
	}
	if m, _ := tr.Stat(key(0)); m.Pins != 0 {
		t.Fatalf("pins after unpin %d", m.Pins)
	}
	if err := tr.Pin(key(77)); !errors.Is(err, tiers.ErrNotFound) {
		t.Fatalf("pin missing: %v", err)
	}
}

func TestTTLExpiresLazily(t *testing.T) {
	tr := newTestTier(t, 1<<20)
	id := key(1)
	if err := tr.Put(id, fill(1, 4096), tiers.PutOptions{Meta: artifact.Meta{TTL: time.Nanosecond}}); err != nil {
		t.Fatal(err)
	}
	// Two clock readings may be equal, so wait on the condition (a 1 ns
	// TTL passes at the next tick) rather than sleeping.
	for tr.Contains(id) {
		runtime.Gosched()
	}
	if _, err := tr.Get(make([]byte, 4096), id); !errors.Is(err, tiers.ErrNotFound) {
		t.Fatalf("expired Get: %v", err)
	}
	if s := stats(tr); s.Artifacts != 0 || s.UsedBytes != 0 {
		t.Fatalf("expired artifact not removed: %+v", s)
	}
	if err := tr.Put(key(2), fill(2, 4096), tiers.PutOptions{Meta: artifact.Meta{TTL: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if !tr.Contains(key(2)) {
		t.Fatal("unexpired artifact missing")
	}
}

func TestClose(t *testing.T) {
	tr, err := New(Config{CapacityBytes: 1 << 20, Policy: newLRU()})
	if err != nil {
		t.Fatal(err)
	}
	p := fill(3, 70000)
	if err := tr.Put(key(1), p, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Put(key(2), p, tiers.PutOptions{}); err != nil {
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
	if err := tr.Put(key(3), p, tiers.PutOptions{}); !errors.Is(err, tiers.ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	if err := tr.Pin(key(2)); !errors.Is(err, tiers.ErrClosed) {
		t.Fatalf("Pin after Close: %v", err)
	}
	if tr.Contains(key(2)) || tr.Delete(key(2)) {
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
		if err := tr.Put(key(i), fill(uint64(i), unit), tiers.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	v0, _ := tr.View(key(0))
	v1, _ := tr.View(key(1))
	done := make(chan error, 1)
	go func() { done <- tr.Put(key(2), fill(2, unit), tiers.PutOptions{}) }()
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
	if err := short.Put(key(0), fill(0, unit), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	v, _ := short.View(key(0))
	if err := short.Put(key(1), fill(1, unit), tiers.PutOptions{}); !errors.Is(err, tiers.ErrNoSpace) {
		t.Fatalf("Put against a held view: %v", err)
	}
	v.Release()
	if s := stats(short); s.UsedBytes != 0 || s.PendingBytes != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// Every policy eviction.New builds drives the tier: victims leave the index
// and reach the hook, pinned artifacts stay, the books balance.
func TestNamedPolicies(t *testing.T) {
	for _, name := range eviction.Names() {
		t.Run(name, func(t *testing.T) {
			const unit = 16 << 10
			tr, err := New(Config{CapacityBytes: 8 * unit, PolicyName: name, SpaceWait: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			var victims int
			tr.SetEvictFunc(func(ev tiers.Evicted) {
				defer ev.View.Release()
				var i int
				if _, err := fmt.Sscanf(string(ev.ID.Key), "k%d", &i); err != nil || i == 0 {
					t.Errorf("victim %q (k0 is pinned)", ev.ID.Key)
				}
				if !bytes.Equal(ev.View.Bytes(), fill(uint64(i), unit)) {
					t.Errorf("victim %d bytes differ", i)
				}
				victims++
			})
			if err := tr.Put(key(0), fill(0, unit), tiers.PutOptions{Pin: true}); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 4))
			for i := 1; i < 200; i++ {
				if err := tr.Put(key(i), fill(uint64(i), unit), tiers.PutOptions{}); err != nil {
					t.Fatal(err)
				}
				if _, err := tr.Get(make([]byte, unit), key(r.IntN(i+1))); err != nil && !errors.Is(err, tiers.ErrNotFound) {
					t.Fatal(err)
				}
			}
			s := stats(tr)
			if !tr.Contains(key(0)) || s.Artifacts != 8 || s.UsedBytes != 8*unit || victims != 192 || s.Evictions != 192 {
				t.Fatalf("victims %d, stats %+v", victims, s)
			}
		})
	}
	if _, err := New(Config{CapacityBytes: 1 << 20, PolicyName: "nope"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("unknown policy: %v", err)
	}
}

// When free space is fragmented, Put keeps evicting until a contiguous run
// fits, and the budget still holds.
func TestPutEvictsUntilContiguous(t *testing.T) {
	const unit = 4096
	tr := newTestTier(t, 8*unit)
	var victims []int
	tr.SetEvictFunc(func(ev tiers.Evicted) {
		var i int
		_, _ = fmt.Sscanf(string(ev.ID.Key), "k%d", &i)
		victims = append(victims, i)
		ev.View.Release()
	})
	for i := range 8 {
		if err := tr.Put(key(i), fill(uint64(i), unit), tiers.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Touch the even keys: the LRU order becomes 1 3 5 7 0 2 4 6, so the
	// first four victims free only isolated units.
	for i := 0; i < 8; i += 2 {
		if _, err := tr.Get(make([]byte, unit), key(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Put(key(100), fill(100, 2*unit), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []int{1, 3, 5, 7, 0}
	if fmt.Sprint(victims) != fmt.Sprint(want) {
		t.Fatalf("victims %v, want %v", victims, want)
	}
	s := stats(tr)
	if s.UsedBytes != 5*unit || s.Artifacts != 4 {
		t.Fatalf("stats %+v", s)
	}
	got, _ := tr.Get(make([]byte, 2*unit), key(100))
	if !bytes.Equal(got, fill(100, 2*unit)) {
		t.Fatal("payload")
	}
}
