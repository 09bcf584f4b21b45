package cluster

import (
	"math/rand"
	"testing"

	"github.com/stratacache/stratacache/tiers"
)

func TestDirectoryHolderVersionsAreTheirOwn(t *testing.T) {
	d := NewDirectory("a", 1, 0)
	d.SetNode("b", 7, true)
	if !d.Put("b", 7, 42, tiers.KindCXL, 100) {
		t.Fatal("first put did not change the directory")
	}
	// a's older clock does not lose to b's record: they are two holders.
	if !d.Put("a", 1, 42, tiers.KindMemory, 99) {
		t.Fatal("a second holder was refused")
	}
	if d.Put("b", 7, 42, tiers.KindCXL, 100) || d.Put("b", 7, 42, tiers.KindCXL, 50) {
		t.Fatal("a put not newer than the holder's record changed it")
	}
	o, ok := d.Lookup(42)
	if !ok || o.Node != "b" || o.Epoch != 7 || o.Kind != tiers.KindCXL || o.Ver != 100 {
		t.Fatalf("lookup (newest holder) = %+v, %v", o, ok)
	}
	if hs := d.Holders(42, nil); len(hs) != 2 || hs[1].Node != "a" {
		t.Fatalf("holders = %+v", hs)
	}
	if d.Delete("a", 1, 42, 98) {
		t.Fatal("a delete older than a's record removed it")
	}
	if !d.Delete("a", 1, 42, 102) {
		t.Fatal("delete by a holder did not remove its record")
	}
	if hs := d.Holders(42, nil); len(hs) != 1 || hs[0].Node != "b" {
		t.Fatalf("after a's delete, holders = %+v (b must stay)", hs)
	}
	if !d.Delete("b", 7, 42, 200) {
		t.Fatal("b's delete did not remove its record")
	}
	if _, ok := d.Lookup(42); ok || d.Len() != 0 {
		t.Fatal("entry survived both deletes")
	}
}

// The bugs of issue 13, as the directory sees them.
func TestDirectoryIssue13HolderBugs(t *testing.T) {
	// A and B both hold an artifact: both are found.
	d := NewDirectory("c", 1, 0)
	d.SetNode("a", 1, true)
	d.SetNode("b", 1, true)
	d.Put("a", 1, 7, tiers.KindCXL, 10)
	d.Put("b", 1, 7, tiers.KindMemory, 20) // b stores or promotes it later
	if hs := d.Holders(7, nil); len(hs) != 2 {
		t.Fatalf("A and B hold it; holders = %+v", hs)
	}
	// B's copy is evicted: A is still listed.
	d.Delete("b", 1, 7, 30)
	if hs := d.Holders(7, nil); len(hs) != 1 || hs[0].Node != "a" {
		t.Fatalf("after B's eviction, holders = %+v, want A", hs)
	}
	// B stores while A deletes: A's tombstone (newer than B's put) does not
	// hide B's copy, in whichever order the two arrive.
	for _, order := range [][2]bool{{true, false}, {false, true}} {
		d := NewDirectory("a", 1, 0)
		d.SetNode("b", 1, true)
		d.Put("a", 1, 9, tiers.KindCXL, 10)
		apply := func(aDelete bool) {
			if aDelete {
				d.Delete("a", 1, 9, 50)
			} else {
				d.Put("b", 1, 9, tiers.KindCXL, 40)
			}
		}
		apply(order[0])
		apply(order[1])
		hs := d.Holders(9, nil)
		if len(hs) != 1 || hs[0].Node != "b" {
			t.Fatalf("order %v: holders = %+v, want B", order, hs)
		}
	}
}

