package eviction

import "testing"

// FuzzPolicies plays random operation sequences on every policy against a
// model of the contract: the set of present keys and their pin counts. It
// checks that Len and Contains match the model and that Evict returns only
// present, unpinned keys, failing only when every key is pinned.
//
//	go test -run XXX -fuzz FuzzPolicies ./tiers/eviction/
func FuzzPolicies(f *testing.F) {
	f.Add([]byte{3, 0, 1, 0, 2, 0, 3, 4, 0, 4, 1, 5, 1, 4, 0})
	f.Add([]byte{0, 0, 0, 0, 9, 5, 9, 4, 0, 4, 0, 6, 9, 7, 9, 4, 0})
	f.Add([]byte{10, 8, 2, 0, 1, 0, 2, 8, 3, 0, 3, 4, 1, 2, 1, 4, 0, 4, 0, 4, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		capacity := int(data[0] % 16)
		ops := data[1:]
		for _, name := range Names() {
			p, err := New(name, capacity)
			if err != nil {
				t.Fatal(err)
			}
			checkModel(t, p, ops)
		}
	})
}

func checkModel(t *testing.T, p Policy, ops []byte) {
	pins := map[uint64]int{} // present keys -> pin count
	for n := 0; n+1 < len(ops); n += 2 {
		op, k := ops[n]%10, uint64(ops[n+1]%32)
		switch op {
		case 0:
			p.Insert(k)
			if _, ok := pins[k]; !ok {
				pins[k] = 0
			}
		case 1:
			p.Touch(k)
		case 2:
			p.Remove(k)
			delete(pins, k)
		case 3, 4:
			got, ok := p.Evict()
			if !ok {
				for key, c := range pins {
					if c == 0 {
						t.Fatalf("%s op %d: Evict failed while %d is unpinned", p.Name(), n, key)
					}
				}
				break
			}
			c, present := pins[got]
			if !present {
				t.Fatalf("%s op %d: Evict returned absent key %d", p.Name(), n, got)
			}
			if c > 0 {
				t.Fatalf("%s op %d: Evict returned pinned key %d", p.Name(), n, got)
			}
			delete(pins, got)
		case 5:
			p.Pin(k)
			if c, ok := pins[k]; ok {
				pins[k] = c + 1
			}
		case 6:
			p.Unpin(k)
			if c, ok := pins[k]; ok && c > 0 {
				pins[k] = c - 1
			}
		case 7:
			_, want := pins[k]
			if got := p.Contains(k); got != want {
				t.Fatalf("%s op %d: Contains(%d) = %v, want %v", p.Name(), n, k, got, want)
			}
		default:
			if pa, ok := p.(ParentAware); ok {
				pa.SetParent(k, uint64(ops[n]/10%8))
			} else {
				p.Touch(k)
			}
		}
		if p.Len() != len(pins) {
			t.Fatalf("%s op %d: Len = %d, model %d", p.Name(), n, p.Len(), len(pins))
		}
	}
	for key := range pins {
		if !p.Contains(key) {
			t.Fatalf("%s: lost key %d", p.Name(), key)
		}
	}
}

// TestModelRandom runs the fuzz body over seeded random inputs so that the
// ordinary test run covers it too.
func TestModelRandom(t *testing.T) {
	var s uint64 = 12345
	next := func() byte {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		return byte(s)
	}
	for run := 0; run < 300; run++ {
		ops := make([]byte, 2000)
		for i := range ops {
			ops[i] = next()
		}
		for _, name := range Names() {
			checkModel(t, newPolicy(t, name, run%16), ops)
		}
	}
}
