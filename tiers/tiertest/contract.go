package tiertest

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
	"github.com/stratacache/stratacache/tiers"
)

// Harness describes a tier implementation to RunContract.
type Harness struct {
	// New opens a fresh, empty tier whose byte budget holds at least
	// capacity bytes of payload and at most about twice that (headers and
	// block rounding included). The contract closes it.
	New func(t *testing.T, capacity int64) tiers.Tier
	// Reopen closes tr and opens the same medium again (persistent tiers);
	// nil for a tier that keeps nothing across a close.
	Reopen func(t *testing.T, tr tiers.Tier) tiers.Tier
	// Evicts: the tier evicts to stay within its budget, handing victims to
	// its EvictFunc (the remote tier never evicts).
	Evicts bool
	// Versioned: the tier keeps versions and applies versioned puts
	// conditionally (the remote tier cannot compare peers' versions).
	Versioned bool
	// Pins: Pin and Unpin hold an artifact against eviction.
	Pins bool
	// Collisions: two keys of one 64-bit id can be built and stored (every
	// local tier; the remote tier routes by id and cannot be asked).
	Collisions bool
}

// RunContract runs the tiers.Tier contract against h: the same tests for
// the memory, cxl, disk, remote and fake tiers.
func RunContract(t *testing.T, h Harness) {
	t.Run("RoundTrip", func(t *testing.T) { contractRoundTrip(t, h) })
	t.Run("ViewsOutliveReplaceAndDelete", func(t *testing.T) { contractViews(t, h) })
	t.Run("Capacity", func(t *testing.T) { contractCapacity(t, h) })
	t.Run("Close", func(t *testing.T) { contractClose(t, h) })
	if h.Collisions {
		t.Run("Collision", func(t *testing.T) { contractCollision(t, h) })
	}
	if h.Versioned {
		t.Run("Versions", func(t *testing.T) { contractVersions(t, h) })
		t.Run("ConcurrentVersionedPuts", func(t *testing.T) { contractConcurrentVersions(t, h) })
	}
	if h.Evicts {
		t.Run("EvictionAccounting", func(t *testing.T) { contractEviction(t, h) })
		t.Run("VictimStaysReadableAndDeleteWaits", func(t *testing.T) { contractVictimVisible(t, h) })
	}
	if h.Pins && h.Evicts {
		t.Run("PinsHold", func(t *testing.T) { contractPins(t, h) })
	}
	if h.Reopen != nil {
		t.Run("Reopen", func(t *testing.T) { contractReopen(t, h) })
	}
}

var bg = context.Background()

// Key is the contract's artifact i.
func Key(i int) artifact.ID {
	return artifact.MustID(artifact.NamespaceKV, fmt.Sprintf("contract/%d", i))
}

// Payload is a deterministic payload of n bytes for (seed).
func Payload(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 7))
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(seed)
	}
	return b
}

func open(t *testing.T, h Harness, capacity int64) tiers.Tier {
	t.Helper()
	tr := h.New(t, capacity)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func mustPut(t *testing.T, tr tiers.Tier, id artifact.ID, p []byte, opts tiers.PutOptions) {
	t.Helper()
	if err := tr.Put(bg, id, p, opts); err != nil {
		t.Fatalf("put %s: %v", id, err)
	}
}

func mustHold(t *testing.T, tr tiers.Tier, id artifact.ID, want []byte) {
	t.Helper()
	buf := make([]byte, len(want)+16)
	got, err := tr.Get(buf, id)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("get %s: err %v, equal %v", id, err, bytes.Equal(got, want))
	}
	v, err := tr.View(id)
	if err != nil {
		t.Fatalf("view %s: %v", id, err)
	}
	if !bytes.Equal(v.Bytes(), want) || v.Meta().Length != int64(len(want)) {
		t.Fatalf("view %s: bytes differ or length %d != %d", id, v.Meta().Length, len(want))
	}
	v.Release()
}

func del(t *testing.T, tr tiers.Tier, id artifact.ID, below uint64) bool {
	t.Helper()
	ok, err := tr.Delete(bg, id, tiers.DeleteOptions{Below: below})
	if err != nil {
		t.Fatalf("delete %s: %v", id, err)
	}
	return ok
}

