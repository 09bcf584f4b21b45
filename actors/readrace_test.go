package actors

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/stratacache/stratacache/artifact"
)

// A chain read visits the tiers top-down. A store that lands while the
// reader is between two tiers puts its version into a tier the reader has
// already passed and removes the older copies below it (write-back, or an
// exact store): the reader then found nothing in any tier, although the key
// held a value before, during and after the read. TestLinearizable caught it
// as a load returning not-found after an acknowledged store with no delete
// in between. Here the store runs at the one bad moment: when the reader,
// having missed in t0, is about to look in t1.
func TestReadRacingStoreThatMovesKeyUp(t *testing.T) {
	for _, c := range []struct {
		name  string
		links []LinkConfig
		store StoreOptions
	}{
		{"write-back store", []LinkConfig{wb(1 << 20), wb(1 << 20)}, StoreOptions{}},
		{"exact store above", []LinkConfig{wt(), wt()}, StoreOptions{Access: Exact("t0")}},
	} {
		for _, read := range []string{"load", "view", "contains", "locate"} {
			t.Run(c.name+"/"+read, func(t *testing.T) {
				e, f := newEngine(t, []int64{1 << 20, 1 << 20, 1 << 20}, c.links, false)
				ctx := context.Background()
				k := id("k")
				older, newer := payload(1, 1000), payload(2, 1000)
				if err := e.Store(ctx, k, older, StoreOptions{Access: Exact("t1")}); err != nil {
					t.Fatal(err)
				}
				var once sync.Once
				var storeErr error
				f[1].SetReadHook(func(artifact.ID) {
					once.Do(func() { storeErr = e.Store(ctx, k, newer, c.store) })
				})
				var got []byte
				var found bool
				var err error
				switch read {
				case "load":
					got, err = e.Load(ctx, nil, k, Chain())
					found = err == nil
				case "view":
					v, _, verr := e.View(ctx, k, Chain())
					if err = verr; err == nil {
						got, found = bytes.Clone(v.Bytes()), true
						v.Release()
					}
				case "contains":
					found, err = e.Contains(ctx, k, Chain())
				case "locate":
					_, found, err = e.Locate(ctx, k, Chain())
				}
				f[1].SetReadHook(nil)
				if storeErr != nil {
					t.Fatalf("the racing store: %v", storeErr)
				}
				if err != nil || !found {
					t.Fatalf("%s during a store that replaced a held value: found=%v err=%v", read, found, err)
				}
				if got != nil && !bytes.Equal(got, older) && !bytes.Equal(got, newer) {
					t.Fatalf("%s returned bytes of neither version", read)
				}
				if got, err := e.Load(ctx, nil, k, Chain()); err != nil || !bytes.Equal(got, newer) {
					t.Fatalf("load after the store: %v", err)
				}
			})
		}
	}
}
