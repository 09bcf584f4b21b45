package actors

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/cxl"
	"github.com/stratacache/stratacache/tiers/disk"
)

// churnKey is the artifact of key k in the churn tests.
func churnKey(k int) artifact.ID {
	return artifact.MustID(artifact.NamespaceBlob, fmt.Sprintf("churn/%d", k))
}

// churnValue makes the payload of (key, seq): every 8-byte word carries both,
// so a read tells its key, its sequence and whether it is whole.
func churnValue(k int, seq uint64, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+16 <= n; i += 16 {
		binary.LittleEndian.PutUint64(b[i:], uint64(k))
		binary.LittleEndian.PutUint64(b[i+8:], seq)
	}
	return b
}

// parseChurn returns the sequence a payload of key k carries, or an error
// when the bytes are foreign (another key) or torn (two sequences).
func parseChurn(k int, b []byte) (uint64, error) {
	if len(b) < 16 {
		return 0, fmt.Errorf("key %d: payload of %d bytes", k, len(b))
	}
	seq := binary.LittleEndian.Uint64(b[8:])
	for i := 0; i+16 <= len(b); i += 16 {
		if kk := binary.LittleEndian.Uint64(b[i:]); kk != uint64(k) {
			return 0, fmt.Errorf("key %d: foreign bytes of key %d at %d", k, kk, i)
		}
		if s := binary.LittleEndian.Uint64(b[i+8:]); s != seq {
			return 0, fmt.Errorf("key %d: torn payload (seq %d and %d)", k, seq, s)
		}
	}
	return seq, nil
}

