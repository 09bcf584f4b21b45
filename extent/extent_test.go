package extent

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stratacache/stratacache/artifact"
)

func testGeometry(t testing.TB) Geometry {
	g, err := NewGeometry(4096, 100, 1<<20, 4096)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestSuperblockRoundTripAndRejects(t *testing.T) {
	g := testGeometry(t)
	m := Magic{'T', 'E', 'S', 'T', 'P', 'O', 'O', 'L'}
	sb := Superblock{Magic: m, Version: Version, Geometry: g, Epoch: 3, Created: 12345, GenLease: 1 << 20, VerLease: 77, Flags: FlagFailed}
	buf := make([]byte, SuperblockSize)
	sb.Encode(buf)
	got, err := DecodeSuperblock(buf, m)
	if err != nil || got != sb {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if _, err := DecodeSuperblock(buf, Magic{'X'}); !errors.Is(err, ErrBadMagic) {
		t.Fatalf("magic: %v", err)
	}
	flipped := append([]byte(nil), buf...)
	flipped[20] ^= 1
	if _, err := DecodeSuperblock(flipped, m); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("checksum: %v", err)
	}
	newer := sb
	newer.Version = Version + 1
	newer.Encode(buf)
	if _, err := DecodeSuperblock(buf, m); !errors.Is(err, ErrVersion) {
		t.Fatalf("version: %v", err)
	}
	older := sb
	older.Version = 1 // format 1 had no versions in its slots: refused
	older.Encode(buf)
	if _, err := DecodeSuperblock(buf, m); !errors.Is(err, ErrVersion) {
		t.Fatalf("older version: %v", err)
	}
	if _, err := FitGeometry(4096, 1000, 8192, 4096); !errors.Is(err, ErrTooSmall) {
		t.Fatalf("fit: %v", err)
	}
	if g2, err := FitGeometry(4096, 100, 4<<20, 2<<20); err != nil || g2.DataOff%(2<<20) != 0 || g2.TotalSize() > 4<<20 {
		t.Fatalf("fit dax: %+v %v", g2, err)
	}
}

func TestSlotAndHeaderRoundTrip(t *testing.T) {
	g := testGeometry(t)
	key := []byte("llama-3-8b/kv/0123456789abcdef")
	h := Header{Generation: 7, KeyHash: 99, Length: 5000, Checksum: 1234, Created: 5, TTL: 6, Epoch: 2,
		Namespace: artifact.NamespaceKV, DType: artifact.DTypeBF16, Shape: []int64{32, 256, 128}, Key: key}
	n := HeaderLen(len(key), 3)
	buf := make([]byte, n)
	if got, err := h.Encode(buf); err != nil || got != n || n%HeaderAlign != 0 {
		t.Fatalf("encode %d %v", got, err)
	}
	d, dn, err := DecodeHeader(buf)
	if err != nil || dn != n || !bytes.Equal(d.Key, key) || d.Shape[2] != 128 || d.Generation != 7 || d.Checksum != 1234 || d.DType != artifact.DTypeBF16 {
		t.Fatalf("decode %+v %v", d, err)
	}
	for i := 0; i < n; i += 7 {
		c := append([]byte(nil), buf...)
		c[i] ^= 0x20
		if hh, _, err := DecodeHeader(c); err == nil && (hh.Generation != 7 || !bytes.Equal(hh.Key, key)) {
			t.Fatalf("flip at %d decoded as %+v", i, hh)
		}
	}
	s := Slot{HeaderLen: uint32(n), Generation: 7, KeyHash: 99, Offset: g.DataOff + 4096, Version: 42, Length: 5000, Checksum: 1234}
	rec := make([]byte, SlotSize)
	s.Encode(rec)
	s.ExtentLen = 8192 // derived: header + 5000 bytes rounded to 4 KiB blocks
	if got, err := DecodeSlot(rec, g); err != nil || got != s || !SlotLive(rec) {
		t.Fatalf("slot %+v %v", got, err)
	}
	rec[30] ^= 1
	if _, err := DecodeSlot(rec, g); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("slot flip: %v", err)
	}
	s.Offset = g.DataOff + g.DataSize // outside
	s.Encode(rec)
	if _, err := DecodeSlot(rec, g); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("slot bounds: %v", err)
	}
}

