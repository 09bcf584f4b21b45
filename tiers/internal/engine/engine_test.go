package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/extent"
	"github.com/stratacache/stratacache/tiers"
)

func testGeo(t testing.TB, slots, data uint64) extent.Geometry {
	t.Helper()
	g, err := extent.NewGeometry(4096, slots, data, 4096)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func openEngine(t testing.TB, m *memMedia, g extent.Geometry) *Engine {
	t.Helper()
	e, err := Open(m, Options{Name: "test", Kind: tiers.KindDisk, Geometry: g, Policy: newFIFO()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func payloadFor(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func kid(i int) artifact.ID {
	return artifact.MustID(artifact.NamespaceKV, fmt.Sprintf("model/chunk-%d", i))
}

func mustGet(t *testing.T, e *Engine, id artifact.ID, want []byte) {
	t.Helper()
	got, err := e.Get(make([]byte, len(want)+10), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("get %s: payload differs", id)
	}
}

func TestRoundTripMetaAndDelete(t *testing.T) {
	for _, mapped := range []bool{false, true} {
		g := testGeo(t, 64, 1<<20)
		e := openEngine(t, newMemMedia(g, mapped), g)
		id := kid(1)
		p := payloadFor(1, 10000)
		meta := artifact.Meta{DType: artifact.DTypeBF16, Shape: []int64{2, 5000}, Epoch: 9}
		if err := e.Put(context.Background(), id, p, tiers.PutOptions{Meta: meta}); err != nil {
			t.Fatal(err)
		}
		mustGet(t, e, id, p)
		m, err := e.Stat(id)
		if err != nil || m.Length != 10000 || m.Checksum != artifact.Checksum(p) || m.DType != artifact.DTypeBF16 || len(m.Shape) != 2 || m.Epoch != 9 {
			t.Fatalf("stat: %+v %v", m, err)
		}
		v, err := e.View(id)
		if err != nil || !bytes.Equal(v.Bytes(), p) {
			t.Fatalf("view: %v", err)
		}
		v.Release()
		if _, err := e.Get(make([]byte, 10), id); !errors.Is(err, tiers.ErrShortBuffer) {
			t.Fatalf("short buffer: %v", err)
		}
		if !e.Contains(id) || !del(e, id) || e.Contains(id) || del(e, id) {
			t.Fatal("contains/delete")
		}
		if _, err := e.Get(make([]byte, len(p)), id); !errors.Is(err, tiers.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		var s tiers.Stats
		e.Stats(&s)
		if s.UsedBytes != 0 || s.Artifacts != 0 || s.Puts != 1 || s.Deletes != 1 || s.Hits != 2 {
			t.Fatalf("stats: %+v", s)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if err := e.Put(context.Background(), id, p, tiers.PutOptions{}); !errors.Is(err, tiers.ErrClosed) {
			t.Fatalf("put after close: %v", err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReplaceAndCollision(t *testing.T) {
	g := testGeo(t, 64, 1<<20)
	e := openEngine(t, newMemMedia(g, true), g)
	id := kid(1)
	if err := e.Put(context.Background(), id, []byte("old"), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	v, err := e.View(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Put(context.Background(), id, []byte("new payload"), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	mustGet(t, e, id, []byte("new payload"))
	if string(v.Bytes()) != "old" {
		t.Fatalf("view changed under replacement: %q", v.Bytes())
	}
	var s tiers.Stats
	e.Stats(&s)
	if s.PendingBytes != 4096 {
		t.Fatalf("pending %d", s.PendingBytes)
	}
	v.Release()
	e.Stats(&s)
	if s.PendingBytes != 0 || s.Artifacts != 1 || s.UsedBytes != 4096 {
		t.Fatalf("stats after release: %+v", s)
	}
	other := artifact.WithHash(artifact.NamespaceKV, []byte("another key"), id.Hash)
	if err := e.Put(context.Background(), other, []byte("x"), tiers.PutOptions{}); !errors.Is(err, tiers.ErrCollision) {
		t.Fatalf("collision put: %v", err)
	}
	if _, err := e.Get(make([]byte, 100), other); !errors.Is(err, tiers.ErrCollision) || !errors.Is(err, tiers.ErrNotFound) {
		t.Fatalf("collision get: %v", err)
	}
	mustGet(t, e, id, []byte("new payload"))
}

func TestReopenKeepsArtifactsAndResolvesStaleSlots(t *testing.T) {
	g := testGeo(t, 128, 4<<20)
	m := newMemMedia(g, false)
	e := openEngine(t, m, g)
	want := map[int][]byte{}
	for i := range 50 {
		p := payloadFor(uint64(i), 1000+i*300)
		if err := e.Put(context.Background(), kid(i), p, tiers.PutOptions{Meta: artifact.Meta{Shape: []int64{int64(i)}}}); err != nil {
			t.Fatal(err)
		}
		want[i] = p
	}
	for i := 0; i < 50; i += 5 {
		del(e, kid(i))
		delete(want, i)
	}
	// A crash between publishing a replacement and clearing the old slot:
	// keep the old slot's bytes and write them back after the replacement.
	loc, _ := e.Locate(kid(1))
	var oldSlot []byte
	for s := uint64(0); s < g.SlotCount; s++ {
		rec := m.b[g.TableOff()+s*extent.SlotSize:][:extent.SlotSize]
		if extent.SlotLive(rec) {
			if sl, err := extent.DecodeSlot(rec, g); err == nil && sl.Offset == loc.Offset {
				oldSlot = append([]byte(nil), rec...)
			}
		}
	}
	want[1] = payloadFor(1001, 5000)
	if err := e.Put(context.Background(), kid(1), want[1], tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for s := uint64(0); s < g.SlotCount; s++ {
		at := g.TableOff() + s*extent.SlotSize
		if !extent.SlotLive(m.b[at:]) {
			copy(m.b[at:], oldSlot)
			break
		}
	}
	var before tiers.Stats
	e.Stats(&before)
	// Reopen over the same bytes without Close: as after a crash.
	e2 := openEngine(t, m, g)
	for i, p := range want {
		mustGet(t, e2, kid(i), p)
	}
	var after tiers.Stats
	e2.Stats(&after)
	if after.Artifacts != int64(len(want)) || after.UsedBytes != before.UsedBytes || after.Corruptions != 0 {
		t.Fatalf("after reopen %+v, before %+v", after, before)
	}
	if m, _ := e2.Stat(kid(7)); len(m.Shape) != 1 || m.Shape[0] != 7 {
		t.Fatalf("meta after reopen: %+v", m)
	}
	// New stores after reopen must not overwrite survivors.
	for i := 100; i < 120; i++ {
		if err := e2.Put(context.Background(), kid(i), payloadFor(uint64(i), 3000), tiers.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range want {
		mustGet(t, e2, kid(i), p)
	}
}

func TestCorruptionIsAMissAndCounted(t *testing.T) {
	g := testGeo(t, 16, 1<<20)
	m := newMemMedia(g, false)
	e := openEngine(t, m, g)
	p := payloadFor(3, 9000)
	if err := e.Put(context.Background(), kid(3), p, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	loc, _ := e.Locate(kid(3))
	// Reopen (verification state is lost), flip a payload byte.
	e2 := openEngine(t, m, g)
	m.b[loc.Offset+uint64(extent.HeaderLen(len(kid(3).Key), 0))+4444] ^= 0x40
	if _, err := e2.Get(make([]byte, len(p)), kid(3)); !errors.Is(err, tiers.ErrCorrupt) || !errors.Is(err, tiers.ErrNotFound) {
		t.Fatalf("want corrupt miss, got %v", err)
	}
	var s tiers.Stats
	e2.Stats(&s)
	if s.Corruptions != 1 || s.Misses != 1 || s.Artifacts != 0 || s.UsedBytes != 0 {
		t.Fatalf("stats %+v", s)
	}
	// A flipped header byte: found when first touched.
	if err := e2.Put(context.Background(), kid(4), p, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	loc, _ = e2.Locate(kid(4))
	e3 := openEngine(t, m, g)
	m.b[loc.Offset+20] ^= 1
	if e3.Contains(kid(4)) {
		t.Fatal("corrupt header served")
	}
	e3.Stats(&s)
	if s.Corruptions != 1 {
		t.Fatalf("stats %+v", s)
	}
	// A flipped slot byte: the slot is dropped on open.
	if err := e3.Put(context.Background(), kid(5), p, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for s := uint64(0); s < g.SlotCount; s++ {
		at := g.TableOff() + s*extent.SlotSize
		if extent.SlotLive(m.b[at:]) {
			m.b[at+30] ^= 1
		}
	}
	e4 := openEngine(t, m, g)
	e4.Stats(&s)
	if s.Artifacts != 0 || e4.Contains(kid(5)) {
		t.Fatalf("corrupt slot served: %+v", s)
	}
}

func TestEvictionDeliversVictimsAndPinsHold(t *testing.T) {
	g := testGeo(t, 64, 10*4096)
	e := openEngine(t, newMemMedia(g, true), g)
	var got []artifact.ID
	e.SetEvictFunc(func(_ context.Context, ev tiers.Evicted) {
		i := 0
		fmt.Sscanf(string(ev.ID.Key), "model/chunk-%d", &i)
		if !bytes.Equal(ev.View.Bytes(), payloadFor(uint64(i), 3000)) {
			t.Errorf("victim %s bytes differ", ev.ID)
		}
		got = append(got, ev.ID)
		ev.View.Release()
	})
	for i := range 10 {
		if err := e.Put(context.Background(), kid(i), payloadFor(uint64(i), 3000), tiers.PutOptions{Pin: i == 0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Put(context.Background(), kid(10), payloadFor(10, 3000), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Equal(kid(1)) {
		t.Fatalf("victims %v (kid 0 is pinned)", got)
	}
	if err := e.Put(context.Background(), kid(11), payloadFor(11, 200000), tiers.PutOptions{}); !errors.Is(err, tiers.ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	// Everything pinned: no space.
	for i := 2; i <= 10; i++ {
		if err := e.Pin(kid(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Put(context.Background(), kid(12), payloadFor(12, 3000), tiers.PutOptions{}); !errors.Is(err, tiers.ErrNoSpace) {
		t.Fatalf("all pinned: %v", err)
	}
	if err := e.Unpin(kid(5)); err != nil {
		t.Fatal(err)
	}
	if err := e.Put(context.Background(), kid(12), payloadFor(12, 3000), tiers.PutOptions{}); err != nil || !got[len(got)-1].Equal(kid(5)) {
		t.Fatalf("after unpin: %v %v", err, got)
	}
}

func TestWriteErrorLeavesTierConsistent(t *testing.T) {
	g := testGeo(t, 16, 8*4096)
	m := newMemMedia(g, false)
	e := openEngine(t, m, g)
	if err := e.Put(context.Background(), kid(1), payloadFor(1, 5000), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	m.failWrites.Store(true)
	if err := e.Put(context.Background(), kid(2), payloadFor(2, 5000), tiers.PutOptions{}); !errors.Is(err, errInjected) {
		t.Fatalf("want injected error, got %v", err)
	}
	if err := e.Put(context.Background(), kid(1), payloadFor(9, 5000), tiers.PutOptions{}); !errors.Is(err, errInjected) {
		t.Fatalf("want injected error, got %v", err)
	}
	m.failWrites.Store(false)
	var s tiers.Stats
	e.Stats(&s)
	if s.Artifacts != 1 || s.UsedBytes != 8192 {
		t.Fatalf("stats after failed puts: %+v", s)
	}
	mustGet(t, e, kid(1), payloadFor(1, 5000))
	if e.Contains(kid(2)) {
		t.Fatal("failed put visible")
	}
	e2 := openEngine(t, m, g)
	mustGet(t, e2, kid(1), payloadFor(1, 5000))
	if e2.Contains(kid(2)) {
		t.Fatal("failed put visible after reopen")
	}
}

func TestCapacityIsAHardCapUnderConcurrentStores(t *testing.T) {
	g := testGeo(t, 256, 64*4096)
	e := openEngine(t, newMemMedia(g, true), g)
	var mu sync.Mutex
	maxUsed := int64(0)
	e.SetEvictFunc(func(_ context.Context, ev tiers.Evicted) {
		var i int
		fmt.Sscanf(string(ev.ID.Key), "model/chunk-%d", &i)
		if !bytes.Equal(ev.View.Bytes(), payloadFor(uint64(i), len(ev.View.Bytes()))) {
			t.Errorf("victim %s torn", ev.ID)
		}
		ev.View.Release()
	})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for n := 0; n < 300; n++ {
				i := r.IntN(100)
				size := 1000 + r.IntN(30000)
				p := payloadFor(uint64(i), size)
				if err := e.Put(context.Background(), kid(i), p, tiers.PutOptions{}); err != nil && !errors.Is(err, tiers.ErrNoSpace) {
					t.Error(err)
					return
				}
				buf := make([]byte, 64<<10)
				j := r.IntN(100)
				if got, err := e.Get(buf, kid(j)); err == nil && !bytes.Equal(got, payloadFor(uint64(j), len(got))) {
					t.Errorf("artifact %d torn", j)
				}
				var s tiers.Stats
				e.Stats(&s)
				mu.Lock()
				maxUsed = max(maxUsed, s.UsedBytes+s.PendingBytes)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if maxUsed > int64(g.DataSize) {
		t.Fatalf("used %d > capacity %d", maxUsed, g.DataSize)
	}
	var s tiers.Stats
	e.Stats(&s)
	if s.Evictions == 0 || s.PendingBytes != 0 {
		t.Fatalf("stats %+v", s)
	}
	// Every stored artifact is intact; the allocator coalesced what it freed.
	for i := range 100 {
		v, err := e.View(kid(i))
		if err != nil {
			continue
		}
		if !bytes.Equal(v.Bytes(), payloadFor(uint64(i), len(v.Bytes()))) {
			t.Fatalf("artifact %d torn", i)
		}
		v.Release()
	}
	for i := range 100 {
		del(e, kid(i))
	}
	if fr := e.FreeRanges(); fr != 1 {
		t.Fatalf("free ranges after deleting all: %d", fr)
	}
}

func TestReadOnlyWindowSeesFreedGeneration(t *testing.T) {
	g := testGeo(t, 16, 1<<20)
	m := newMemMedia(g, true)
	e := openEngine(t, m, g)
	if err := e.Put(context.Background(), kid(1), []byte("abc"), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	loc, err := e.Locate(kid(1))
	if err != nil || loc.Length != 3 || loc.Generation == 0 {
		t.Fatalf("locate %+v %v", loc, err)
	}
	del(e, kid(1))
	if gen := binary.LittleEndian.Uint64(m.b[loc.Offset+extent.GenerationOffset:]); gen != 0 {
		t.Fatalf("freed extent keeps generation %d", gen)
	}
}

func TestTrustedChecksumIsVerifiedOnFirstRead(t *testing.T) {
	g := testGeo(t, 16, 1<<20)
	e, err := Open(newMemMedia(g, false), Options{Name: "t", Geometry: g, Policy: newFIFO(), TrustPutChecksum: true})
	if err != nil {
		t.Fatal(err)
	}
	p := []byte("payload")
	if err := e.Put(context.Background(), kid(1), p, tiers.PutOptions{Meta: artifact.Meta{Checksum: artifact.Checksum(p) + 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Get(make([]byte, 10), kid(1)); !errors.Is(err, tiers.ErrCorrupt) {
		t.Fatalf("wrong trusted checksum served: %v", err)
	}
	if err := e.Put(context.Background(), kid(2), p, tiers.PutOptions{Meta: artifact.Meta{Checksum: artifact.Checksum(p)}}); err != nil {
		t.Fatal(err)
	}
	mustGet(t, e, kid(2), p)
}

func TestReopenFallsBackToOlderVersionWhenNewerIsTorn(t *testing.T) {
	g := testGeo(t, 16, 1<<20)
	m := newMemMedia(g, false)
	m.keepFreed = true
	e := openEngine(t, m, g)
	oldP, newP := payloadFor(1, 6000), payloadFor(2, 6000)
	if err := e.Put(context.Background(), kid(1), oldP, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	snapshot := append([]byte(nil), m.b[g.TableOff():g.TableOff()+g.SlotCount*extent.SlotSize]...)
	if err := e.Put(context.Background(), kid(1), newP, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	loc, _ := e.Locate(kid(1))
	// Power loss: the old slot was never cleared on the medium and the new
	// payload never landed, but the new slot did.
	for s := uint64(0); s < g.SlotCount; s++ {
		at := g.TableOff() + s*extent.SlotSize
		if extent.SlotLive(snapshot[s*extent.SlotSize:]) {
			copy(m.b[at:at+extent.SlotSize], snapshot[s*extent.SlotSize:])
		}
	}
	m.b[loc.Offset+uint64(extent.HeaderLen(len(kid(1).Key), 0))+100] ^= 0xff
	e2 := openEngine(t, m, g)
	mustGet(t, e2, kid(1), oldP)
}

func TestTTLExpiresAndCloseWaitsForViews(t *testing.T) {
	g := testGeo(t, 16, 1<<20)
	m := newMemMedia(g, true)
	now := int64(1000)
	e, err := Open(m, Options{Name: "t", Geometry: g, Policy: newFIFO(), Now: func() int64 { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Put(context.Background(), kid(1), []byte("short-lived"), tiers.PutOptions{Meta: artifact.Meta{TTL: 50}}); err != nil {
		t.Fatal(err)
	}
	if !e.Contains(kid(1)) {
		t.Fatal("fresh artifact missing")
	}
	now += 50
	if e.Contains(kid(1)) {
		t.Fatal("expired artifact served")
	}
	if err := e.Put(context.Background(), kid(2), []byte("held"), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	v, err := e.View(kid(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if m.closed.Load() {
		t.Fatal("medium closed under an open view")
	}
	if string(v.Bytes()) != "held" {
		t.Fatal("view bytes changed")
	}
	v.Release()
	v.Release() // a second Release is ignored
	if !m.closed.Load() {
		t.Fatal("medium not closed by the last Release")
	}
}
