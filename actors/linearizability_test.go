package actors

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/cxl"
	"github.com/stratacache/stratacache/tiers/disk"
)

// envLinOps sets the operations of each linearizability run: the short run
// of go test does 2,000 per chain; a soak does more. envLinSeeds runs that
// many seeds (42, 43, ...) per chain instead of one.
const (
	envLinOps   = "STRATACACHE_LINEARIZABILITY_OPS"
	envLinSeeds = "STRATACACHE_LINEARIZABILITY_SEEDS"
)

// linInput is one client operation on a key: store a value, load, delete,
// contains.
type linInput struct {
	op    byte // 's', 'l', 'd', 'c'
	key   int
	value uint64 // store
}

// linOutput is what the engine answered; unknown marks a store or delete
// that failed, which may or may not have taken effect.
type linOutput struct {
	value   uint64 // load: the value read (0: not found)
	found   bool   // contains, delete
	unknown bool
}

// registerModel is a per-key register with "absent" (0): what a key-value
// store must look like to its clients. A load returns the last value stored
// (not found after a delete or before any store), contains agrees, and a
// delete reports whether the key held a value.
var registerModel = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[int][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(linInput).key
			by[k] = append(by[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(by))
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() []interface{} { return []interface{}{uint64(0)} },
	Step: func(state, input, output interface{}) []interface{} {
		s := state.(uint64)
		in, out := input.(linInput), output.(linOutput)
		switch in.op {
		case 's':
			if out.unknown {
				return []interface{}{s, in.value}
			}
			return []interface{}{in.value}
		case 'd':
			if out.unknown {
				return []interface{}{s, uint64(0)}
			}
			if out.found != (s != 0) {
				return nil
			}
			return []interface{}{uint64(0)}
		case 'l':
			if out.value == s {
				return []interface{}{s}
			}
		case 'c':
			if out.found == (s != 0) {
				return []interface{}{s}
			}
		}
		return nil
	},
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(linInput), output.(linOutput)
		return fmt.Sprintf("%c(k%d, %d) -> %+v", in.op, in.key, in.value, out)
	},
}

// linChain builds the engine of a linearizability run: a CPU tier that
// holds a few of the keys, so evictions, demotions, promotions and
// write-back flushes happen all the time, over a bottom tier that holds
// them all (nothing may leave the chain: a miss is a violation).
func linChain(t *testing.T, persistent bool, policy LinkPolicy) *Engine {
	t.Helper()
	ts := []tiers.Tier{memTier(t, "cpu", 32<<10)}
	if persistent {
		dir := t.TempDir()
		c, err := cxl.Open(cxl.Config{Name: "cxl", Path: filepath.Join(dir, "cxl.pool"), CapacityBytes: 96 << 10, MaxArtifacts: 64, TrustPutChecksum: true})
		if err != nil {
			t.Fatal(err)
		}
		d, err := disk.Open(disk.Config{Name: "disk", Path: filepath.Join(dir, "disk.tier"), CapacityBytes: 4 << 20, MaxArtifacts: 256, TrustPutChecksum: true})
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, c, d)
	} else {
		ts = append(ts, memTier(t, "mid", 64<<10), memTier(t, "bottom", 16<<20))
	}
	links := make([]LinkConfig, len(ts)-1)
	for i := range links {
		links[i] = LinkConfig{Policy: policy, MaxDirtyBytes: 64 << 10, FlushBatchBytes: 16 << 10, FlushInterval: time.Millisecond}
	}
	e, err := NewEngine(Config{Tiers: ts, Links: links, PromoteOnHit: true, MaxRestarts: 1 << 30, RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// runLinearizable drives e with clients doing seeded store/load/delete/
// contains on a small key set while a fault goroutine restarts random
// actors, records the history and checks it with porcupine. It returns the
// number of operations checked.
func runLinearizable(t *testing.T, e *Engine, seed uint64, clients, keys, ops, size int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	var mu sync.Mutex
	var history []porcupine.Operation
	var nextValue atomic.Uint64
	var wg sync.WaitGroup
	var done atomic.Bool
	perClient := ops / clients
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(c)))
			buf := make([]byte, 0, size)
			for i := 0; i < perClient; i++ {
				k := r.IntN(keys)
				in := linInput{key: k}
				var out linOutput
				call := now()
				switch p := r.IntN(100); {
				case p < 35:
					in.op, in.value = 's', nextValue.Add(1)
					if err := e.Store(ctx, churnKey(k), churnValue(k, in.value, size), StoreOptions{}); err != nil {
						out.unknown = true
						t.Errorf("store: %v", err)
					}
				case p < 45:
					in.op = 'd'
					found, err := e.Delete(ctx, churnKey(k))
					out.found, out.unknown = found, err != nil
					if err != nil {
						t.Errorf("delete: %v", err)
					}
				case p < 55:
					in.op = 'c'
					found, err := e.Contains(ctx, churnKey(k), Chain())
					if err != nil {
						t.Errorf("contains: %v", err)
						continue
					}
					out.found = found
				default:
					in.op = 'l'
					got, err := e.Load(ctx, buf, churnKey(k), Chain())
					switch {
					case errors.Is(err, ErrNotFound):
					case err != nil:
						t.Errorf("load: %v", err)
						continue
					default:
						v, err := parseChurn(k, got)
						if err != nil {
							t.Error(err)
							continue
						}
						out.value = v
					}
				}
				ret := now()
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		}(c)
	}
	// Injected faults: restart random tier and link actors all along.
	var fw sync.WaitGroup
	fw.Add(1)
	restarts := 0
	go func() {
		defer fw.Done()
		r := rand.New(rand.NewPCG(seed, 999))
		for !done.Load() {
			c := &crashMsg{reply: newReply(), Reason: "injected"}
			var err error
			if n := len(e.tiers) + len(e.links); r.IntN(n) < len(e.tiers) {
				st := e.tiers[r.IntN(len(e.tiers))]
				_, err = e.request(ctx, &st.health, st.pid, c, c.done)
			} else {
				l := e.links[r.IntN(len(e.links))]
				_, err = e.request(ctx, &l.health, l.pid, c, c.done)
			}
			if !errors.Is(err, ErrActorCrashed) {
				t.Errorf("injected restart: %v", err)
				return
			}
			restarts++
		}
	}()
	wg.Wait()
	done.Store(true)
	fw.Wait()
	if t.Failed() {
		return 0
	}
	var st EngineStats
	e.Stats(&st)
	res, info := porcupine.CheckOperationsVerbose(registerModel.ToModel(), history, 2*time.Minute)
	switch res {
	case porcupine.Illegal:
		path := filepath.Join(t.TempDir(), "history.html")
		if f, err := os.Create(path); err == nil {
			_ = porcupine.Visualize(registerModel.ToModel(), info, f)
			_ = f.Close()
		}
		t.Fatalf("history of %d operations is not linearizable (visualization: %s)\n%s\nafterwards:\n%s", len(history), path, debugHistory(history), describeKeys(ctx, e, keys))
	case porcupine.Unknown:
		t.Fatalf("the checker timed out on %d operations", len(history))
	}
	var evictions, promotions uint64
	for _, ts := range st.Tiers {
		evictions += ts.Evictions
		promotions += ts.Promotions
	}
	var flushed, demoted uint64
	for _, l := range st.Links {
		flushed += l.Flushed
		demoted += l.Demotions
	}
	t.Logf("%d operations linearizable; %d evictions, %d demotions, %d promotions, %d write-back flushes, %d injected actor restarts",
		len(history), evictions, demoted, promotions, flushed, restarts)
	return len(history)
}