func TestAllocatorCoalescesAndNeverOverlaps(t *testing.T) {
	const base, size, align = 1 << 20, 1 << 22, 4096
	a := NewAllocator(base, size, align)
	r := rand.New(rand.NewPCG(1, 2))
	live := map[uint64]uint64{}
	used := make([]bool, size/align)
	for step := 0; step < 20000; step++ {
		if r.IntN(2) == 0 || len(live) == 0 {
			n := uint64(1+r.IntN(64*1024)) + 0
			off, ok := a.Alloc(n)
			if !ok {
				continue
			}
			n = a.Round(n)
			if off < base || off+n > base+size || off%align != 0 {
				t.Fatalf("alloc out of range: %d+%d", off, n)
			}
			for b := (off - base) / align; b < (off-base+n)/align; b++ {
				if used[b] {
					t.Fatalf("overlap at block %d", b)
				}
				used[b] = true
			}
			live[off] = n
		} else {
			for off, n := range live {
				a.Free(off, n)
				for b := (off - base) / align; b < (off-base+n)/align; b++ {
					used[b] = false
				}
				delete(live, off)
				break
			}
		}
		var sum uint64
		for _, n := range live {
			sum += n
		}
		if a.FreeBytes()+sum != size {
			t.Fatalf("free %d + live %d != %d", a.FreeBytes(), sum, size)
		}
	}
	var ranges []Range
	for off, n := range live {
		ranges = append(ranges, Range{off, n})
	}
	b := NewAllocator(base, size, align)
	if err := b.Rebuild(ranges); err != nil || b.FreeBytes() != a.FreeBytes() {
		t.Fatalf("rebuild: %v free %d vs %d", err, b.FreeBytes(), a.FreeBytes())
	}
	for off, n := range live {
		a.Free(off, n)
	}
	if a.FreeRanges() != 1 || a.FreeBytes() != size {
		t.Fatalf("after freeing all: %d ranges, %d bytes", a.FreeRanges(), a.FreeBytes())
	}
	if _, ok := a.Alloc(size); !ok {
		t.Fatal("whole area not allocatable after coalescing")
	}
	if err := b.Rebuild([]Range{{base, 8192}, {base + 4096, 4096}}); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("overlapping rebuild: %v", err)
	}
}

func FuzzDecodeHeader(f *testing.F) {
	h := Header{Generation: 1, Length: 3, Namespace: artifact.NamespaceKV, Key: []byte("k"), Shape: []int64{1}}
	buf := make([]byte, HeaderLen(1, 1))
	h.Encode(buf)
	f.Add(buf)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := DecodeHeader(b)
		if err != nil {
			return
		}
		// Reserved bytes and padding are not compared: re-encoding must
		// give a header that decodes to the same fields.
		out := make([]byte, n)
		m, err := h.Encode(out)
		if err != nil || m != n {
			t.Fatalf("decoded header does not re-encode: %v", err)
		}
		h2, n2, err := DecodeHeader(out)
		if err != nil || n2 != n || h2.Generation != h.Generation || h2.Length != h.Length ||
			h2.Checksum != h.Checksum || !bytes.Equal(h2.Key, h.Key) || len(h2.Shape) != len(h.Shape) {
			t.Fatalf("re-encoded header decodes differently: %v", err)
		}
	})
}

func FuzzDecodeSlotAndSuperblock(f *testing.F) {
	g, _ := NewGeometry(4096, 100, 1<<20, 4096)
	rec := make([]byte, SlotSize)
	(&Slot{HeaderLen: 128, Generation: 1, Offset: g.DataOff, Version: 1, Length: 10}).Encode(rec)
	f.Add(rec)
	sb := make([]byte, SuperblockSize)
	(&Superblock{Magic: Magic{'A'}, Version: Version, Geometry: g}).Encode(sb)
	f.Add(sb)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= SlotSize {
			if s, err := DecodeSlot(b, g); err == nil && (s.Offset < g.DataOff || s.Offset+s.ExtentLen > g.TotalSize()) {
				t.Fatalf("slot outside the data area accepted: %+v", s)
			}
		}
		if s, err := DecodeSuperblock(b, Magic{'A'}); err == nil && s.Geometry.DataOff < SuperblockSize+s.Geometry.SlotCount*SlotSize {
			t.Fatalf("overlapping geometry accepted: %+v", s.Geometry)
		}
	})
}
