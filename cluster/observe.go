package cluster

import (
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

func (t *observedTier) Put(id artifact.ID, payload []byte, opts tiers.PutOptions) error {
	err := t.Tier.Put(id, payload, opts)
	if err == nil {
		t.n.Observe(Event{Kind: EventStored, ID: id, Tier: t.Kind()})
	}
	return err
}

func (t *observedTier) Delete(id artifact.ID) bool {
	found := t.Tier.Delete(id)
	if found && !t.n.heldLocally(id) {
		t.n.Observe(Event{Kind: EventDeleted, ID: id, Tier: t.Kind()})
	}
	return found
}

func (t *observedTier) SetEvictFunc(f tiers.EvictFunc) {
	if !t.last {
		t.Tier.SetEvictFunc(f)
		return
	}
	t.Tier.SetEvictFunc(func(ev tiers.Evicted) {
		id := ev.ID.Clone()
		if f != nil {
			f(ev) // demotes (to the remote tier) and releases the view
		} else {
			ev.View.Release()
		}
		if !t.n.heldLocally(id) {
			t.n.Observe(Event{Kind: EventEvicted, ID: id, Tier: t.Kind()})
		}
	})
}
