package eviction

import (
	"errors"
	"slices"
	"testing"
)

func newPolicy(t testing.TB, name string, capacity int) Policy {
	t.Helper()
	p, err := New(name, capacity)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNew(t *testing.T) {
	want := []string{"lru", "fifo", "lfu", "s3fifo", "sieve", "arc", "prefix", "duel"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v", got)
	}
	Names()[0] = "mutated"
	if Names()[0] != "lru" {
		t.Fatal("Names returns the package's own slice")
	}
	for _, name := range want {
		for _, spelled := range []string{name, " " + name + " ", upper(name)} {
			p, err := New(spelled, 100)
			if err != nil {
				t.Fatalf("New(%q): %v", spelled, err)
			}
			if p.Name() != name {
				t.Fatalf("New(%q).Name() = %q", spelled, p.Name())
			}
		}
	}
	if _, err := New("clock", 10); !errors.Is(err, ErrUnknownPolicy) {
		t.Fatalf("New(clock) error = %v, want ErrUnknownPolicy", err)
	}
	if p, err := New("arc", -5); err != nil || p.Len() != 0 {
		t.Fatalf("New with negative capacity: %v", err)
	}
	if _, ok := newPolicy(t, "prefix", 0).(ParentAware); !ok {
		t.Fatal("prefix is not ParentAware")
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// TestAbsentKeys: Touch, Remove, Pin and Unpin of absent keys change nothing;
// Insert of a present key does not add a second entry.
func TestAbsentKeys(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			p := newPolicy(t, name, 4)
			p.Touch(7)
			p.Remove(7)
			p.Pin(7)
			p.Unpin(7)
			if p.Len() != 0 || p.Contains(7) {
				t.Fatal("absent-key operations created an entry")
			}
			if _, ok := p.Evict(); ok {
				t.Fatal("Evict on an empty policy reported ok")
			}
			p.Insert(0)
			p.Insert(0)
			p.Insert(3)
			if p.Len() != 2 || !p.Contains(0) || !p.Contains(3) {
				t.Fatalf("Len = %d after inserting 0 twice and 3", p.Len())
			}
			p.Remove(0)
			p.Remove(0)
			if p.Len() != 1 || p.Contains(0) {
				t.Fatal("Remove of key 0 did not forget it")
			}
			// A key pinned before it is inserted is not pinned once inserted.
			p.Pin(9)
			p.Insert(9)
			p.Unpin(3) // unpin of an unpinned key is ignored
			seen := map[uint64]bool{}
			for {
				k, ok := p.Evict()
				if !ok {
					break
				}
				seen[k] = true
			}
			if !seen[3] || !seen[9] || p.Len() != 0 {
				t.Fatalf("evicted %v, Len %d", seen, p.Len())
			}
		})
	}
}

// TestPins: a pinned key is never evicted, pins nest, Evict reports false
// when everything is pinned, and unpinned keys become candidates again.
func TestPins(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			p := newPolicy(t, name, 3)
			for k := uint64(0); k < 3; k++ {
				p.Insert(k)
			}
			p.Pin(0)
			p.Pin(0) // nested
			p.Pin(1)
			k, ok := p.Evict()
			if !ok || k != 2 {
				t.Fatalf("Evict = (%d, %v), want the only unpinned key 2", k, ok)
			}
			if k, ok := p.Evict(); ok {
				t.Fatalf("Evict = %d with every key pinned", k)
			}
			if p.Len() != 2 || !p.Contains(0) || !p.Contains(1) {
				t.Fatal("pinned keys lost")
			}
			p.Unpin(0) // still pinned once
			if k, ok := p.Evict(); ok {
				t.Fatalf("Evict = %d while 0 still holds a pin", k)
			}
			p.Unpin(1)
			if k, ok := p.Evict(); !ok || k != 1 {
				t.Fatalf("Evict = (%d, %v), want 1 after its unpin", k, ok)
			}
			p.Unpin(0)
			if k, ok := p.Evict(); !ok || k != 0 {
				t.Fatalf("Evict = (%d, %v), want 0 after its last unpin", k, ok)
			}
			// Removing a pinned key forgets it and its pins.
			p.Insert(5)
			p.Pin(5)
			p.Remove(5)
			p.Insert(5)
			if k, ok := p.Evict(); !ok || k != 5 {
				t.Fatalf("re-inserted key kept an old pin: (%d, %v)", k, ok)
			}
		})
	}
}

