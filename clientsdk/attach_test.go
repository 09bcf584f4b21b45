package clientsdk

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
	"github.com/stratacache/stratacache/node"
)

// poolDir is a per-test directory on /dev/shm (where a node's pool file
// lives by default), else the test's temp dir.
func poolDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/dev/shm", "stratacache-attach-sdk-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// attachedNode runs a node with a CXL pool of cxlMB (write-back links or
// write-through) and a client attached to it.
func attachedNode(t *testing.T, cpuMB, cxlMB int64, writeback bool) (*Client, *Attached) {
	t.Helper()
	dir := poolDir(t)
	n := startNode(t, func(c *node.Config) {
		c.CPUCapacityMB = cpuMB
		c.UseCXL = true
		c.CXLPath = filepath.Join(dir, "pool")
		c.CXLCapacityMB = cxlMB
		c.CXLResetMetadata = true
		c.Writeback = writeback
	})
	c, err := New(WithNodes(n.Addrs().Native))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	a, err := c.Attach(context.Background(), n.Addrs().Native)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return c, a
}

func attachKey(k int) artifact.ID {
	return artifact.MustID(artifact.NamespaceKV, fmt.Sprintf("attach/kv/%d", k))
}

// attachBody is version v of key k: 16 bytes naming (k, v), then seeded
// bytes; the length depends on v.
func attachBody(k, v int) []byte {
	n := 8192 + (v%5)*20000
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b, uint64(k))
	binary.LittleEndian.PutUint64(b[8:], uint64(v))
	r := rand.New(rand.NewPCG(uint64(k), uint64(v)))
	for i := 16; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestAttachReadsThePoolAndFallsBack(t *testing.T) {
	c, a := attachedNode(t, 8, 16, false)
	ctx := context.Background()
	id := attachKey(1)
	if err := c.Put(ctx, id, attachBody(1, 1)); err != nil {
		t.Fatal(err)
	}
	got, err := a.Get(ctx, nil, id)
	if err != nil || !bytes.Equal(got, attachBody(1, 1)) {
		t.Fatalf("get: %v", err)
	}
	var s AttachStats
	a.Stats(&s)
	if s.Hits != 1 || s.Fallbacks != 0 || s.Locates != 1 {
		t.Fatalf("stats %+v", s)
	}
	// A second read uses the cached location: no round trip at all.
	if got, err = a.Get(ctx, got, id); err != nil || !bytes.Equal(got, attachBody(1, 1)) {
		t.Fatalf("second get: %v", err)
	}
	if a.Stats(&s); s.Hits != 2 || s.Locates != 1 {
		t.Fatalf("stats %+v", s)
	}
	v, err := a.View(ctx, id)
	if err != nil || !v.Mapped() || !bytes.Equal(v.Bytes(), attachBody(1, 1)) || !v.Valid() || v.Meta().Length != int64(len(attachBody(1, 1))) {
		t.Fatalf("view: %v", err)
	}
	// Overwrite: the held view turns invalid, the next Get sees the new
	// version (the old slot was cleared before Put returned).
	if err := c.Put(ctx, id, attachBody(1, 2)); err != nil {
		t.Fatal(err)
	}
	if v.Valid() {
		t.Fatal("view of a replaced version still valid")
	}
	v.Release()
	v.Release()
	if got, err = a.Get(ctx, got, id); err != nil || !bytes.Equal(got, attachBody(1, 2)) {
		t.Fatalf("get after overwrite: %v", err)
	}
	if _, err := c.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, got, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := a.View(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("view after delete: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, nil, id); !errors.Is(err, ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAttachRefusedWithoutPool(t *testing.T) {
	n := startNode(t, nil)
	c, err := New(WithNodes(n.Addrs().Native))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Attach(context.Background(), n.Addrs().Native); !errors.Is(err, ErrNoAttach) {
		t.Fatalf("attach to a node without a pool: %v", err)
	}
}

// TestAttachConcurrentWritesNeverYieldWrongBytes is issue 16's checker,
// end to end: a writer puts new versions, deletes, and through a small
// pool causes evictions, while readers Get and View through the mapping;
// every payload a reader accepts must be exactly a version written for its
// key. Seeded; the interleaving is the scheduler's, the check is not.
func TestAttachConcurrentWritesNeverYieldWrongBytes(t *testing.T) {
	for _, wb := range []bool{false, true} {
		t.Run(fmt.Sprintf("writeback=%v", wb), func(t *testing.T) { attachChecker(t, wb) })
	}
}

func attachChecker(t *testing.T, writeback bool) {
	const keys, writes, readers = 16, 400, 2
	c, a := attachedNode(t, 1, 2, writeback) // 2 MiB of pool for ~16 keys of up to 88 KiB: evictions
	ctx := context.Background()
	var mu sync.Mutex
	written := map[[2]int]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(stop)
		rng := rand.New(rand.NewPCG(16, 3))
		for v := 1; v <= writes; v++ {
			k := rng.IntN(keys)
			if rng.IntN(6) == 0 {
				if _, err := c.Delete(ctx, attachKey(k)); err != nil {
					t.Error(err)
					return
				}
				continue
			}
			mu.Lock()
			written[[2]int{k, v}] = true
			mu.Unlock()
			if err := c.Put(ctx, attachKey(k), attachBody(k, v)); err != nil && !errors.Is(err, ErrNoSpace) {
				t.Error(err)
				return
			}
		}
	}()
	check := func(k int, b []byte) bool {
		if len(b) < 16 {
			return false
		}
		gk, gv := int(binary.LittleEndian.Uint64(b)), int(binary.LittleEndian.Uint64(b[8:]))
		mu.Lock()
		known := written[[2]int{gk, gv}]
		mu.Unlock()
		return gk == k && known && bytes.Equal(b, attachBody(gk, gv))
	}
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			var dst []byte
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := rng.IntN(keys)
				if rng.IntN(2) == 0 {
					var err error
					dst, err = a.Get(ctx, dst, attachKey(k))
					if errors.Is(err, ErrNotFound) {
						continue
					}
					if err != nil {
						t.Errorf("get: %v", err)
						return
					}
					if !check(k, dst) {
						t.Errorf("key %d: Get returned wrong bytes", k)
						return
					}
					continue
				}
				v, err := a.View(ctx, attachKey(k))
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					t.Errorf("view: %v", err)
					return
				}
				dst = append(dst[:0], v.Bytes()...)
				ok := v.Valid()
				v.Release()
				if ok && !check(k, dst) {
					t.Errorf("key %d: a valid View held wrong bytes", k)
					return
				}
			}
		}()
	}
	wg.Wait()
	var s AttachStats
	a.Stats(&s)
	t.Logf("attach stats %+v", s)
	if s.Hits == 0 {
		t.Fatal("no read came from the mapping: nothing was checked")
	}
}
