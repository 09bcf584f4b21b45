package eviction

import (
	"strconv"
	"strings"
	"testing"
)

// runScript plays a script of space-separated steps against p:
//
//	i5  Insert(5)        t5  Touch(5)        r5  Remove(5)
//	p5  Pin(5)           u5  Unpin(5)        e5  Evict() must return 5
//	e-  Evict() must report ok=false          c5 / n5  Contains(5) true / false
//	l3  Len() must be 3  s5:4  SetParent(5, 4) (ParentAware policies)
//	a5  access as the simulator does: Touch on a hit, else Insert and, while
//	    Len > cap, Evict (the evicted keys must match the next "=k" steps)
//	=5  the next key evicted by the preceding access
func runScript(t *testing.T, p Policy, capacity int, script string) {
	t.Helper()
	var pending []uint64 // keys evicted by the last access, not yet checked
	for n, step := range strings.Fields(script) {
		op, arg := step[0], step[1:]
		if op != '=' && len(pending) > 0 {
			t.Fatalf("step %d %q: access evicted %v, script expects none", n, step, pending)
		}
		num := func(s string) uint64 {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("step %d %q: bad number", n, step)
			}
			return v
		}
		switch op {
		case 'i':
			p.Insert(num(arg))
		case 't':
			p.Touch(num(arg))
		case 'r':
			p.Remove(num(arg))
		case 'p':
			p.Pin(num(arg))
		case 'u':
			p.Unpin(num(arg))
		case 'c', 'n':
			if got := p.Contains(num(arg)); got != (op == 'c') {
				t.Fatalf("step %d %q: Contains = %v", n, step, got)
			}
		case 'l':
			if got := p.Len(); got != int(num(arg)) {
				t.Fatalf("step %d %q: Len = %d", n, step, got)
			}
		case 'e':
			k, ok := p.Evict()
			if arg == "-" {
				if ok {
					t.Fatalf("step %d %q: Evict = %d, want ok=false", n, step, k)
				}
				continue
			}
			if !ok || k != num(arg) {
				t.Fatalf("step %d %q: Evict = (%d, %v)", n, step, k, ok)
			}
		case 's':
			key, parent, _ := strings.Cut(arg, ":")
			pa, ok := p.(ParentAware)
			if !ok {
				t.Fatalf("step %d %q: %s is not ParentAware", n, step, p.Name())
			}
			pa.SetParent(num(key), num(parent))
		case 'a':
			k := num(arg)
			if p.Contains(k) {
				p.Touch(k)
				continue
			}
			p.Insert(k)
			for p.Len() > capacity {
				v, ok := p.Evict()
				if !ok {
					t.Fatalf("step %d %q: Evict failed", n, step)
				}
				pending = append(pending, v)
			}
		case '=':
			if len(pending) == 0 || pending[0] != num(arg) {
				t.Fatalf("step %d %q: access evicted %v", n, step, pending)
			}
			pending = pending[1:]
		default:
			t.Fatalf("step %d %q: unknown op", n, step)
		}
	}
	if len(pending) > 0 {
		t.Fatalf("end of script: access evicted %v, script expects none", pending)
	}
}

