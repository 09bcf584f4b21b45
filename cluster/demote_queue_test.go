package cluster

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
)

// A writer whose stores evict to a remote pool never waits on the
// network: with n1's established connection to n2 stalled mid-stream (and
// a demote allowed to take an hour), n1's stores still all return; the
// victims that do not fit the demote queue are dropped, the queued ones
// stay readable on n1, and once the stall ends the queue drains into n2's
// pool.
func TestStalledPeerDoesNotHoldTheWriter(t *testing.T) {
	mn, nodes := startCluster(t, 2, clusterOpts{memBytes: 1 << 20, cxlBytes: 2 << 20, cfg: func(i int, c *Config) {
		c.DemoteTimeout = time.Hour // a writer waiting on the network would wait for this
		c.DemoteQueueLen = 4
		if i == 1 {
			c.PoolTier = "cxl"
		}
	}})
	n1, n2 := nodes[0], nodes[1]
	ctx := context.Background()
	const size = 128 << 10
	waitFor(t, 10*time.Second, "n2's pool gossiped", func() bool {
		for _, m := range n1.n.Members() {
			if m.Name == "n2" {
				return m.Meta.PoolFree() > 0
			}
		}
		return false
	})
	// Warm up: demote until one demotion went through, so that the
	// connection to n2 is established and pooled.
	i := 0
	for ; n1.n.Stats().Remote.Demotes == 0; i++ {
		if i > 64 {
			t.Fatalf("no demotion after %d stores: %+v", i, n1.n.Stats().Remote)
		}
		store(t, n1, kvID(fmt.Sprintf("warm-%d", i)), payloadOf(i, size))
		waitFor(t, 10*time.Second, "the demote queue drained", func() bool {
			s := n1.n.Stats().Remote
			return s.DemotesQueued == s.DemotesSettled
		})
	}
	mn.StallPeer("n1", "n2")
	before := n1.n.Stats().Remote
	// The writer: 64 stores of 128 KiB into a 3 MiB node, most of them
	// evicting a victim to the (stalled) remote pool (2 MiB: room for the
	// queue's 4 and what warming up sent).
	const writes = 64
	done := make(chan error, 1)
	go func() {
		for j := 0; j < writes; j++ {
			if err := n1.eng.Store(ctx, kvID(fmt.Sprintf("w-%d", j)), payloadOf(1000+j, size), actors.StoreOptions{}); err != nil {
				done <- fmt.Errorf("store %d: %w", j, err)
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute): // a safety net: the stall lasts until UnstallPeer
		t.Fatal("the writer waited on a stalled peer")
	}
	s := n1.n.Stats().Remote
	if s.QueueFull == 0 || s.DemotesQueued <= before.DemotesQueued || s.QueueLen == 0 {
		t.Fatalf("with the peer stalled: %+v (before %+v)", s, before)
	}
	// What waits in the queue is still this node's to serve, from memory.
	type kp struct {
		key  string
		seed int
	}
	var all []kp
	for k := 0; k < i; k++ {
		all = append(all, kp{fmt.Sprintf("warm-%d", k), k})
	}
	for j := 0; j < writes; j++ {
		all = append(all, kp{fmt.Sprintf("w-%d", j), 1000 + j})
	}
	served := 0
	for _, e := range all {
		id := kvID(e.key)
		if n1.mem.Contains(id) || n1.cxl.Contains(id) {
			continue
		}
		if _, ok := n1.n.remote.q.stat(sfKey(id), id); !ok {
			continue
		}
		got, err := n1.eng.Load(ctx, nil, id, actors.Exact(RemoteTierName))
		if err != nil || !bytes.Equal(got, payloadOf(e.seed, size)) {
			t.Fatalf("queued victim %s: %v", e.key, err)
		}
		served++
	}
	if served == 0 {
		t.Fatal("no queued victim to read")
	}
	mn.UnstallPeer("n1", "n2")
	waitFor(t, 30*time.Second, "the queue drained into n2", func() bool {
		s := n1.n.Stats().Remote
		return s.DemotesQueued == s.DemotesSettled && s.Demotes > before.Demotes
	})
	landed := 0
	for _, e := range all {
		id := kvID(e.key)
		if n2.cxl.Contains(id) {
			landed++
			waitFor(t, 10*time.Second, e.key+" listed on n2", func() bool { return ownerSeen([]*tnode{n1}, id, "n2") })
		}
	}
	if landed <= int(before.Demotes) {
		t.Fatalf("nothing queued reached n2: %d landed, %+v", landed, n1.n.Stats().Remote)
	}
}

// A store or a delete of a key supersedes its queued victim: the older
// copy is never demoted after it.
func TestDemoteQueueCancel(t *testing.T) {
	q := newDemoteQueue(2, 1<<20)
	a, b := artifact.MustID(artifact.NamespaceKV, "a"), artifact.MustID(artifact.NamespaceKV, "b")
	if !q.push(sfKey(a), a, []byte("a1"), artifact.Meta{}) || !q.push(sfKey(b), b, []byte("b1"), artifact.Meta{}) {
		t.Fatal("push")
	}
	if q.push(sfKey(artifact.MustID(artifact.NamespaceKV, "c")), artifact.MustID(artifact.NamespaceKV, "c"), []byte("c"), artifact.Meta{}) {
		t.Fatal("a third entry in a queue of 2")
	}
	if !q.push(sfKey(a), a, []byte("a2"), artifact.Meta{}) { // replaces a1
		t.Fatal("replace")
	}
	if f, ok := q.read(sfKey(a), a); !ok || string(f.b) != "a2" {
		t.Fatalf("read a: %v", ok)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := q.next(ctx)
	if !first.id.Equal(b) {
		t.Fatalf("oldest first: got %s", first.id)
	}
	if !q.cancel(sfKey(b)) { // deleted while on the wire
		t.Fatal("cancel b")
	}
	recorded := false
	if !q.commit(first, func() { recorded = true }) || recorded {
		t.Fatal("a victim deleted while on the wire was recorded")
	}
	if n, by := q.len(); n != 1 || by != 2 {
		t.Fatalf("len %d, %d bytes", n, by)
	}
	cancel()
	if q.next(ctx).id.Equal(a) == false {
		t.Fatal("a still queued")
	}
}

// A delete of a key whose older copy is on the wire, superseded there by
// a later push, must wait for that copy's undo: otherwise the copy lands
// on the peer after the delete returned (CI saw the remote tier's
// contract read it back). The wait ends when the drainer settles it.
func TestDemoteQueueDeleteWaitsForSupersededSend(t *testing.T) {
	q := newDemoteQueue(8, 1<<20)
	id := artifact.MustID(artifact.NamespaceKV, "k")
	key := sfKey(id)
	if !q.push(key, id, []byte("v1"), artifact.Meta{}) {
		t.Fatal("push v1")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	onWire := q.next(ctx)
	if !q.push(key, id, []byte("v2"), artifact.Meta{}) { // supersedes v1 on the wire
		t.Fatal("push v2")
	}
	found, wait := q.cancelWait(key)
	if !found || wait == nil {
		t.Fatalf("cancelWait: found %v, wait %v (v2 queued, v1 on the wire)", found, wait != nil)
	}
	if q.commit(onWire, func() { t.Fatal("a superseded copy was recorded") }) != true {
		t.Fatal("commit of a superseded copy did not report it cancelled")
	}
	select {
	case <-wait:
		t.Fatal("the wait ended before the undo")
	default:
	}
	q.settle(onWire)
	<-wait // closed by settle; the test's deadline bounds it
	if found, wait := q.cancelWait(key); found || wait != nil {
		t.Fatalf("after settling: found %v, wait %v", found, wait != nil)
	}
	if n, by := q.len(); n != 0 || by != 0 {
		t.Fatalf("len %d, %d bytes after settling", n, by)
	}
}