func TestDirectoryRefusesUnknownDeadAndOldEpochs(t *testing.T) {
	d := NewDirectory("a", 1, 0)
	if d.Put("ghost", 1, 1, tiers.KindCXL, 1) {
		t.Fatal("accepted an entry of an unknown node")
	}
	d.SetNode("b", 5, true)
	for h := uint64(0); h < 100; h++ {
		d.Put("b", 5, h<<40, tiers.KindCXL, 10)
	}
	if d.CountOwnedBy("b") != 100 {
		t.Fatalf("b owns %d, want 100", d.CountOwnedBy("b"))
	}
	// b restarts: a new epoch drops the old one's entries.
	if !d.SetNode("b", 6, true) {
		t.Fatal("new epoch dropped nothing")
	}
	if n := d.CountOwnedBy("b"); n != 0 {
		t.Fatalf("b owns %d after a new epoch", n)
	}
	if d.Put("b", 5, 1, tiers.KindCXL, 11) {
		t.Fatal("accepted an entry of the old epoch")
	}
	if !d.Put("b", 6, 1, tiers.KindCXL, 11) {
		t.Fatal("refused an entry of the new epoch")
	}
	// b dies: its entries go, and late deltas are refused.
	if !d.SetNode("b", 6, false) {
		t.Fatal("death dropped nothing")
	}
	if d.Len() != 0 {
		t.Fatalf("%d entries after b died", d.Len())
	}
	if d.Put("b", 6, 2, tiers.KindCXL, 12) {
		t.Fatal("accepted an entry of a dead node")
	}
	// b comes back (a healed partition): accepted again.
	d.SetNode("b", 6, true)
	if !d.Put("b", 6, 2, tiers.KindCXL, 13) {
		t.Fatal("refused an entry after b came back")
	}
	// A newer epoch seen in a delta is adopted.
	if !d.Put("b", 9, 3, tiers.KindCXL, 14) || d.CountOwnedBy("b") != 1 {
		t.Fatalf("newer epoch in an update: owned %d", d.CountOwnedBy("b"))
	}
}

func TestDirectoryCapEvictsOldestOfSampleAndKeepsOwn(t *testing.T) {
	const max = dirShards * 16
	d := NewDirectory("self", 1, max)
	d.SetNode("peer", 1, true)
	rng := rand.New(rand.NewSource(1))
	own := map[uint64]bool{}
	for i := 0; i < max/4; i++ {
		h := rng.Uint64()
		d.Put("self", 1, h, tiers.KindMemory, uint64(i+1))
		own[h] = true
	}
	var last uint64
	for i := 0; i < 10*max; i++ {
		last = rng.Uint64()
		d.Put("peer", 1, last, tiers.KindCXL, uint64(1000+i))
		if n := d.Len(); n > max {
			t.Fatalf("%d entries > cap %d", n, max)
		}
	}
	if _, ok := d.Lookup(last); !ok {
		t.Fatal("the newest entry was evicted")
	}
	kept := 0
	for h := range own {
		if o, ok := d.Lookup(h); ok && o.Node == "self" {
			kept++
		}
	}
	if kept != len(own) {
		t.Fatalf("kept %d of %d own entries; eviction should prefer peers' entries", kept, len(own))
	}
	if d.Evictions() == 0 {
		t.Fatal("no evictions counted")
	}
}

func TestDirectoryBytesPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a 1M-entry directory")
	}
	const n = 1_000_000
	got := measureDirectoryBytes(n)
	t.Logf("directory: %.1f bytes per entry at %d entries", got, n)
	if got > 96 {
		t.Fatalf("%.1f bytes per entry > 96", got)
	}
}

