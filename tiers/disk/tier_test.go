package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/extent"
	"github.com/stratacache/stratacache/tiers"
)

func testConfig(path string) Config {
	c := DefaultLocalConfig(path)
	c.CapacityBytes = 8 << 20
	c.MaxArtifacts = 256
	return c
}

func payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func id(i int) artifact.ID {
	return artifact.MustID(artifact.NamespaceKV, fmt.Sprintf("llama/kv/%d", i))
}

func open(t *testing.T, c Config) *Tier {
	t.Helper()
	d, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestReopenKeepsArtifactsInEveryDurability(t *testing.T) {
	for _, dur := range []Durability{DurabilityNone, DurabilityBatch, DurabilitySync} {
		t.Run(string(dur), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tier")
			c := testConfig(path)
			c.Durability = dur
			d := open(t, c)
			for i := range 30 {
				if err := d.Put(context.Background(), id(i), payload(uint64(i), 3000+i*500), tiers.PutOptions{Meta: artifact.Meta{Shape: []int64{int64(i)}}}); err != nil {
					t.Fatal(err)
				}
			}
			del(d, id(3))
			if err := d.Put(context.Background(), id(4), payload(400, 9000), tiers.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			c.CapacityBytes = 0
			d = open(t, c)
			defer d.Close()
			if d.Epoch() != 2 {
				t.Fatalf("epoch %d", d.Epoch())
			}
			buf := make([]byte, 64<<10)
			for i := range 30 {
				got, err := d.Get(buf, id(i))
				switch i {
				case 3:
					if !errors.Is(err, tiers.ErrNotFound) {
						t.Fatalf("deleted artifact back: %v", err)
					}
				case 4:
					if err != nil || !bytes.Equal(got, payload(400, 9000)) {
						t.Fatalf("replaced artifact: %v", err)
					}
				default:
					if err != nil || !bytes.Equal(got, payload(uint64(i), 3000+i*500)) {
						t.Fatalf("artifact %d after reopen: %v", i, err)
					}
					if m, _ := d.Stat(id(i)); m.Shape[0] != int64(i) {
						t.Fatalf("meta %+v", m)
					}
				}
			}
			v, err := d.View(id(5))
			if err != nil || !bytes.Equal(v.Bytes(), payload(5, 5500)) {
				t.Fatalf("view: %v", err)
			}
			del(d, id(5))
			for i := 100; i < 110; i++ {
				d.Put(context.Background(), id(i), payload(uint64(i), 5500), tiers.PutOptions{})
			}
			if !bytes.Equal(v.Bytes(), payload(5, 5500)) {
				t.Fatal("view changed after delete and reuse")
			}
			v.Release()
		})
	}
}

func TestResetWipesAndSecondOpenerRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tier")
	c := testConfig(path)
	d := open(t, c)
	if _, err := Open(c); !errors.Is(err, ErrLocked) {
		t.Fatalf("second opener: %v", err)
	}
	d.Put(context.Background(), id(1), payload(1, 100), tiers.PutOptions{})
	d.Close()
	c.Reset = true
	d = open(t, c)
	defer d.Close()
	if d.Contains(id(1)) || d.Epoch() != 1 {
		t.Fatal("reset kept an artifact")
	}
}

func TestFlippedBytesAreAMissAndCounted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tier")
	c := testConfig(path)
	c.VerifyAlways = true
	d := open(t, c)
	want := payload(1, 30000)
	d.Put(context.Background(), id(1), want, tiers.PutOptions{})
	d.Put(context.Background(), id(2), want, tiers.PutOptions{})
	loc, _ := d.Locate(id(1))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Flip while open: with VerifyAlways the very next read notices.
	var b [1]byte
	at := int64(loc.Offset) + int64(extent.HeaderLen(len(id(1).Key), 0)) + 777
	f.ReadAt(b[:], at)
	b[0] ^= 1
	f.WriteAt(b[:], at)
	f.Close()
	if _, err := d.Get(make([]byte, len(want)), id(1)); !errors.Is(err, tiers.ErrCorrupt) {
		t.Fatalf("flipped payload served: %v", err)
	}
	if _, err := d.View(id(1)); !errors.Is(err, tiers.ErrNotFound) {
		t.Fatalf("dropped artifact viewed: %v", err)
	}
	got, err := d.Get(make([]byte, len(want)), id(2))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("intact neighbour: %v", err)
	}
	var s tiers.Stats
	d.Stats(&s)
	if s.Corruptions != 1 || s.Misses != 2 || s.Artifacts != 1 {
		t.Fatalf("stats %+v", s)
	}
	d.Close()
}

