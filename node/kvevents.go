package node

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/kvevents"
	"github.com/stratacache/stratacache/tiers"
)

// KVEventsConfig publishes the node's KV chunk holdings in vLLM's KV event
// format (docs/router.md, "Publishing"): a ZeroMQ PUB socket sending
// (topic, sequence, msgpack EventBatch) with BlockStored/BlockRemoved per
// tier (media "CPU", "CXL", "DISK"), and an optional ROUTER replay socket,
// so that llm-d's indexer or Dynamo's router see StrataCache's tiers next
// to the GPUs without new code.
type KVEventsConfig struct {
	// Endpoint is the PUB socket to bind (tcp://host:port); "" disables
	// publishing.
	Endpoint string `yaml:"endpoint"`
	// ReplayEndpoint is the ROUTER replay socket ("": none).
	ReplayEndpoint string `yaml:"replay_endpoint"`
	// Topic is the first frame of every message.
	Topic string `yaml:"topic"`
	// Encoding: "map" (today's vLLM) or "array" (earlier releases).
	Encoding string `yaml:"encoding"`
}

func (c KVEventsConfig) validate(bad func(key, format string, args ...any)) {
	if c.Endpoint == "" {
		if c.ReplayEndpoint != "" {
			bad("kv_events.replay_endpoint", "set without kv_events.endpoint")
		}
		return
	}
	for _, e := range []struct{ key, ep string }{{"kv_events.endpoint", c.Endpoint}, {"kv_events.replay_endpoint", c.ReplayEndpoint}} {
		if e.ep != "" && !strings.HasPrefix(e.ep, "tcp://") {
			bad(e.key, "%q: want tcp://host:port", e.ep)
		}
	}
	if c.Encoding != "" && c.Encoding != "map" && c.Encoding != "array" {
		bad("kv_events.encoding", "%q is not one of map, array", c.Encoding)
	}
}

// eventFeed turns tier changes into batches on a kvevents.Publisher. The
// tiers' hooks hand events over without blocking (a bounded queue; a full
// queue drops the event and counts it: the index it feeds is a hint), one
// goroutine batches and publishes them.
type eventFeed struct {
	pub       *kvevents.Publisher
	blockSize int
	log       *slog.Logger
	q         chan feedEvent
	done      chan struct{}
	stop      chan struct{}
	once      sync.Once

	published, dropped atomic.Uint64
}

type feedEvent struct {
	kind   kvevents.Kind
	hash   uint64
	medium string
}

const (
	feedQueue    = 1 << 16
	feedMaxBatch = 512
	feedLinger   = 10 * time.Millisecond
)

func newEventFeed(cfg Config, log *slog.Logger) (*eventFeed, error) {
	c := cfg.KVEvents
	enc := kvevents.EncodingMap
	if c.Encoding == "array" {
		enc = kvevents.EncodingArray
	}
	pub, err := kvevents.NewPublisher(kvevents.PublisherConfig{Endpoint: c.Endpoint, ReplayEndpoint: c.ReplayEndpoint,
		Topic: c.Topic, Encoding: enc})
	if err != nil {
		return nil, fmt.Errorf("%w: kv_events: %w", ErrConfig, err)
	}
	f := &eventFeed{pub: pub, blockSize: cfg.ChunkSize, log: log, q: make(chan feedEvent, feedQueue),
		done: make(chan struct{}), stop: make(chan struct{})}
	go f.run()
	log.Info("publishing KV events", "endpoint", pub.Endpoint(), "replay", pub.ReplayEndpoint(), "topic", c.Topic)
	return f, nil
}

// note hands one change over; never blocks.
func (f *eventFeed) note(kind kvevents.Kind, id artifact.ID, medium string) {
	h, ok := kvPrefixHash(id)
	if !ok {
		return
	}
	select {
	case f.q <- feedEvent{kind, h, medium}:
	default:
		f.dropped.Add(1)
	}
}

// kvPrefixHash is the prefix hash of a KV chunk key
// (<model>@<16 hex digits>/<layers>[#extra]...): the block hash events
// carry. The first '@' followed by 16 lower-case hex digits and a '/'
// marks it.
func kvPrefixHash(id artifact.ID) (uint64, bool) {
	if id.Namespace != artifact.NamespaceKV {
		return 0, false
	}
	k := id.Key
next:
	for at := 0; at+17 < len(k); at++ {
		if k[at] != '@' || k[at+17] != '/' {
			continue
		}
		var h uint64
		for _, c := range k[at+1 : at+17] {
			switch {
			case c >= '0' && c <= '9':
				h = h<<4 | uint64(c-'0')
			case c >= 'a' && c <= 'f':
				h = h<<4 | uint64(c-'a'+10)
			default:
				continue next
			}
		}
		return h, true
	}
	return 0, false
}

func (f *eventFeed) run() {
	defer close(f.done)
	var pending []feedEvent
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		if len(pending) == 0 {
			return
		}
		b := &kvevents.Batch{}
		for _, e := range pending {
			n := len(b.Events)
			if n > 0 && b.Events[n-1].Kind == e.kind && b.Events[n-1].Medium == e.medium {
				b.Events[n-1].BlockHashes = append(b.Events[n-1].BlockHashes, e.hash)
				continue
			}
			ev := kvevents.Event{Kind: e.kind, BlockHashes: []uint64{e.hash}, Medium: e.medium}
			if e.kind == kvevents.BlockStored {
				ev.BlockSize = f.blockSize
				ev.TokenIDs = []uint32{} // the node stores chunks, not tokens
			}
			b.Events = append(b.Events, ev)
		}
		if _, err := f.pub.Publish(b); err != nil {
			f.log.Warn("kv events: publish failed", "err", err)
		} else {
			f.published.Add(uint64(len(pending)))
		}
		pending = pending[:0]
	}
	for {
		select {
		case e := <-f.q:
			if len(pending) == 0 {
				timer.Reset(feedLinger)
			}
			pending = append(pending, e)
			if len(pending) >= feedMaxBatch {
				flush()
			}
		case <-timer.C:
			flush()
		case <-f.stop:
			for {
				select {
				case e := <-f.q:
					pending = append(pending, e)
				default:
					flush()
					return
				}
			}
		}
	}
}

