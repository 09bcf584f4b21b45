package placement

import (
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/stratacache/stratacache/internal/docvectors"
)

func TestHomeIsDeterministicAndStable(t *testing.T) {
	names := []string{"n1", "n2", "n3", "n4", "n5"}
	rng := rand.New(rand.NewSource(3))
	count := map[string]int{}
	moved := 0
	const ids = 20000
	for i := 0; i < ids; i++ {
		h := rng.Uint64()
		home := Home(h, names)
		rev := []string{"n5", "n4", "n3", "n2", "n1"}
		if Home(h, rev) != home {
			t.Fatal("home depends on member order")
		}
		count[home]++
		// Removing n5 moves only n5's artifacts.
		if after := Home(h, names[:4]); after != home {
			if home != "n5" {
				t.Fatalf("artifact homed on %s moved to %s when n5 left", home, after)
			}
			moved++
		}
	}
	for _, n := range names {
		if c := count[n]; c < ids/5*8/10 || c > ids/5*12/10 {
			t.Errorf("%s is home to %d of %d (uneven)", n, c, ids)
		}
	}
	if moved != count["n5"] {
		t.Fatalf("moved %d, n5 had %d", moved, count["n5"])
	}
	if Home(1, nil) != "" {
		t.Fatal("home among no nodes")
	}
}

// Replicas is the rendezvous order: its first entry is the home, it does
// not depend on the order or repetition of names, and a member leaving
// only closes the gap it leaves (the others keep their relative order).
func TestReplicasAreTheRendezvousOrder(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e", "f", "g"}
	rng := rand.New(rand.NewSource(5))
	for i := 0; i < 2000; i++ {
		h := rng.Uint64()
		all := Replicas(nil, h, names, len(names))
		if len(all) != len(names) || all[0] != Home(h, names) {
			t.Fatalf("order %v, home %s", all, Home(h, names))
		}
		for j := 1; j < len(all); j++ {
			if Score(h, NodeKey(all[j-1])) < Score(h, NodeKey(all[j])) {
				t.Fatalf("not in descending score order: %v", all)
			}
		}
		shuffled := slices.Clone(names)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		shuffled = append(shuffled, shuffled[0], shuffled[3])
		if got := Replicas(nil, h, shuffled, 3); !slices.Equal(got, all[:3]) {
			t.Fatalf("top 3 %v with shuffled, duplicated names; want %v", got, all[:3])
		}
		gone := all[1]
		left := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == gone })
		want := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == gone })
		if got := Replicas(nil, h, left, len(left)); !slices.Equal(got, want) {
			t.Fatalf("after %s left: %v, want %v", gone, got, want)
		}
	}
	if got := Replicas([]string{"x"}, 1, nil, 3); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("no names: %v", got)
	}
	if got := Replicas(nil, 1, names, 0); len(got) != 0 {
		t.Fatalf("r=0: %v", got)
	}
}

// TestRendezvousVectors pins the placement function with the vectors of
// docs/hashing.md ("Placement"): a change breaks every client that routes
// by it.
func TestRendezvousVectors(t *testing.T) {
	names := []string{"node-a", "node-b", "node-c"}
	if k := NodeKey("node-a"); k != 0x05378e2c8885d70b {
		t.Errorf("NodeKey(node-a) = %#016x", k)
	}
	for _, c := range []struct {
		hash   uint64
		scores [3]uint64
		order  []string
	}{
		{0x0, [3]uint64{0xc90f8b5450322150, 0x4f9ae7e86f48aece, 0xa8befe8d84a8dfb5}, []string{"node-a", "node-c", "node-b"}},
		{0xfb17f16ced7ef596, [3]uint64{0xaf510201fe24cde9, 0x906af82d8bb20bc3, 0xc7fd18e695dccec3}, []string{"node-c", "node-a", "node-b"}},
		{0xffffffffffffffff, [3]uint64{0x2976fbb9797e33c2, 0x23c291b97af9a7ad, 0xd0a4111f205b4625}, []string{"node-c", "node-a", "node-b"}},
	} {
		for i, n := range names {
			if s := Score(c.hash, NodeKey(n)); s != c.scores[i] {
				t.Errorf("Score(%#016x, %s) = %#016x, want %#016x", c.hash, n, s, c.scores[i])
			}
		}
		if got := Replicas(nil, c.hash, names, 3); !slices.Equal(got, c.order) {
			t.Errorf("order of %#016x: %v, want %v", c.hash, got, c.order)
		}
		if h := Home(c.hash, names); h != c.order[0] {
			t.Errorf("home of %#016x: %s", c.hash, h)
		}
	}
}

// The same vectors as docs/hashing.md publishes them, read from the document.
func TestRendezvousDocVectors(t *testing.T) {
	rows, err := docvectors.Table(docvectors.Doc("hashing.md"), "rendezvous")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"node-a", "node-b", "node-c"}
	for _, r := range rows {
		h := parseU64(t, r["h"])
		for _, n := range names {
			if s, want := Score(h, NodeKey(n)), parseU64(t, r["score "+n]); s != want {
				t.Errorf("Score(%#016x, %s) = %#016x, want %#016x", h, n, s, want)
			}
		}
		want := strings.Split(r["order"], ",")
		for i := range want {
			want[i] = strings.TrimSpace(want[i])
		}
		if got := Replicas(nil, h, names, 3); !slices.Equal(got, want) {
			t.Errorf("order of %#016x: %v, want %v", h, got, want)
		}
	}
}