func TestDeltaRoundTripAndSnapshot(t *testing.T) {
	in := Delta{Owner: "node-b", Epoch: 77, Records: []Record{
		{Hash: 1, Kind: tiers.KindCXL, Ver: 1000},
		{Hash: 2, Ver: 999, Del: true},
		{Hash: 3, Kind: tiers.KindMemory, Ver: 5000},
	}}
	b := appendDelta(nil, &in)
	var out Delta
	if err := decodeDelta(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Owner != in.Owner || out.Epoch != in.Epoch || len(out.Records) != 3 || out.Records[1] != in.Records[1] || out.Records[2] != in.Records[2] {
		t.Fatalf("round trip: %+v", out)
	}
	if per := float64(len(b)) / 3; per > 16 {
		t.Fatalf("%.1f bytes per record", per)
	}
	// A snapshot drops the owner's older entries that it does not list.
	d := NewDirectory("a", 1, 0)
	d.SetNode("node-b", 77, true)
	d.Put("node-b", 77, 10, tiers.KindCXL, 10)   // older, not listed: dropped
	d.Put("node-b", 77, 11, tiers.KindCXL, 9000) // newer than the snapshot: kept
	snap := Delta{Owner: "node-b", Epoch: 77, Snapshot: true, AsOf: 6000, Records: []Record{{Hash: 3, Kind: tiers.KindCXL, Ver: 5000}}}
	sb := appendDelta(nil, &snap)
	state := appendState(nil, [][]byte{sb, b})
	if err := eachStateDelta(state, func(dl *Delta) { d.apply(dl) }); err != nil {
		t.Fatal(err)
	}
	for h, want := range map[uint64]bool{10: false, 11: true, 3: true, 1: true, 2: false} {
		if _, ok := d.Lookup(h); ok != want {
			t.Errorf("hash %d present=%v, want %v", h, ok, want)
		}
	}
}

func TestDeltaDecodeRejectsGarbage(t *testing.T) {
	good := appendDelta(nil, &Delta{Owner: "x", Epoch: 1, Records: []Record{{Hash: 9, Kind: 2, Ver: 3}}})
	var dl Delta
	for i := 0; i < len(good); i++ {
		if err := decodeDelta(good[:i], &dl); err == nil {
			t.Fatalf("truncated delta of %d bytes accepted", i)
		}
	}
	huge := append([]byte{deltaVersion, 0, 1, 'x', 1, 1}, 0xff, 0xff, 0xff, 0xff, 0x0f)
	if err := decodeDelta(huge, &dl); err == nil {
		t.Fatal("a count beyond the bytes was accepted")
	}
}

func FuzzDecodeDelta(f *testing.F) {
	f.Add(appendDelta(nil, &Delta{Owner: "n", Epoch: 1, Records: []Record{{Hash: 1, Kind: 2, Ver: 3}, {Hash: 4, Ver: 5, Del: true}}}))
	f.Add(appendDelta(nil, &Delta{Owner: "n", Epoch: 1, Snapshot: true, AsOf: 9}))
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var dl Delta
		if err := decodeDelta(b, &dl); err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again := appendDelta(nil, &dl)
		var dl2 Delta
		if err := decodeDelta(again, &dl2); err != nil {
			t.Fatalf("re-encoded delta does not decode: %v", err)
		}
		if len(dl2.Records) != len(dl.Records) || dl2.Owner != dl.Owner || dl2.Epoch != dl.Epoch {
			t.Fatalf("re-encode changed the delta")
		}
		d := NewDirectory("me", 1, 64)
		d.SetNode(dl.Owner, dl.Epoch, true)
		d.apply(&dl)
	})
}

func FuzzDecodeState(f *testing.F) {
	f.Add(appendState(nil, [][]byte{appendDelta(nil, &Delta{Owner: "n", Epoch: 1, Records: []Record{{Hash: 1, Kind: 2, Ver: 3}}})}))
	f.Add([]byte{1, 5, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDirectory("me", 1, 64)
		_ = eachStateDelta(b, func(dl *Delta) { d.apply(dl) })
	})
}

