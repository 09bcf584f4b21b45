package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/eviction"
)

func TestEvictFuncGetsValidBytes(t *testing.T) {
	const unit = 32 << 10
	tr := newTestTier(t, 8*unit)
	var evicted []int
	tr.SetEvictFunc(func(_ context.Context, ev tiers.Evicted) {
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
		// The victim stays readable until its hook returns, so a reader
		// never finds it neither here nor where it is being demoted to.
		if !tr.Contains(ev.ID) {
			t.Errorf("victim %d not readable while its hook runs", i)
		}
		evicted = append(evicted, i)
	})
	for i := range 20 {
		if err := tr.Put(context.Background(), key(i), fill(uint64(i), unit), tiers.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(evicted) != 12 {
		t.Fatalf("evicted %v, want 12 victims", evicted)
	}
	for _, i := range evicted {
		if tr.Contains(key(i)) {
			t.Fatalf("victim %d still indexed after its hook returned", i)
		}
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
		if err := tr.Put(context.Background(), key(i), fill(uint64(i), unit), tiers.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Pin(key(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Get(make([]byte, unit), key(1)); err != nil { // touch: 1 is now recent
		t.Fatal(err)
	}
	if err := tr.Put(context.Background(), key(4), fill(4, unit), tiers.PutOptions{}); err != nil {
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
	if err := tr.Put(context.Background(), key(0), fill(50, unit), tiers.PutOptions{}); err != nil {
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
			tr.SetEvictFunc(func(_ context.Context, ev tiers.Evicted) {
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
			if err := tr.Put(context.Background(), key(0), fill(0, unit), tiers.PutOptions{Pin: true}); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 4))
			for i := 1; i < 200; i++ {
				if err := tr.Put(context.Background(), key(i), fill(uint64(i), unit), tiers.PutOptions{}); err != nil {
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
	tr.SetEvictFunc(func(_ context.Context, ev tiers.Evicted) {
		var i int
		_, _ = fmt.Sscanf(string(ev.ID.Key), "k%d", &i)
		victims = append(victims, i)
		ev.View.Release()
	})
	for i := range 8 {
		if err := tr.Put(context.Background(), key(i), fill(uint64(i), unit), tiers.PutOptions{}); err != nil {
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
	if err := tr.Put(context.Background(), key(100), fill(100, 2*unit), tiers.PutOptions{}); err != nil {
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