// churnChain builds a chain whose CPU tier is far smaller than the working
// set: cpu (memory) [-> cxl (file pool)] -> disk, with every link of policy.
// The bottom tier holds every key, so nothing may leave the chain.
func churnChain(t *testing.T, withCXL bool, policy LinkPolicy, cpuBytes int64) *Engine {
	t.Helper()
	dir := t.TempDir()
	ts := []tiers.Tier{memTier(t, "cpu", cpuBytes)}
	if withCXL {
		c, err := cxl.Open(cxl.Config{Name: "cxl", Path: filepath.Join(dir, "cxl.pool"), CapacityBytes: 4 * cpuBytes, TrustPutChecksum: true})
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, c)
	}
	d, err := disk.Open(disk.Config{Name: "disk", Path: filepath.Join(dir, "disk.tier"), CapacityBytes: 64 << 20, TrustPutChecksum: true})
	if err != nil {
		t.Fatal(err)
	}
	ts = append(ts, d)
	links := make([]LinkConfig, len(ts)-1)
	for i := range links {
		links[i] = LinkConfig{Policy: policy, MaxDirtyBytes: 2 * cpuBytes, FlushBatchBytes: cpuBytes / 2}
	}
	e, err := NewEngine(Config{Tiers: ts, Links: links, PromoteOnHit: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// churnModel is what each key must hold: the last acknowledged operation of
// its only writer (seq 0: deleted or never written).
type churnModel struct {
	last []atomic.Uint64
}

// runChurn drives the churn workload against e: writers, each the
// only writer of its keys (SET or DEL, so the last value is known), and
// readers that load random keys concurrently. Every read must be whole and of
// its own key; a writer's own read right after its acknowledged store must
// not be older than that store; at the end every key must hold its last
// acknowledged value.
func runChurn(t *testing.T, e *Engine, seed uint64, writers, keysPerWriter, opsPerWriter, size int) {
	t.Helper()
	// Every operation has a deadline: a wedged engine fails the test
	// instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keys := writers * keysPerWriter
	m := &churnModel{last: make([]atomic.Uint64, keys)}
	var failed atomic.Bool
	errs := make(chan error, 64)
	report := func(err error) {
		failed.Store(true)
		select {
		case errs <- err:
		default:
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			buf := make([]byte, 0, size)
			for op := 1; op <= opsPerWriter && !failed.Load(); op++ {
				k := w*keysPerWriter + r.IntN(keysPerWriter)
				seq := uint64(w)<<40 | uint64(op)
				if r.IntN(10) == 0 {
					if _, err := e.Delete(ctx, churnKey(k)); err != nil {
						report(fmt.Errorf("writer %d: delete key %d: %w", w, k, err))
						return
					}
					m.last[k].Store(0)
					continue
				}
				if err := e.Store(ctx, churnKey(k), churnValue(k, seq, size), StoreOptions{}); err != nil {
					report(fmt.Errorf("writer %d: store key %d: %w", w, k, err))
					return
				}
				m.last[k].Store(seq)
				// Read your own write: the chain must not serve anything older.
				got, err := e.Load(ctx, buf, churnKey(k), Chain())
				if err != nil {
					report(fmt.Errorf("writer %d: own read of key %d (seq %d): %w", w, k, seq, err))
					return
				}
				g, err := parseChurn(k, got)
				if err != nil {
					report(err)
					return
				}
				if g != seq {
					report(fmt.Errorf("writer %d: own read of key %d returned seq %d, acknowledged %d", w, k, g, seq))
					return
				}
			}
		}(w)
	}
	var rg sync.WaitGroup
	for rd := 0; rd < churnReaders; rd++ {
		rg.Add(1)
		go func(rd int) {
			defer rg.Done()
			r := rand.New(rand.NewPCG(seed, 1000+uint64(rd)))
			buf := make([]byte, 0, size)
			for !failed.Load() {
				select {
				case <-stop:
					return
				default:
				}
				k := r.IntN(keys)
				got, err := e.Load(ctx, buf, churnKey(k), Chain())
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					report(fmt.Errorf("reader: key %d: %w", k, err))
					return
				}
				if _, err := parseChurn(k, got); err != nil {
					report(err)
					return
				}
			}
		}(rd)
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	if err := e.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	older, lost, resurrected := 0, 0, 0
	buf := make([]byte, 0, size)
	for k := 0; k < keys; k++ {
		want := m.last[k].Load()
		got, err := e.Load(ctx, buf, churnKey(k), Chain())
		switch {
		case errors.Is(err, ErrNotFound):
			if want != 0 {
				lost++
				t.Errorf("key %d: lost (last acknowledged seq %d)", k, want)
			}
		case err != nil:
			t.Errorf("key %d: %v", k, err)
		default:
			g, perr := parseChurn(k, got)
			switch {
			case perr != nil:
				t.Error(perr)
			case want == 0:
				resurrected++
				t.Errorf("key %d: deleted, but holds seq %d", k, g)
			case g != want:
				older++
				t.Errorf("key %d: holds seq %d, last acknowledged %d", k, g, want)
			}
		}
	}
	if older+lost+resurrected > 0 {
		t.Errorf("final state: %d keys older than acknowledged, %d lost, %d deleted keys back", older, lost, resurrected)
	}
}

// The churn workload, in-process: a CPU tier far smaller than the
// working set, write-back and write-through, with and without the CXL tier.
// Every key must end holding its last acknowledged value.
func TestChurnFinalStateMatchesModel(t *testing.T) {
	for _, c := range []struct {
		name   string
		cxl    bool
		policy LinkPolicy
	}{
		{"cpu-cxl-disk/write-back", true, WriteBack},
		{"cpu-disk/write-back", false, WriteBack},
		{"cpu-cxl-disk/write-through", true, WriteThrough},
		{"cpu-disk/write-through", false, WriteThrough},
	} {
		t.Run(c.name, func(t *testing.T) {
			ops := 600
			if testing.Short() {
				ops = 300
			}
			e := churnChain(t, c.cxl, c.policy, 128<<10)
			runChurn(t, e, 11, 4, 40, ops, 8<<10)
		})
	}
}

var churnReaders = 2