func contractRoundTrip(t *testing.T, h Harness) {
	tr := open(t, h, 1<<20)
	p := Payload(1, 10_000)
	meta := artifact.Meta{DType: artifact.DTypeBF16, Shape: []int64{10, 500}}
	mustPut(t, tr, Key(1), p, tiers.PutOptions{Meta: meta})
	mustHold(t, tr, Key(1), p)
	if !tr.Contains(Key(1)) || tr.Contains(Key(2)) {
		t.Fatal("contains")
	}
	m, err := tr.Stat(Key(1))
	if err != nil || m.Length != int64(len(p)) || m.DType != artifact.DTypeBF16 || len(m.Shape) != 2 || m.Shape[1] != 500 {
		t.Fatalf("stat: %+v %v", m, err)
	}
	if _, err := tr.Get(make([]byte, 10), Key(1)); !errors.Is(err, tiers.ErrShortBuffer) {
		t.Fatalf("short buffer: %v", err)
	}
	if _, err := tr.Get(make([]byte, 100), Key(2)); !errors.Is(err, tiers.ErrNotFound) {
		t.Fatalf("miss: %v", err)
	}
	if _, err := tr.View(Key(2)); !errors.Is(err, tiers.ErrNotFound) {
		t.Fatalf("view miss: %v", err)
	}
	if _, ok := tr.Version(Key(2)); ok {
		t.Fatal("version of a missing key")
	}
	// Replace.
	p2 := Payload(2, 5_000)
	mustPut(t, tr, Key(1), p2, tiers.PutOptions{})
	mustHold(t, tr, Key(1), p2)
	d1 := del(t, tr, Key(1), 0)
	d2 := del(t, tr, Key(1), 0)
	c := tr.Contains(Key(1))
	if !d1 || d2 || c {
		t.Fatalf("delete: first %v second %v contains %v", d1, d2, c)
	}
	if _, err := tr.Get(make([]byte, 100), Key(1)); !errors.Is(err, tiers.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := tr.Put(bg, artifact.ID{Namespace: artifact.NamespaceKV}, p, tiers.PutOptions{}); err == nil {
		t.Fatal("a put of an invalid id succeeded")
	}
	// An empty payload is an artifact too.
	mustPut(t, tr, Key(3), nil, tiers.PutOptions{})
	if got, err := tr.Get(nil, Key(3)); err != nil || len(got) != 0 {
		t.Fatalf("empty payload: %v", err)
	}
}

func contractViews(t *testing.T, h Harness) {
	tr := open(t, h, 1<<20)
	p := Payload(3, 64<<10)
	mustPut(t, tr, Key(1), p, tiers.PutOptions{})
	v, err := tr.View(Key(1))
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, tr, Key(1), Payload(4, 64<<10), tiers.PutOptions{})
	if !bytes.Equal(v.Bytes(), p) {
		t.Fatal("a view changed when its artifact was replaced")
	}
	del(t, tr, Key(1), 0)
	// Reuse the space the deleted artifact had.
	for i := 2; i < 8; i++ {
		mustPut(t, tr, Key(i), Payload(uint64(10+i), 64<<10), tiers.PutOptions{})
	}
	if !bytes.Equal(v.Bytes(), p) {
		t.Fatal("a view changed when its artifact was deleted and the space reused")
	}
	v.Release()
}

func contractCapacity(t *testing.T, h Harness) {
	tr := open(t, h, 1<<20)
	var s tiers.Stats
	tr.Stats(&s)
	if s.CapacityBytes <= 0 && h.Evicts {
		t.Fatalf("capacity %d", s.CapacityBytes)
	}
	if !h.Evicts {
		return
	}
	if err := tr.Put(bg, Key(1), make([]byte, s.CapacityBytes+1), tiers.PutOptions{}); !errors.Is(err, tiers.ErrTooLarge) {
		t.Fatalf("a payload over the capacity: %v", err)
	}
	for i := 0; i < 64; i++ {
		mustPut(t, tr, Key(i), Payload(uint64(i), 48<<10), tiers.PutOptions{})
		tr.Stats(&s)
		if s.UsedBytes > s.CapacityBytes {
			t.Fatalf("used %d > capacity %d", s.UsedBytes, s.CapacityBytes)
		}
	}
}

