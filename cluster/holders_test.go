package cluster

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// dropLocal removes id from tn's local tiers only, as an eviction would
// (the observed tiers tell the directory).
func dropLocal(t *testing.T, tn *tnode, id artifact.ID) {
	t.Helper()
	for _, lt := range tn.n.local {
		if _, err := lt.Delete(context.Background(), id, tiers.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func holdersSeen(tn *tnode, id artifact.ID, want ...string) bool {
	hs := tn.n.LookupHolders(context.Background(), id)
	if len(hs) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, h := range hs {
			found = found || h.Node == w
		}
		if !found {
			return false
		}
	}
	return true
}

// Issue 13: when A stores and B then stores the same artifact, both are
// listed; B's copy going away leaves A listed and readable; B storing while
// A deletes leaves B listed and readable from A.
func TestTwoHoldersBothFoundAndRemovalKeepsTheOther(t *testing.T) {
	// What is tested is who is listed and read; a fetch slowed past 500 ms
	// by -race on two loaded cores would be a miss for another reason.
	_, nodes := startCluster(t, 3, clusterOpts{cfg: func(_ int, c *Config) { c.FetchTimeout = 10 * time.Second }})
	a, b, c := nodes[0], nodes[1], nodes[2]
	const n = 32
	var ids []artifact.ID
	for i := 0; i < n; i++ {
		id := kvID(fmt.Sprintf("two-holders-%d", i))
		ids = append(ids, id)
		storeIn(t, a, "cxl", id, payloadOf(i, 4<<10))
		storeIn(t, b, "mem", id, payloadOf(i, 4<<10))
	}
	for _, id := range ids {
		waitFor(t, 60*time.Second, "both holders listed", func() bool { return holdersSeen(c, id, "n1", "n2") })
	}
	// B's copies are evicted: A stays listed, and C's reads hit.
	for _, id := range ids {
		dropLocal(t, b, id)
	}
	// (Under -race on loaded cores the fast failure detector can declare
	// a node dead for a moment, dropping its holders until it is back:
	// reads are retried until the deadline, never counted as a pass early.)
	readBack := func(tn *tnode, id artifact.ID, want []byte) bool {
		got, err := tn.eng.Load(context.Background(), nil, id, actors.Chain())
		return err == nil && bytes.Equal(got, want)
	}
	for i, id := range ids {
		waitFor(t, 60*time.Second, "B's removal seen, A kept", func() bool { return holdersSeen(c, id, "n1") })
		waitFor(t, 10*time.Second, fmt.Sprintf("read of %d on C from A", i), func() bool { return readBack(c, id, payloadOf(i, 4<<10)) })
	}
	// B stores while A deletes: B's copy stays listed, and A reads it.
	var ids2 []artifact.ID
	for i := 0; i < n; i++ {
		id := kvID(fmt.Sprintf("store-vs-delete-%d", i))
		ids2 = append(ids2, id)
		storeIn(t, a, "cxl", id, payloadOf(1000+i, 4<<10))
	}
	for _, id := range ids2 {
		waitFor(t, 60*time.Second, "A listed", func() bool { return holdersSeen(b, id, "n1") })
	}
	done := make(chan error, 1)
	go func() {
		for i, id := range ids2 {
			if err := b.eng.Store(context.Background(), id, payloadOf(1000+i, 4<<10), actors.StoreOptions{Access: actors.Exact("cxl")}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for _, id := range ids2 {
		dropLocal(t, a, id)
	}
	if err := <-done; err != nil {
		t.Fatalf("store on B: %v", err)
	}
	for i, id := range ids2 {
		waitFor(t, 60*time.Second, "only B listed", func() bool { return holdersSeen(a, id, "n2") && holdersSeen(c, id, "n2") })
		waitFor(t, 10*time.Second, fmt.Sprintf("read of %d on A from B", i), func() bool { return readBack(a, id, payloadOf(1000+i, 4<<10)) })
		dropLocal(t, a, id) // the read promoted it into A: not what is tested
	}
}