// A seeded concurrent history of stores, loads, deletes and contains on a
// small key set, while the CPU tier evicts, demotes and promotes
// constantly, write-back links flush every millisecond and actors are
// restarted at random, is linearizable for a per-key register. Short in go
// test; STRATACACHE_LINEARIZABILITY_OPS=N runs N operations per chain.
func TestLinearizable(t *testing.T) {
	ops, seeds := envInt(t, envLinOps, 2000), envInt(t, envLinSeeds, 1)
	total := 0
	for _, c := range []struct {
		name       string
		persistent bool
		policy     LinkPolicy
	}{
		{"memory/write-back", false, WriteBack},
		{"memory/write-through", false, WriteThrough},
		{"cpu-cxl-disk/write-back", true, WriteBack},
		{"cpu-cxl-disk/write-through", true, WriteThrough},
	} {
		for seed := uint64(42); seed < 42+uint64(seeds); seed++ {
			name := c.name
			if seeds > 1 {
				name += fmt.Sprintf("/seed-%d", seed)
			}
			t.Run(name, func(t *testing.T) {
				e := linChain(t, c.persistent, c.policy)
				total += runLinearizable(t, e, seed, 4, 8, ops, 8<<10)
			})
		}
	}
	t.Logf("%d operations checked in all", total)
}

// envInt reads a positive count from the environment (def when unset).
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive count", name, s)
	}
	return n
}

// debugHistory names the first key whose history is not linearizable and
// prints the operations up to the shortest failing prefix.
func debugHistory(h []porcupine.Operation) string {
	m := registerModel.ToModel()
	parts := m.Partition(h)
	for _, p := range parts {
		if porcupine.CheckOperationsTimeout(m, p, 10*time.Second) == porcupine.Illegal {
			sort.Slice(p, func(i, j int) bool { return p[i].Call < p[j].Call })
			// Find the shortest failing prefix.
			n := 1
			for ; n <= len(p); n++ {
				if porcupine.CheckOperationsTimeout(m, p[:n], 10*time.Second) == porcupine.Illegal {
					break
				}
			}
			// The failing prefix and the operations concurrent with its
			// last one (a store or delete that explains a read may have
			// been called after it).
			s := ""
			end := n
			for end < len(p) && p[end].Call <= p[n-1].Return {
				end++
			}
			for _, op := range p[max(0, n-15):end] {
				s += fmt.Sprintf("c%d [%d,%d] %s\n", op.ClientId, op.Call/1000, op.Return/1000, m.DescribeOperation(op.Input, op.Output))
			}
			return s
		}
	}
	return ""
}

// describeKeys shows, for each key, the version every tier holds and what a
// chain load returns now.
func describeKeys(ctx context.Context, e *Engine, keys int) string {
	s := ""
	for k := 0; k < keys; k++ {
		s += fmt.Sprintf("k%d:", k)
		for _, ts := range e.tiers {
			v, ok := ts.tier.Version(churnKey(k))
			s += fmt.Sprintf(" %s=%v/%d", ts.tier.Name(), ok, v)
		}
		got, err := e.Load(ctx, nil, churnKey(k), Chain())
		if err == nil {
			v, perr := parseChurn(k, got)
			s += fmt.Sprintf(" load=%d %v\n", v, perr)
		} else {
			s += fmt.Sprintf(" load: %v\n", err)
		}
	}
	return s
}