func TestBadInputIsRefusedUntouched(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(testConfig(filepath.Join(dir, "no", "dir", "tier"))); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing dir: %v", err)
	}
	if _, err := Open(Config{Path: filepath.Join(dir, "x"), Durability: "often"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad durability: %v", err)
	}
	huge := testConfig(filepath.Join(dir, "huge"))
	huge.CapacityBytes = 1 << 60
	if _, err := Open(huge); err == nil {
		t.Fatal("an exabyte tier opened")
	}
	if st, err := os.Stat(huge.Path); err == nil && st.Size() != 0 {
		t.Fatalf("failed open left %d bytes", st.Size())
	}
	junk := bytes.Repeat([]byte("not a tier "), 1000)
	cases := []struct {
		name  string
		setup func(path string)
		cfg   func(c *Config)
		want  error
	}{
		{"too small", func(p string) { os.WriteFile(p, junk[:100], 0o600) }, nil, ErrTooSmall},
		{"wrong magic", func(p string) { os.WriteFile(p, junk, 0o600) }, nil, ErrBadMagic},
		{"newer version", func(p string) {
			q := open(t, testConfig(p))
			q.Close()
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			var v [4]byte
			binary.LittleEndian.PutUint32(v[:], extent.Version+1)
			f.WriteAt(v[:], 8)
			f.Close()
		}, nil, ErrVersion},
		{"geometry mismatch", func(p string) {
			q := open(t, testConfig(p))
			q.Close()
		}, func(c *Config) { c.MaxArtifacts = 512 }, ErrGeometry},
		{"corrupt superblock", func(p string) {
			q := open(t, testConfig(p))
			q.Close()
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			f.WriteAt([]byte{0xff}, 20)
			f.Close()
		}, nil, ErrBadRecord},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			tc.setup(path)
			before, _ := os.ReadFile(path)
			c := testConfig(path)
			if tc.cfg != nil {
				tc.cfg(&c)
			}
			if _, err := Open(c); !errors.Is(err, tc.want) {
				t.Fatalf("want %v, got %v", tc.want, err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Fatal("refused file was modified")
			}
			c.Reset = true
			q, err := Open(c)
			if err != nil {
				t.Fatalf("reset: %v", err)
			}
			q.Close()
		})
	}
}

func TestCapacityCapUnderConcurrentStoresAndReuse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tier")
	c := testConfig(path)
	c.CapacityBytes = 1 << 20
	d := open(t, c)
	defer d.Close()
	done := make(chan error, 4)
	for w := range 4 {
		go func() {
			r := rand.New(rand.NewPCG(uint64(w), 5))
			buf := make([]byte, 128<<10)
			for n := 0; n < 200; n++ {
				i := r.IntN(64)
				size := 10000 + (i*7919)%90000
				if err := d.Put(context.Background(), id(i), payload(uint64(i), size), tiers.PutOptions{}); err != nil && !errors.Is(err, tiers.ErrNoSpace) {
					done <- err
					return
				}
				j := r.IntN(64)
				if got, err := d.Get(buf, id(j)); err == nil && !bytes.Equal(got, payload(uint64(j), 10000+(j*7919)%90000)) {
					done <- fmt.Errorf("artifact %d torn", j)
					return
				}
				var s tiers.Stats
				d.Stats(&s)
				if s.UsedBytes+s.PendingBytes > s.CapacityBytes {
					done <- fmt.Errorf("used %d + pending %d > capacity %d", s.UsedBytes, s.PendingBytes, s.CapacityBytes)
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	st, _ := os.Stat(path)
	g := d.Geometry()
	if uint64(st.Size()) != g.TotalSize() {
		t.Fatalf("file grew to %d, geometry %d", st.Size(), g.TotalSize())
	}
	for i := range 64 {
		del(d, id(i))
	}
	if fr := d.FreeRanges(); fr != 1 {
		t.Fatalf("free space not coalesced: %d ranges", fr)
	}
}

func TestAdoptGeometryOpensAnExistingFileOfAnotherSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tier")
	d := open(t, testConfig(path))
	d.Put(context.Background(), id(1), payload(1, 100), tiers.PutOptions{})
	d.Close()
	c := testConfig(path)
	c.CapacityBytes = 32 << 20
	if _, err := Open(c); !errors.Is(err, ErrGeometry) {
		t.Fatalf("strict: %v", err)
	}
	c.AdoptGeometry = true
	d = open(t, c)
	defer d.Close()
	if !d.Contains(id(1)) || d.Geometry().DataSize != 8<<20 {
		t.Fatalf("adopted %+v", d.Geometry())
	}
}
