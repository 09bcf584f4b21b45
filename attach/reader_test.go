package attach_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/attach"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/cxl"
)

func pool(t *testing.T, capacity int64, artifacts int) (*cxl.Tier, string) {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "stratacache-attach-test-")
	if err != nil {
		dir = t.TempDir()
	} else {
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	path := filepath.Join(dir, "pool")
	c := cxl.DefaultLocalConfig(path)
	c.CapacityBytes = capacity
	c.MaxArtifacts = artifacts
	p, err := cxl.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, path
}

func key(k int) artifact.ID {
	return artifact.MustID(artifact.NamespaceKV, fmt.Sprintf("m/kv/%d", k))
}

// body is version v of key k: 16 bytes naming (k, v), then seeded bytes;
// its length depends on v, so versions land in extents of several sizes.
func body(k, v int) []byte {
	n := 4096 + (v%7)*9000
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b, uint64(k))
	binary.LittleEndian.PutUint64(b[8:], uint64(v))
	r := rand.New(rand.NewPCG(uint64(k), uint64(v)))
	for i := 16; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestSpanTurnsInvalidOnOverwriteDeleteAndEviction(t *testing.T) {
	p, path := pool(t, 1<<20, 64)
	r, err := attach.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	read := func(k int) *attach.Span {
		t.Helper()
		loc, err := p.Locate(key(k))
		if err != nil {
			t.Fatal(err)
		}
		sp, err := r.Read(loc)
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	for k := range 3 {
		if err := p.Put(ctx, key(k), body(k, 1), tiers.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sp := read(0)
	if !bytes.Equal(sp.Bytes, body(0, 1)) || !sp.ID.Equal(key(0)) || !sp.Valid() {
		t.Fatal("span differs")
	}
	// Overwrite: the old slot is cleared before Put returns.
	if err := p.Put(ctx, key(0), body(0, 2), tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if sp.Valid() {
		t.Fatal("span of the replaced version still valid")
	}
	if _, err := r.Read(sp.Loc); !errors.Is(err, attach.ErrStale) {
		t.Fatalf("stale location read: %v", err)
	}
	if sp = read(0); !bytes.Equal(sp.Bytes, body(0, 2)) {
		t.Fatal("new version differs")
	}
	sp1 := read(1)
	if _, err := p.Delete(ctx, key(1), tiers.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if sp1.Valid() {
		t.Fatal("span of a deleted artifact still valid")
	}
	// Fill the pool: key 2 is evicted.
	sp2 := read(2)
	for k := 10; !errors.Is(func() error { _, err := p.Locate(key(2)); return err }(), tiers.ErrNotFound); k++ {
		if k > 200 {
			t.Fatal("key 2 never evicted")
		}
		if err := p.Put(ctx, key(k), body(k, 6), tiers.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if sp2.Valid() {
		t.Fatal("span of an evicted artifact still valid")
	}
}

// TestConcurrentWritesNeverYieldWrongBytes is issue 16's checker: an owner
// overwrites, deletes and (through a small pool) evicts while readers read
// in place, through fresh and through cached locations; every read that
// Valid accepts after copying must be exactly a version written for its
// key. Seeded; the interleaving is the scheduler's, the check is not.
func TestConcurrentWritesNeverYieldWrongBytes(t *testing.T) {
	const keys, writes, readers = 12, 1500, 3
	p, path := pool(t, 512<<10, 64)
	r, err := attach.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	var mu sync.Mutex
	written := make(map[[2]int]bool) // (key, version) ever stored
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(stop)
		rng := rand.New(rand.NewPCG(16, 3))
		for v := 1; v <= writes; v++ {
			k := rng.IntN(keys)
			if rng.IntN(5) == 0 {
				if _, err := p.Delete(ctx, key(k), tiers.DeleteOptions{}); err != nil {
					t.Error(err)
					return
				}
				continue
			}
			mu.Lock()
			written[[2]int{k, v}] = true
			mu.Unlock()
			if err := p.Put(ctx, key(k), body(k, v), tiers.PutOptions{}); err != nil && !errors.Is(err, tiers.ErrNoSpace) {
				t.Error(err)
				return
			}
		}
	}()
	type result struct{ ok, stale, wrong int }
	results := make([]result, readers)
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			cached := make(map[int]*attach.Span)
			dst := make([]byte, 0, 64<<10)
			res := &results[i]
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := rng.IntN(keys)
				sp := cached[k]
				if sp == nil || !sp.Valid() {
					delete(cached, k)
					loc, err := p.Locate(key(k))
					if err != nil {
						continue
					}
					if sp, err = r.Read(loc); err != nil {
						if !errors.Is(err, attach.ErrStale) {
							t.Errorf("read: %v", err)
							return
						}
						res.stale++
						continue
					}
					cached[k] = sp
				}
				dst = append(dst[:0], sp.Bytes...)
				if !sp.Valid() {
					res.stale++
					delete(cached, k)
					continue
				}
				gk, gv := int(binary.LittleEndian.Uint64(dst)), int(binary.LittleEndian.Uint64(dst[8:]))
				mu.Lock()
				known := written[[2]int{gk, gv}]
				mu.Unlock()
				if gk != k || !known || !bytes.Equal(dst, body(gk, gv)) {
					res.wrong++
					t.Errorf("key %d: accepted bytes of (%d, %d), known %v", k, gk, gv, known)
					return
				}
				res.ok++
			}
		}()
	}
	wg.Wait()
	var sum result
	for _, r := range results {
		sum.ok += r.ok
		sum.stale += r.stale
		sum.wrong += r.wrong
	}
	t.Logf("%d reads accepted and checked, %d detected stale, %d wrong", sum.ok, sum.stale, sum.wrong)
	if sum.ok == 0 {
		t.Fatal("no read was accepted: nothing was checked")
	}
}
