package cxl

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

// shmDir is a per-test directory on /dev/shm (tmpfs), else the test temp dir.
func shmDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/dev/shm", "stratacache-cxl-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

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
	p, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReopenKeepsArtifactsAndResetWipes(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	c := testConfig(path)
	p := open(t, c)
	for i := range 20 {
		if err := p.Put(context.Background(), id(i), payload(uint64(i), 5000+i*1000), tiers.PutOptions{Meta: artifact.Meta{DType: artifact.DTypeF16}}); err != nil {
			t.Fatal(err)
		}
	}
	if p.Epoch() != 1 {
		t.Fatalf("epoch %d", p.Epoch())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	c.CapacityBytes = 0 // adopt the pool's geometry
	p = open(t, c)
	if p.Epoch() != 2 {
		t.Fatalf("epoch after reopen %d", p.Epoch())
	}
	for i := range 20 {
		v, err := p.View(id(i))
		if err != nil {
			t.Fatalf("after reopen %d: %v", i, err)
		}
		if !bytes.Equal(v.Bytes(), payload(uint64(i), 5000+i*1000)) || v.Meta().DType != artifact.DTypeF16 {
			t.Fatalf("artifact %d differs after reopen", i)
		}
		v.Release()
	}
	p.Close()
	c.CapacityBytes = 8 << 20
	c.ResetMetadata = true
	p = open(t, c)
	var s tiers.Stats
	p.Stats(&s)
	if s.Artifacts != 0 || p.Contains(id(1)) || p.Epoch() != 1 {
		t.Fatalf("reset kept artifacts: %+v", s)
	}
	p.Close()
}

func TestSecondWriterRefusedReaderAttaches(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	p := open(t, testConfig(path))
	defer p.Close()
	if _, err := Open(testConfig(path)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second opener: %v", err)
	}
	want := payload(7, 70000)
	if err := p.Put(context.Background(), id(7), want, tiers.PutOptions{Meta: artifact.Meta{Shape: []int64{7, 10000}}}); err != nil {
		t.Fatal(err)
	}
	loc, err := p.Locate(id(7))
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sp, err := r.Read(loc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sp.Bytes, want) || !sp.ID.Equal(id(7)) || sp.Meta.Shape[1] != 10000 || !sp.Valid() {
		t.Fatal("read-only span differs")
	}
	// The owner deletes and reuses the extent: the span notices.
	del(p, id(7))
	if sp.Valid() {
		t.Fatal("span valid after the owner freed the extent")
	}
	if err := p.Put(context.Background(), id(8), payload(8, 70000), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(loc); !errors.Is(err, ErrStale) {
		t.Fatalf("stale location: %v", err)
	}
	if _, err := r.Read(Location{Offset: 3, Length: 1, Generation: 1}); !errors.Is(err, ErrStale) {
		t.Fatalf("bad offset: %v", err)
	}
}

func TestFlippedBytesAreAMissAndCounted(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	c := testConfig(path)
	p := open(t, c)
	want := payload(1, 30000)
	if err := p.Put(context.Background(), id(1), want, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Put(context.Background(), id(2), want, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	loc, _ := p.Locate(id(1))
	p.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	at := int64(loc.Offset) + int64(extent.HeaderLen(len(id(1).Key), 0)) + 12345
	f.ReadAt(b[:], at)
	b[0] ^= 0x10
	f.WriteAt(b[:], at)
	f.Close()
	p = open(t, c)
	defer p.Close()
	if _, err := p.Get(make([]byte, len(want)), id(1)); !errors.Is(err, tiers.ErrCorrupt) || !errors.Is(err, tiers.ErrNotFound) {
		t.Fatalf("flipped payload served: %v", err)
	}
	if v, err := p.View(id(2)); err != nil || !bytes.Equal(v.Bytes(), want) {
		t.Fatalf("intact neighbour: %v", err)
	} else {
		v.Release()
	}
	var s tiers.Stats
	p.Stats(&s)
	if s.Corruptions != 1 || s.Misses != 1 || s.Artifacts != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBadInputIsRefusedUntouched(t *testing.T) {
	dir := shmDir(t)
	t.Run("missing dax device", func(t *testing.T) {
		c := testConfig("")
		c.DAXDevice = "/dev/dax-does-not-exist.0"
		if _, err := Open(c); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("want not-exist, got %v", err)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		if _, err := Open(testConfig(filepath.Join(dir, "no", "such", "pool"))); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("want not-exist, got %v", err)
		}
	})
	t.Run("missing file for read-only attach", func(t *testing.T) {
		if _, err := OpenReadOnly(filepath.Join(dir, "absent")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("want not-exist, got %v", err)
		}
	})
	junk := bytes.Repeat([]byte("not a pool "), 1000)
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
		}, func(c *Config) { c.CapacityBytes = 16 << 20 }, ErrGeometry},
		{"new pool without capacity", func(p string) {}, func(c *Config) { c.CapacityBytes = 0 }, ErrConfig},
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
				t.Fatal("refused pool was modified")
			}
			if len(before) > 0 && tc.want != ErrConfig {
				if _, err := OpenReadOnly(path); err == nil && tc.want != ErrGeometry {
					t.Fatal("read-only attach accepted bad pool")
				}
				// Reset is the way out.
				c.ResetMetadata = true
				c.CapacityBytes = 8 << 20
				q, err := Open(c)
				if err != nil {
					t.Fatalf("reset: %v", err)
				}
				q.Close()
			}
		})
	}
}

func TestCapacityCapUnderConcurrentStores(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	c := testConfig(path)
	c.CapacityBytes = 1 << 20
	p := open(t, c)
	defer p.Close()
	done := make(chan error, 4)
	for w := range 4 {
		go func() {
			r := rand.New(rand.NewPCG(uint64(w), 5))
			for n := 0; n < 200; n++ {
				i := r.IntN(64)
				if err := p.Put(context.Background(), id(i), payload(uint64(i), 10000+r.IntN(90000)), tiers.PutOptions{}); err != nil && !errors.Is(err, tiers.ErrNoSpace) {
					done <- err
					return
				}
				var s tiers.Stats
				p.Stats(&s)
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
	var s tiers.Stats
	p.Stats(&s)
	if s.Evictions == 0 || s.CapacityBytes != 1<<20 {
		t.Fatalf("stats %+v", s)
	}
}