// Close publishes what is queued and unbinds. Safe to call twice.
func (f *eventFeed) Close() error {
	var err error
	f.once.Do(func() {
		close(f.stop)
		<-f.done
		err = f.pub.Close()
	})
	return err
}

// mediumOf names a tier's medium as KV events do.
func mediumOf(k tiers.Kind) string {
	switch k {
	case tiers.KindMemory:
		return "CPU"
	case tiers.KindCXL:
		return "CXL"
	case tiers.KindDisk:
		return "DISK"
	}
	return strings.ToUpper(k.String())
}

// eventTier reports a local tier's stores, deletes and evictions to the
// feed. Everything else passes through.
type eventTier struct {
	tiers.Tier
	f      *eventFeed
	medium string
}

func wrapForEvents(chain []tiers.Tier, f *eventFeed) []tiers.Tier {
	if f == nil {
		return chain
	}
	out := make([]tiers.Tier, len(chain))
	for i, t := range chain {
		out[i] = &eventTier{Tier: t, f: f, medium: mediumOf(t.Kind())}
	}
	return out
}

func (t *eventTier) Put(ctx context.Context, id artifact.ID, payload []byte, opts tiers.PutOptions) error {
	err := t.Tier.Put(ctx, id, payload, opts)
	if err == nil {
		t.f.note(kvevents.BlockStored, id, t.medium)
	}
	return err
}

func (t *eventTier) Delete(ctx context.Context, id artifact.ID, opts tiers.DeleteOptions) (bool, error) {
	found, err := t.Tier.Delete(ctx, id, opts)
	if found {
		t.f.note(kvevents.BlockRemoved, id, t.medium)
	}
	return found, err
}

func (t *eventTier) SetEvictFunc(f tiers.EvictFunc) {
	t.Tier.SetEvictFunc(func(ctx context.Context, ev tiers.Evicted) {
		id := ev.ID.Clone()
		if f != nil {
			f(ctx, ev) // demotes and releases the view
		} else {
			ev.View.Release()
		}
		t.f.note(kvevents.BlockRemoved, id, t.medium)
	})
}

// PutFill passes a streamed store through (tiers.FillPutter: the socket
// reads straight into tier memory) and publishes it like Put. A tier
// without PutFill gets a buffer and a Put, as the engine would do.
func (t *eventTier) PutFill(ctx context.Context, id artifact.ID, n int64, opts tiers.PutOptions, fill func(dst []byte) error) error {
	fp, ok := t.Tier.(tiers.FillPutter)
	if !ok {
		buf := make([]byte, n)
		if err := fill(buf); err != nil {
			return err
		}
		return t.Put(ctx, id, buf, opts)
	}
	err := fp.PutFill(ctx, id, n, opts, fill)
	if err == nil {
		t.f.note(kvevents.BlockStored, id, t.medium)
	}
	return err
}

// SetTTL passes an expiry change through (tiers.TTLSetter); the holding
// does not change, nothing is published.
func (t *eventTier) SetTTL(id artifact.ID, remaining time.Duration) (bool, error) {
	if ts, ok := t.Tier.(tiers.TTLSetter); ok {
		return ts.SetTTL(id, remaining)
	}
	return false, nil
}

// VersionHighWater and Failed pass the wrapped tier's through (the
// engine asks for them by interface).
func (t *eventTier) VersionHighWater() uint64 {
	if h, ok := t.Tier.(tiers.HighWaterMarker); ok {
		return h.VersionHighWater()
	}
	return 0
}

func (t *eventTier) Failed() (error, bool) {
	if f, ok := t.Tier.(tiers.Failer); ok {
		return f.Failed()
	}
	return nil, false
}

// kvEventsCollector exports the feed's counters.
type kvEventsCollector struct{ f *eventFeed }

var (
	descKVPublished = prometheus.NewDesc("stratacache_kv_events_published_total", "KV chunk changes published as vLLM KV events.", nil, nil)
	descKVDropped   = prometheus.NewDesc("stratacache_kv_events_dropped_total", "KV chunk changes dropped because the publish queue was full.", nil, nil)
)

func (c kvEventsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descKVPublished
	ch <- descKVDropped
}

func (c kvEventsCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descKVPublished, prometheus.CounterValue, float64(c.f.published.Load()))
	ch <- prometheus.MustNewConstMetric(descKVDropped, prometheus.CounterValue, float64(c.f.dropped.Load()))
}

func closeFeed(f *eventFeed) {
	if f != nil {
		_ = f.Close()
	}
}

// setFeed hands the node its event feed (closed at Shutdown) and exports
// the feed's counters.
func (n *Node) setFeed(f *eventFeed) {
	if f == nil {
		return
	}
	n.feed = f
	if n.admin != nil {
		n.admin.Registry().MustRegister(kvEventsCollector{f})
	}
}

// KVEventsEndpoints are the bound addresses of the KV event PUB and
// replay sockets ("" when off), port 0 resolved.
func (n *Node) KVEventsEndpoints() (pub, replay string) {
	if n.feed == nil {
		return "", ""
	}
	return n.feed.pub.Endpoint(), n.feed.pub.ReplayEndpoint()
}