// Expected orders worked out by hand from each algorithm's definition; the
// comments give the queue state (front = newest) where it is not obvious.
var scripts = []struct {
	name     string
	policy   string
	capacity int
	script   string
}{
	// LRU: 0 is an ordinary key. After t0: [0 2 1]; i3: [3 0 2 1].
	{"lru/order", "lru", 0, "i0 i1 i2 t0 i3 l4 e1 t2 e0 e3 e2 e- l0"},
	{"lru/insert-present-is-touch", "lru", 0, "i1 i2 i1 e2 e1 e-"},
	// FIFO: accesses do not reorder.
	{"fifo/order", "fifo", 0, "i0 i1 i2 t0 t0 i0 e0 i3 e1 e2 e3 e-"},
	// LFU: freq 1:3 2:2 3:1, 4 newest at freq 1 -> 3, 4; then 1 and 2 at
	// freq 3, 1 got there first (LRU among equals).
	{"lfu/order", "lfu", 0, "i1 i2 i3 t1 t1 t2 i4 e3 e4 t2 e1 e2 e-"},
	{"lfu/recency-breaks-ties", "lfu", 0, "i1 i2 i3 t3 t2 t1 e3 e2 e1"},
	// SIEVE: queue [4 3 2 1], 1 and 3 visited. Hand from the back: clear 1,
	// evict 2, hand at 3. i5: [5 4 3 1]. Clear 3, evict 4, hand at 5; evict 5,
	// hand past the front; from the back: 1 (cleared), then 3.
	{"sieve/order", "sieve", 0, "i1 i2 i3 i4 t1 t3 e2 i5 e4 e5 e1 e3 e-"},
	{"sieve/new-keys-go-first", "sieve", 0, "i1 i2 t1 t2 i3 e3 e1 e2"},
	// S3-FIFO, capacity 10: small target 1, ghost 9. i1..i11 fill S. First
	// eviction: 1 and 2 (touched) move to M, 3 goes to the ghost. 4 too.
	// i3 hits the ghost and enters M: M = [3 2 1]. 5..11 leave S for G.
	// Then M: 1 has a credit (t1): reinserted, 2 and 3 evicted, then 1.
	{"s3fifo/order", "s3fifo", 10,
		"i1 i2 i3 i4 i5 i6 i7 i8 i9 i10 i11 t1 t2 t2 e3 e4 n3 i3 c3 t1 " +
			"e5 e6 e7 e8 e9 e10 e11 l3 e2 e3 e1 e- l0"},
	// Main-queue 2-bit CLOCK. S = [3 2 1], 1 and 2 touched: both move to M
	// with counters reset (M = [2 1]), 3 is evicted to the ghost. In M, five
	// touches of 1 saturate at 3, 2 gets 1. Sweep: 1 (3->2, to front), 2
	// (1->0, to front), 1 (2->1), 2 evicted; then 1 (1->0), 1 evicted.
	{"s3fifo/main-clock", "s3fifo", 10,
		"i1 i2 t1 t1 t1 t1 t2 i3 e3 l2 t1 t1 t1 t1 t1 t2 e2 e1 e- l0"},
	// Capacity 0: targets follow Len (small target max(1, Len/10)).
	{"s3fifo/capacity-unknown", "s3fifo", 0, "i1 i2 i3 t2 e1 e3 e2 e-"},
	// ARC, c=4, driven like the simulator (Insert, then Evict while Len > 4).
	// a5: T1 [4 3 2] T2 [1], p=0: REPLACE takes T1's LRU 2 -> B1.
	// a2 (B1 hit): p=1, |T1|=3 > 1: 3 -> B1; T2 [2 1].
	// a6: |T1|=2 > 1: 4 -> B1. a3 (B1 hit): p=2, |T1|=2 = p: T2's LRU 1 -> B2.
	// a1 (B2 hit): p=1, |T1|=2 > 1: 5 -> B1. a7: |T1|=1 = p: T2's LRU 2 -> B2.
	// a8: |T1|+|B1| = 4 = c: drop B1's LRU (4); |T1|=2 > 1: 6 -> B1.
	{"arc/paper-walkthrough", "arc", 4,
		"a1 a2 a3 a4 a1 a5 =2 a2 =3 a6 =4 a3 =1 a1 =5 a7 =2 a8 =6 " +
			"c1 c3 c7 c8 n2 n4 n5 n6 l4"},
	// Prefix: chains 1->2->3 and 4->5, root 6. Leaves 3 5 6 by age.
	// Evicting 3 makes 2 a leaf with its old access time (oldest), then 1;
	// t1 makes 1 the newest leaf.
	{"prefix/leaves-first", "prefix", 0,
		"s2:1 s3:2 i1 i2 i3 s5:4 i4 i5 i6 e3 e2 t1 e5 e4 e6 e1 e-"},
	// A child inserted before its parent still counts as its child.
	{"prefix/child-first", "prefix", 0, "s11:10 i11 i10 e11 e10 e-"},
	// A removed parent's children stay; re-inserting the parent re-attaches them.
	{"prefix/remove-parent", "prefix", 0, "i1 s2:1 i2 r1 l1 i1 e2 e1 e-"},
	// All leaves pinned: fall back to the LRU inner key.
	{"prefix/pinned-leaf-fallback", "prefix", 0, "i1 s2:1 i2 p2 e1 e- u2 e2 e-"},
	// SetParent on a cached key re-parents it.
	{"prefix/reparent", "prefix", 0, "i1 i2 i3 s3:1 e2 s3:0 e1 e3"},
	// Parent 0 means root; key 0 itself is a valid block.
	{"prefix/key-zero", "prefix", 0, "s0:0 i0 i5 c0 e0 e5 e-"},
}

func TestScripts(t *testing.T) {
	for _, s := range scripts {
		t.Run(s.name, func(t *testing.T) {
			p, err := New(s.policy, s.capacity)
			if err != nil {
				t.Fatal(err)
			}
			runScript(t, p, s.capacity, s.script)
		})
	}
}