func TestMetaRoundTrip(t *testing.T) {
	in := NodeMeta{Epoch: 123456789, PeerAddr: "10.0.0.7:7947", Pool: 1, Load: 3, Tiers: []TierUse{
		{Name: "mem", Kind: tiers.KindMemory, CapacityBytes: 64 << 30, FreeBytes: 1 << 30},
		{Name: "cxl", Kind: tiers.KindCXL, CapacityBytes: 256 << 30, FreeBytes: 200 << 30},
	}, NativeAddr: "10.0.0.7:7380", RESPAddr: "10.0.0.7:6380"}
	b := appendMeta(nil, &in)
	if len(b) > 512 {
		t.Fatalf("meta is %d bytes > memberlist's 512", len(b))
	}
	out, err := decodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Epoch != in.Epoch || out.PeerAddr != in.PeerAddr || out.Pool != 1 || out.Load != 3 || len(out.Tiers) != 2 || out.Tiers[1] != in.Tiers[1] ||
		out.NativeAddr != in.NativeAddr || out.RESPAddr != in.RESPAddr {
		t.Fatalf("round trip: %+v", out)
	}
	if out.PoolFree() != 200<<30 {
		t.Fatalf("pool free %d", out.PoolFree())
	}
	// Metadata of a node that predates the client addresses ends right
	// after the tiers: that one boundary decodes (without addresses); every
	// other truncation is refused.
	old := len(b) - len(appendString(nil, in.NativeAddr)) - len(appendString(nil, in.RESPAddr))
	for i := 0; i < len(b); i++ {
		m, err := decodeMeta(b[:i])
		if i == old {
			if err != nil || m.NativeAddr != "" || len(m.Tiers) != 2 {
				t.Fatalf("old-format meta: %+v %v", m, err)
			}
			continue
		}
		if err == nil {
			t.Fatalf("truncated meta of %d bytes accepted", i)
		}
	}
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add(appendMeta(nil, &NodeMeta{Epoch: 1, PeerAddr: "a:1", Pool: 0, Tiers: []TierUse{{Name: "cxl", Kind: tiers.KindCXL, CapacityBytes: 10, FreeBytes: 5}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			return
		}
		_ = m.PoolFree()
		if _, err := decodeMeta(appendMeta(nil, &m)); err != nil {
			t.Fatalf("re-encoded meta does not decode: %v", err)
		}
	})
}

func TestDemoteTargetMostFree(t *testing.T) {
	mk := func(name string, free int64) Member {
		return Member{Name: name, Meta: NodeMeta{PeerAddr: name + ":1", Pool: 0, Tiers: []TierUse{{Name: "cxl", Kind: tiers.KindCXL, CapacityBytes: 1 << 30, FreeBytes: free}}}}
	}
	peers := []Member{mk("a", 10<<20), mk("b", 300<<20), mk("c", 200<<20)}
	if m, ok := demoteTarget(7, 1<<20, peers); !ok || m.Name != "b" {
		t.Fatalf("picked %q, want b", m.Name)
	}
	if _, ok := demoteTarget(7, 400<<20, peers); ok {
		t.Fatal("picked a peer without room")
	}
	tie := []Member{mk("x", 5<<20), mk("y", 5<<20)}
	first, _ := demoteTarget(99, 1, tie)
	again, _ := demoteTarget(99, 1, []Member{tie[1], tie[0]})
	if first.Name != again.Name {
		t.Fatal("tie broken by order, not by score")
	}
}

func TestDirectoryTombstoneStopsStalePut(t *testing.T) {
	d := NewDirectory("a", 1, 0)
	d.SetNode("b", 1, true)
	// The delete arrives before the (older) put it follows.
	if !d.Delete("b", 1, 5, 200) {
		t.Fatal("a delete of an unknown entry must leave a tombstone (and be relayed)")
	}
	if d.Put("b", 1, 5, tiers.KindCXL, 100) {
		t.Fatal("an older put resurrected a deleted entry")
	}
	if d.Len() != 0 {
		t.Fatalf("len %d with only a tombstone", d.Len())
	}
	if !d.Put("b", 1, 5, tiers.KindCXL, 300) {
		t.Fatal("a newer put was refused")
	}
	d.Delete("b", 1, 5, 400)
	if n := d.SweepTombstones(401); n != 1 {
		t.Fatalf("swept %d tombstones, want 1", n)
	}
	if d.Put("b", 1, 5, tiers.KindCXL, 100); d.Len() != 1 {
		t.Fatal("after the sweep, puts are accepted again")
	}
}
