package cluster

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/eviction"
	"github.com/stratacache/stratacache/tiers/memory"
)

// The observing wrapper keeps the optional interfaces the engine looks for
// (as node/'s KV-event wrapper does): a streamed store on a clustered node
// is announced, and EXPIRE reaches the tier.
func TestObservedTierKeepsOptionalInterfaces(t *testing.T) {
	mt, err := memory.New(memory.Config{Name: "cpu", CapacityBytes: 16 << 20, Policy: eviction.NewLRU(1024)})
	if err != nil {
		t.Fatal(err)
	}
	mn := NewMemNetwork(1)
	n, err := New(fastConfig("solo", mn))
	if err != nil {
		t.Fatal(err)
	}
	ct := &countingFill{Tier: mt}
	chain, err := n.Tiers([]tiers.Tier{ct})
	if err != nil {
		t.Fatal(err)
	}
	w := chain[0]
	if _, ok := w.(tiers.FillPutter); !ok {
		t.Error("FillPutter lost")
	}
	if _, ok := w.(tiers.TTLSetter); !ok {
		t.Error("TTLSetter lost")
	}
	if _, ok := w.(tiers.HighWaterMarker); !ok {
		t.Error("HighWaterMarker lost")
	}
	if _, ok := w.(tiers.Failer); !ok {
		t.Error("Failer lost")
	}
	eng, err := actors.NewEngine(actors.Config{Tiers: chain, Links: []actors.LinkConfig{RemoteLink()}, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(eng); err != nil {
		_ = eng.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = n.Close()
		_ = eng.Close()
	})
	ctx := context.Background()
	id := kvID("streamed")
	p := payloadOf(3, 8192)
	if err := eng.StoreFill(ctx, id, int64(len(p)), actors.StoreOptions{}, func(dst []byte) error { copy(dst, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if o, ok := n.Directory().Lookup(id.Hash); !ok || o.Node != "solo" {
		t.Fatalf("a streamed store is not in the directory: %+v %v", o, ok)
	}
	if held, err := eng.SetTTL(ctx, id, time.Hour); err != nil || !held {
		t.Fatalf("SetTTL through the observed tier: held=%v err=%v", held, err)
	}
	if ct.fills.Load() != 1 {
		t.Fatalf("%d streamed stores reached the memory tier, want 1 (PutFill not passed through)", ct.fills.Load())
	}
}

// countingFill counts the PutFill calls that reach a memory tier.
type countingFill struct {
	*memory.Tier
	fills atomic.Int64
}

func (c *countingFill) PutFill(ctx context.Context, id artifact.ID, n int64, opts tiers.PutOptions, fill func(dst []byte) error) error {
	c.fills.Add(1)
	return c.Tier.PutFill(ctx, id, n, opts, fill)
}
