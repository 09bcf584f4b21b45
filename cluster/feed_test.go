package cluster

import (
	"fmt"
	"testing"

	"github.com/stratacache/stratacache/holdings"
	"github.com/stratacache/stratacache/tiers"
)

// The feed (read from the node's one holdings table) answers the changes after a subscriber's sequence number, and
// the whole holding set when the subscriber is of another epoch, ahead, or
// further behind than the log keeps.
func TestFeedSinceAndResync(t *testing.T) {
	f := newOwnHoldings(7, 4)
	r := newRing([]string{"self"}, 1)
	var clock uint64
	tick := func() uint64 { clock++; return clock }
	ev := func(k EventKind, key string, tier tiers.Kind) {
		if k == EventStored {
			f.stored(kvID(key).Hash, tier, tick, r, 3, nil)
		} else {
			f.dropped(kvID(key).Hash, tick, nil)
		}
	}
	ev(EventStored, "a", tiers.KindCXL)
	ev(EventStored, "a", tiers.KindMemory) // faster: reported
	ev(EventStored, "a", tiers.KindDisk)   // slower: not
	ev(EventStored, "b", tiers.KindMemory)
	ev(EventDeleted, "zz", tiers.KindMemory) // never held: nothing
	var out holdings.Feed
	f.since(7, 0, &out)
	if out.Resync || out.Seq != 3 || len(out.Changes) != 3 || out.Changes[1].Kind != uint8(tiers.KindMemory) {
		t.Fatalf("from 0: %+v", out)
	}
	f.since(7, 2, &out)
	if out.Resync || len(out.Changes) != 1 || out.Changes[0].Hash != kvID("b").Hash {
		t.Fatalf("from 2: %+v", out)
	}
	f.since(7, 3, &out)
	if out.Resync || len(out.Changes) != 0 {
		t.Fatalf("up to date: %+v", out)
	}
	for _, tc := range []struct{ epoch, since uint64 }{{6, 3}, {7, 99}} {
		f.since(tc.epoch, tc.since, &out)
		if !out.Resync || len(out.Changes) != 2 {
			t.Fatalf("epoch %d since %d: %+v", tc.epoch, tc.since, out)
		}
	}
	// Past the log (4 changes): a subscriber at 3 is 5 behind.
	for i := 0; i < 4; i++ {
		ev(EventStored, fmt.Sprint("c", i), tiers.KindMemory)
	}
	ev(EventEvicted, "a", tiers.KindMemory)
	f.since(7, 3, &out)
	if !out.Resync || len(out.Changes) != 5 || out.Seq != 8 {
		t.Fatalf("behind the log: %+v", out)
	}
	f.since(7, 4, &out) // exactly the log's 4
	if out.Resync || len(out.Changes) != 4 || !out.Changes[3].Del {
		t.Fatalf("at the log's start: %+v", out)
	}
	b := holdings.AppendFeed(nil, &out)
	var back holdings.Feed
	if err := holdings.DecodeFeed(b, &back); err != nil || back.Seq != 8 || len(back.Changes) != 4 || back.Changes[3] != out.Changes[3] {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}
