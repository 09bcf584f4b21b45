package cluster

import (
	"context"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// EventKind says what happened to an artifact on this node.
type EventKind uint8

// The events the directory follows.
const (
	// EventStored: a local tier took the artifact.
	EventStored EventKind = iota + 1
	// EventEvicted: the artifact left the node's last local tier.
	EventEvicted
	// EventDeleted: the artifact was deleted from the node's local tiers.
	EventDeleted
)

// Event is a change of what this node holds. Tiers wrapped by Node.Tiers
// raise them by themselves; Observe is for stores that bypass those tiers.
type Event struct {
	Kind EventKind
	ID   artifact.ID
	Tier tiers.Kind
}

// observedTier wraps a local tier so that stores, deletes and the last
// local tier's evictions reach the directory. Everything else passes
// through.
type observedTier struct {
	tiers.Tier
	n    *Node
	last bool // the node's last local tier: its victims leave the node
}

func (t *observedTier) Put(ctx context.Context, id artifact.ID, payload []byte, opts tiers.PutOptions) error {
	err := t.Tier.Put(ctx, id, payload, opts)
	if err == nil {
		t.n.Observe(Event{Kind: EventStored, ID: id, Tier: t.Kind()})
	}
	return err
}

func (t *observedTier) Delete(ctx context.Context, id artifact.ID, opts tiers.DeleteOptions) (bool, error) {
	found, err := t.Tier.Delete(ctx, id, opts)
	if found && !t.n.heldLocally(id) {
		t.n.Observe(Event{Kind: EventDeleted, ID: id, Tier: t.Kind()})
	}
	return found, err
}

// PutFill passes a streamed store through (tiers.FillPutter: the socket
// reads straight into tier memory) and reports it like Put. A tier
// without PutFill gets a buffer and a Put, as the engine would do.
func (t *observedTier) PutFill(ctx context.Context, id artifact.ID, n int64, opts tiers.PutOptions, fill func(dst []byte) error) error {
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
		t.n.Observe(Event{Kind: EventStored, ID: id, Tier: t.Kind()})
	}
	return err
}

// SetTTL passes an expiry change through (tiers.TTLSetter); what the node
// holds does not change.
func (t *observedTier) SetTTL(id artifact.ID, remaining time.Duration) (bool, error) {
	if ts, ok := t.Tier.(tiers.TTLSetter); ok {
		return ts.SetTTL(id, remaining)
	}
	return false, nil
}

// VersionHighWater passes the wrapped tier's high-water mark through
// (tiers.HighWaterMarker), so the engine's versions start above it.
func (t *observedTier) VersionHighWater() uint64 {
	if h, ok := t.Tier.(tiers.HighWaterMarker); ok {
		return h.VersionHighWater()
	}
	return 0
}

// Failed passes the wrapped tier's failure through (tiers.Failer).
func (t *observedTier) Failed() (error, bool) {
	if f, ok := t.Tier.(tiers.Failer); ok {
		return f.Failed()
	}
	return nil, false
}

func (t *observedTier) SetEvictFunc(f tiers.EvictFunc) {
	if !t.last {
		t.Tier.SetEvictFunc(f)
		return
	}
	t.Tier.SetEvictFunc(func(ctx context.Context, ev tiers.Evicted) {
		id := ev.ID.Clone()
		if f != nil {
			f(ctx, ev) // demotes (to the remote tier) and releases the view
		} else {
			ev.View.Release()
		}
		// The victim stays in this tier until the hook returns: the node
		// still holds it if another local tier does.
		if !t.n.heldLocallyExcept(id, t) {
			t.n.Observe(Event{Kind: EventEvicted, ID: id, Tier: t.Kind()})
		}
	})
}