func contractClose(t *testing.T, h Harness) {
	tr := h.New(t, 1<<20)
	p := Payload(5, 8<<10)
	mustPut(t, tr, Key(1), p, tiers.PutOptions{})
	v, err := tr.View(Key(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if !bytes.Equal(v.Bytes(), p) {
		t.Fatal("a view taken before Close changed")
	}
	v.Release()
	if err := tr.Put(bg, Key(2), p, tiers.PutOptions{}); !errors.Is(err, tiers.ErrClosed) {
		t.Fatalf("put after close: %v", err)
	}
	if _, err := tr.Get(make([]byte, len(p)), Key(1)); err == nil {
		t.Fatal("get after close served")
	}
	if tr.Contains(Key(1)) {
		t.Fatal("contains after close")
	}
}

func contractCollision(t *testing.T, h Harness) {
	tr := open(t, h, 1<<20)
	a := artifact.WithHash(artifact.NamespaceKV, []byte("collide-a"), 0xc011)
	b := artifact.WithHash(artifact.NamespaceKV, []byte("collide-b"), 0xc011)
	pa := Payload(6, 4000)
	mustPut(t, tr, a, pa, tiers.PutOptions{})
	if err := tr.Put(bg, b, Payload(7, 4000), tiers.PutOptions{}); !errors.Is(err, tiers.ErrCollision) {
		t.Fatalf("put of a colliding key: %v", err)
	}
	if _, err := tr.Get(make([]byte, 4000), b); err == nil || !errors.Is(err, tiers.ErrCollision) {
		t.Fatalf("get of a colliding key: %v", err)
	}
	if tr.Contains(b) || del(t, tr, b, 0) {
		t.Fatal("a colliding key is held or deleted")
	}
	mustHold(t, tr, a, pa)
}

// refuse is a Guard that refuses everything.
type refuse struct{}

func (refuse) Admit(artifact.ID, uint64) bool { return false }

func versioned(v uint64) tiers.PutOptions {
	return tiers.PutOptions{Meta: artifact.Meta{Version: v}}
}

func contractVersions(t *testing.T, h Harness) {
	tr := open(t, h, 1<<20)
	p5, p3, p7 := Payload(5, 4000), Payload(3, 4000), Payload(7, 4000)
	mustPut(t, tr, Key(1), p5, versioned(5))
	if v, ok := tr.Version(Key(1)); !ok || v != 5 {
		t.Fatalf("version %d %v", v, ok)
	}
	if m, _ := tr.Stat(Key(1)); m.Version != 5 {
		t.Fatalf("stat version %d", m.Version)
	}
	for _, v := range []uint64{3, 5} {
		if err := tr.Put(bg, Key(1), p3, versioned(v)); !errors.Is(err, tiers.ErrStale) {
			t.Fatalf("put of version %d over 5: %v", v, err)
		}
	}
	mustHold(t, tr, Key(1), p5)
	opts := versioned(7)
	opts.Guard = refuse{}
	if err := tr.Put(bg, Key(1), p7, opts); !errors.Is(err, tiers.ErrStale) {
		t.Fatalf("put the guard refuses: %v", err)
	}
	mustHold(t, tr, Key(1), p5)
	if err := tr.Put(bg, Key(2), p7, opts); !errors.Is(err, tiers.ErrStale) || tr.Contains(Key(2)) {
		t.Fatalf("put of a new key the guard refuses: %v", err)
	}
	mustPut(t, tr, Key(1), p7, versioned(7))
	mustHold(t, tr, Key(1), p7)
	var s tiers.Stats
	tr.Stats(&s)
	if s.Stale < 3 {
		t.Fatalf("stale puts counted: %d", s.Stale)
	}
	// Delete below a version removes only older copies.
	if del(t, tr, Key(1), 7) || !tr.Contains(Key(1)) {
		t.Fatal("a delete below 7 removed version 7")
	}
	if !del(t, tr, Key(1), 8) || tr.Contains(Key(1)) {
		t.Fatal("a delete below 8 kept version 7")
	}
	// A deleted key takes any version again; an unversioned put replaces a
	// versioned one.
	mustPut(t, tr, Key(1), p3, versioned(3))
	mustPut(t, tr, Key(1), p5, tiers.PutOptions{})
	mustHold(t, tr, Key(1), p5)
}

func contractConcurrentVersions(t *testing.T, h Harness) {
	tr := open(t, h, 1<<20)
	const writers, per = 4, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				v := uint64(i*writers + w + 1)
				err := tr.Put(bg, Key(1), Payload(v, 2048), versioned(v))
				if err != nil && !errors.Is(err, tiers.ErrStale) {
					t.Errorf("put version %d: %v", v, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	last := uint64(writers * per)
	if v, ok := tr.Version(Key(1)); !ok || v != last {
		t.Fatalf("after concurrent versioned puts: version %d, want %d", v, last)
	}
	mustHold(t, tr, Key(1), Payload(last, 2048))
}

func contractEviction(t *testing.T, h Harness) {
	tr := open(t, h, 256<<10)
	const size = 32 << 10
	var mu sync.Mutex
	var victims []artifact.ID
	tr.SetEvictFunc(func(_ context.Context, ev tiers.Evicted) {
		defer ev.View.Release()
		var i int
		if _, err := fmt.Sscanf(string(ev.ID.Key), "contract/%d", &i); err != nil {
			t.Errorf("victim %q", ev.ID.Key)
			return
		}
		if !bytes.Equal(ev.View.Bytes(), Payload(uint64(i), size)) || ev.View.Meta().Version != uint64(i+1) {
			t.Errorf("victim %d: bytes or version differ from what was stored", i)
		}
		mu.Lock()
		victims = append(victims, ev.ID.Clone())
		mu.Unlock()
	})
	const n = 40
	for i := 0; i < n; i++ {
		mustPut(t, tr, Key(i), Payload(uint64(i), size), versioned(uint64(i+1)))
	}
	var s tiers.Stats
	tr.Stats(&s)
	held := 0
	for i := 0; i < n; i++ {
		if tr.Contains(Key(i)) {
			held++
		}
	}
	if len(victims) == 0 || held+len(victims) != n || int64(held) != s.Artifacts {
		t.Fatalf("%d victims, %d held, %d artifacts counted, of %d stored", len(victims), held, s.Artifacts, n)
	}
	if s.Evictions != uint64(len(victims)) || s.EvictedBytes != uint64(len(victims)*size) {
		t.Fatalf("evictions %d (%d bytes), victims %d", s.Evictions, s.EvictedBytes, len(victims))
	}
	if s.UsedBytes > s.CapacityBytes || s.PendingBytes != 0 {
		t.Fatalf("used %d of %d, pending %d", s.UsedBytes, s.CapacityBytes, s.PendingBytes)
	}
	for _, v := range victims {
		if tr.Contains(v) {
			t.Fatalf("victim %s still held after its eviction", v)
		}
	}
}

func contractVictimVisible(t *testing.T, h Harness) {
	tr := open(t, h, 256<<10)
	const size = 32 << 10
	expired, cancel := context.WithCancel(bg)
	cancel()
	checked := 0
	tr.SetEvictFunc(func(ctx context.Context, ev tiers.Evicted) {
		defer ev.View.Release()
		// Readable while its hook runs: a reader never finds it neither
		// here nor where it is being demoted to.
		if !tr.Contains(ev.ID) {
			t.Errorf("victim %s not readable while its hook runs", ev.ID)
		}
		// A delete of the key must wait for the hook; with an expired
		// context it gives up and leaves the victim alone.
		if ok, err := tr.Delete(expired, ev.ID, tiers.DeleteOptions{}); ok || err == nil {
			t.Errorf("delete of a victim during its hook: removed %v, err %v", ok, err)
		}
		if !tr.Contains(ev.ID) {
			t.Errorf("victim %s gone after a delete that had to wait", ev.ID)
		}
		checked++
	})
	for i := 0; i < 24; i++ {
		mustPut(t, tr, Key(i), Payload(uint64(i), size), tiers.PutOptions{})
	}
	if checked == 0 {
		t.Fatal("no eviction happened")
	}
}

func contractPins(t *testing.T, h Harness) {
	tr := open(t, h, 256<<10)
	const size = 32 << 10
	mustPut(t, tr, Key(0), Payload(0, size), tiers.PutOptions{Pin: true})
	if err := tr.Pin(Key(0)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Unpin(Key(0)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 40; i++ {
		mustPut(t, tr, Key(i), Payload(uint64(i), size), tiers.PutOptions{})
	}
	mustHold(t, tr, Key(0), Payload(0, size))
	if err := tr.Pin(Key(999)); !errors.Is(err, tiers.ErrNotFound) {
		t.Fatalf("pin of a missing key: %v", err)
	}
}

func contractReopen(t *testing.T, h Harness) {
	tr := h.New(t, 1<<20)
	for i := 0; i < 10; i++ {
		mustPut(t, tr, Key(i), Payload(uint64(i), 10_000+i), versioned(uint64(100+i)))
	}
	del(t, tr, Key(3), 0)
	mustPut(t, tr, Key(4), Payload(44, 7_000), versioned(500))
	tr = h.Reopen(t, tr)
	t.Cleanup(func() { _ = tr.Close() })
	for i := 0; i < 10; i++ {
		switch i {
		case 3:
			if tr.Contains(Key(3)) {
				t.Fatal("a deleted artifact came back after reopen")
			}
		case 4:
			mustHold(t, tr, Key(4), Payload(44, 7_000))
			if v, _ := tr.Version(Key(4)); v != 500 {
				t.Fatalf("version after reopen: %d", v)
			}
		default:
			mustHold(t, tr, Key(i), Payload(uint64(i), 10_000+i))
			if v, _ := tr.Version(Key(i)); v != uint64(100+i) {
				t.Fatalf("version of %d after reopen: %d", i, v)
			}
		}
	}
	if hw, ok := tr.(tiers.HighWaterMarker); ok && hw.VersionHighWater() < 500 {
		t.Fatalf("version high-water mark %d after reopen, below 500", hw.VersionHighWater())
	}
	if err := tr.Put(bg, Key(4), Payload(1, 100), versioned(499)); !errors.Is(err, tiers.ErrStale) {
		t.Fatalf("an older version over a reopened one: %v", err)
	}
}