// TestPinnedKeysKeepTheirPlace: a pinned key keeps its position and is the
// first victim once unpinned (SIEVE: once the hand comes round again).
func TestPinnedKeysKeepTheirPlace(t *testing.T) {
	for name, script := range map[string]string{
		"lru":    "i1 i2 i3 p1 e2 u1 e1 e3 e-",
		"fifo":   "i1 i2 i3 p1 e2 u1 e1 e3 e-",
		"lfu":    "i1 i2 i3 p1 e2 u1 e1 e3 e-",
		"prefix": "i1 i2 i3 p1 e2 u1 e1 e3 e-",
		"sieve":  "i1 i2 i3 p1 e2 u1 e3 e1 e-",
		"s3fifo": "i1 i2 i3 p1 e2 u1 e1 e3 e-",
		"arc":    "i1 i2 i3 p1 e2 u1 e1 e3 e-",
	} {
		t.Run(name, func(t *testing.T) {
			runScript(t, newPolicy(t, name, 3), 3, script)
		})
	}
}

// TestChurn runs many accesses through every policy at a fixed capacity and
// checks Len bookkeeping and that ghosts stay bounded.
func TestChurn(t *testing.T) {
	trace := zipfTrace(9, 200_000, 20_000)
	for _, name := range Names() {
		for _, capacity := range []int{1, 2, 1000} {
			p := newPolicy(t, name, capacity)
			for _, k := range trace {
				access(p, k, capacity)
				if p.Len() > capacity {
					t.Fatalf("%s: Len %d above capacity %d after access", name, p.Len(), capacity)
				}
			}
			if p.Len() != capacity {
				t.Fatalf("%s cap %d: Len = %d", name, capacity, p.Len())
			}
			switch g := p.(type) {
			case *S3FIFO:
				if g.Ghosts() > max(1, capacity-capacity/10) {
					t.Fatalf("s3fifo cap %d: %d ghosts", capacity, g.Ghosts())
				}
			case *ARC:
				if g.Ghosts() > capacity || g.Target() < 0 || g.Target() > capacity {
					t.Fatalf("arc cap %d: %d ghosts, p=%d", capacity, g.Ghosts(), g.Target())
				}
			}
			for p.Len() > 0 {
				if _, ok := p.Evict(); !ok {
					t.Fatalf("%s: Evict failed with Len %d", name, p.Len())
				}
			}
		}
	}
}

// TestGhostsBoundedWithUnknownCapacity: with capacity 0 the ghosts follow
// the current Len, also while the owner lets Len float.
func TestGhostsBoundedWithUnknownCapacity(t *testing.T) {
	trace := zipfTrace(11, 100_000, 50_000)
	for _, name := range []string{"s3fifo", "arc"} {
		p := newPolicy(t, name, 0)
		for i, k := range trace {
			// A byte-budget owner: the budget swings between 200 and 400.
			budget := 200 + (i/5000%2)*200
			access(p, k, budget)
			var ghosts int
			switch g := p.(type) {
			case *S3FIFO:
				ghosts = g.Ghosts()
			case *ARC:
				ghosts = g.Ghosts()
			}
			if ghosts > 400 {
				t.Fatalf("%s: %d ghosts with at most 400 resident keys", name, ghosts)
			}
		}
	}
}

func TestZeroAllocAccess(t *testing.T) {
	trace := zipfTrace(5, 1<<14, 4000)
	for _, name := range Names() {
		p := newPolicy(t, name, 400)
		for _, k := range trace {
			access(p, k, 400)
		}
		i := 0
		allocs := testing.AllocsPerRun(10_000, func() {
			access(p, trace[i&(len(trace)-1)], 400)
			i++
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per access in steady state", name, allocs)
		}
	}
}
