package actors

import (
	"sync/atomic"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// In-process envelopes. The schema of every actor message is a protobuf
// message in messages/ (Store, Delete, Promote, Demote, Evicted, Flush, ...);
// inside a node the envelope carries that header's content in decoded form
// beside a payload reference, because payloads never travel through a
// mailbox by value (DESIGN.md). The wire forms are built from the same
// fields by messages/ when a message leaves the process.

// reply carries the answer of a request back to a waiting sender. Requests
// use a channel of their own rather than protoactor futures so that a
// sender can honour its context (select on both) without a future's
// timer and dead-letter traffic.
type reply struct{ done chan result }

func newReply() reply { return reply{done: make(chan result, 1)} }

// respond delivers res; a nil channel (fire-and-forget message) drops it.
func (r reply) respond(res result) {
	if r.done != nil {
		select {
		case r.done <- res:
		default: // already answered (a crash after a reply)
		}
	}
}

// replier is implemented by every request, so that a crashing actor can
// still answer before its supervisor restarts it.
type replier interface{ respond(result) }

// promoteMsg asks a TierActor to copy ID up from the lower tier From.
// It is sent without waiting (Send): promotion is best effort.
type promoteMsg struct {
	ID   artifact.ID
	From int
}

// evictedMsg hands a LinkActor a victim of the upper tier; the link demotes
// it if needed and releases the view. The sender waits for the reply: a
// dirty victim must be safe below before the upper tier reuses its space.
// state decides who releases the view when the sender stops waiting before
// the link started: evictQueued -> evictStarted (the link) or
// evictAbandoned (the sender).
type evictedMsg struct {
	reply
	Ev    tiers.Evicted
	state atomic.Int32
}

const (
	evictQueued int32 = iota
	evictStarted
	evictAbandoned
)

// markDirtyMsg tells a write-back LinkActor that version Version of ID
// (Size bytes, already reserved against the dirty bound) now differs from
// the tier below.
type markDirtyMsg struct {
	ID      artifact.ID
	Size    int64
	Version uint64
}

// forgetMsg tells a LinkActor that ID was deleted: drop it from the dirty
// set now (sent without waiting; a flush would find nothing to copy).
type forgetMsg struct {
	ID artifact.ID
}

// flushMsg asks a LinkActor to flush: everything (All) or one batch.
type flushMsg struct {
	reply
	All bool
}

// flushTick is the periodic nudge of a write-back link.
type flushTick struct{}

// crashMsg makes an actor panic: a test seam for supervision.
type crashMsg struct {
	reply
	Reason string
}

// result is the in-process reply of a request.
type result struct {
	Err     error
	Found   bool
	Flushed int64 // artifacts flushed (flushMsg)
	Left    int64 // artifacts still dirty after a flush
}
