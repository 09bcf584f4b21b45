package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/kvevents"
	"github.com/stratacache/stratacache/tiers"
)

// A node with kv_events.endpoint publishes its KV chunks in vLLM's format:
// a kvevents subscriber (what the router runs, and what llm-d's indexer
// reads) sees each chunk's prefix hash with the tier's medium, and sees it
// leave on delete and on eviction.
func TestNodePublishesKVEvents(t *testing.T) {
	cfg := testConfig()
	cfg.CPUCapacityMB = 1
	cfg.KVEvents = KVEventsConfig{Endpoint: "tcp://127.0.0.1:0", ReplayEndpoint: "tcp://127.0.0.1:0"}
	n, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	n.Start()
	pub, replay := n.KVEventsEndpoints()
	if pub == "" || replay == "" {
		t.Fatalf("endpoints %q %q", pub, replay)
	}
	ix := kvevents.NewIndex(0)
	sub, err := kvevents.NewSubscriber(kvevents.SubscriberConfig{Index: ix,
		Sources: []kvevents.Source{{Pod: "node", Endpoint: pub, Replay: replay}}, BackoffMin: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sub.Start(context.Background())
	defer sub.Close()

	ctx := context.Background()
	store := func(h uint64, size int) artifact.ID {
		id, err := artifact.KVKey{Model: "llama-3-8b", PrefixHash: h, Layers: artifact.AllLayers}.ID()
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Store(ctx, id, make([]byte, size), artifact.Meta{}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	// Until the subscriber is connected, replay serves what it missed.
	first := store(0xabc, 4096)
	waitUntil(t, "the stored chunk", func() bool { return ix.Holds("node", 0xabc) == kvevents.MediaCPU })
	// A blob is not a KV chunk: not published.
	if err := n.Store(ctx, artifact.MustID(artifact.NamespaceBlob, "user:1"), []byte("x"), artifact.Meta{}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the delete", func() bool { return ix.Holds("node", 0xabc) == 0 })
	// Fill the 1 MiB CPU tier past its budget: the evicted chunks leave.
	for h := uint64(1); h <= 40; h++ {
		store(h, 64<<10)
	}
	waitUntil(t, "the evictions", func() bool {
		held := 0
		for h := uint64(1); h <= 40; h++ {
			if ix.Holds("node", h) != 0 {
				held++
			}
		}
		return held > 0 && held < 40 && ix.Holds("node", 40) != 0
	})
	// A streamed store (the native and RESP ports' path) is published too,
	// and an expiry change goes through to the tiers.
	sid, _ := artifact.KVKey{Model: "llama-3-8b", PrefixHash: 0x5eed, Layers: artifact.AllLayers}.ID()
	if err := n.Engine().StoreFill(ctx, sid, 4096, actors.StoreOptions{}, func(dst []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the streamed store", func() bool { return ix.Holds("node", 0x5eed) == kvevents.MediaCPU })
	if held, err := n.Engine().SetTTL(ctx, sid, time.Hour); err != nil || !held {
		t.Fatalf("SetTTL through the event tiers: %v %v", held, err)
	}
	if got := fmt.Sprint(sub.Stats()[0].Malformed); got != "0" {
		t.Fatal(got)
	}
}

// The wrapper keeps the optional interfaces the engine looks for.
func TestEventTierKeepsOptionalInterfaces(t *testing.T) {
	chain, _, err := BuildTiers(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer chain[0].Close()
	w := wrapForEvents(chain, &eventFeed{})[0]
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
}

func TestKVEventsConfigErrors(t *testing.T) {
	for _, kc := range []KVEventsConfig{{ReplayEndpoint: "tcp://127.0.0.1:1"}, {Endpoint: "127.0.0.1:1"}, {Endpoint: "tcp://127.0.0.1:0", Encoding: "json"}} {
		cfg := testConfig()
		cfg.KVEvents = kc
		if err := cfg.Validate(); err == nil {
			t.Errorf("%+v: no error", kc)
		}
	}
}

func TestKVPrefixHash(t *testing.T) {
	id, _ := artifact.KVKey{Model: "a@b", PrefixHash: 0xfb17f16ced7ef596, Layers: artifact.Layer(3), Extra: []string{"x@y"}}.ID()
	if h, ok := kvPrefixHash(id); !ok || h != 0xfb17f16ced7ef596 {
		t.Fatalf("%x %v", h, ok)
	}
	for _, k := range []string{"m@xyz/all", "m@0123456789abcdeg/all", "plain"} {
		if _, ok := kvPrefixHash(artifact.MustID(artifact.NamespaceKV, k)); ok {
			t.Errorf("%q parsed", k)
		}
	}
}
