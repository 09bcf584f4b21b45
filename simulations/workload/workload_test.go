package workload

import (
	"errors"
	"testing"

	"github.com/stratacache/stratacache/simulations/trace"
)

func small(seed uint64) Config {
	c := DefaultConfig()
	c.Seed = seed
	c.Requests = 2000
	return c
}

// reuse is the infinite-cache prefix hit rate, computed independently of
// the simulator.
func reuse(tr *trace.Trace) float64 {
	seen := make([]bool, tr.NumBlocks()+1)
	hits := 0
	for r := 0; r < tr.Len(); r++ {
		req := tr.Request(r)
		h := 0
		for h < len(req) && seen[req[h]] {
			h++
		}
		hits += h
		for _, b := range req {
			seen[b] = true
		}
	}
	return float64(hits) / float64(tr.Accesses())
}

func TestGenerateIsATreeAndDeterministic(t *testing.T) {
	for _, kind := range Kinds {
		a, err := Generate(kind, small(7))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Generate(kind, small(7))
		if err != nil {
			t.Fatal(err)
		}
		if a.Len() != 2000 || a.Accesses() != b.Accesses() || a.NumBlocks() != b.NumBlocks() {
			t.Fatalf("%s: not deterministic or wrong size: %d/%d vs %d/%d", kind, a.Len(), a.Accesses(), b.Len(), b.Accesses())
		}
		for i := range a.Blocks {
			if a.Blocks[i] != b.Blocks[i] {
				t.Fatalf("%s: block %d differs between equal seeds", kind, i)
			}
		}
		// Every block keeps one parent: the trace is a tree.
		for r := 0; r < a.Len(); r++ {
			req := a.Request(r)
			for i, blk := range req {
				want := uint32(0)
				if i > 0 {
					want = req[i-1]
				}
				if a.Parent[blk] != want {
					t.Fatalf("%s: request %d block %d has parent %d, want %d", kind, r, i, a.Parent[blk], want)
				}
			}
			if i := r; i > 0 && a.TimestampsMs[i] < a.TimestampsMs[i-1] {
				t.Fatalf("%s: timestamps not sorted at %d", kind, i)
			}
			if n := (int(a.InputTokens[r]) + 511) / 512; n != len(req) {
				t.Fatalf("%s: request %d has %d blocks for %d tokens", kind, r, len(req), a.InputTokens[r])
			}
		}
		c, _ := Generate(kind, small(8))
		if c.Accesses() == a.Accesses() && c.NumBlocks() == a.NumBlocks() {
			t.Errorf("%s: seeds 7 and 8 gave the same trace shape", kind)
		}
		t.Logf("%-9s requests %d accesses %d distinct %d reuse %.3f", kind, a.Len(), a.Accesses(), a.NumBlocks(), reuse(a))
	}
}

func TestWorkloadShapes(t *testing.T) {
	// Agents re-send their growing context every few seconds: most blocks
	// are reused. Single-turn prompts reuse only the system prompt.
	agent, _ := Generate(KindAgent, small(1))
	sys, _ := Generate(KindSysPrompt, small(1))
	if ra, rs := reuse(agent), reuse(sys); ra < 0.7 || ra <= rs {
		t.Errorf("agent reuse %.3f, sysprompt reuse %.3f: want agent > 0.7 and above sysprompt", ra, rs)
	}
	// A more skewed document popularity gives more reuse.
	c := small(1)
	c.DocZipf = 1.05
	flat, _ := Generate(KindDocs, c)
	c.DocZipf = 2
	skewed, _ := Generate(KindDocs, c)
	if reuse(skewed) <= reuse(flat) {
		t.Errorf("docs reuse with Zipf 2 %.3f not above Zipf 1.05 %.3f", reuse(skewed), reuse(flat))
	}
}

func TestBadConfig(t *testing.T) {
	c := DefaultConfig()
	c.PromptZipf = 0.5
	if _, err := Generate(KindChat, c); !errors.Is(err, ErrConfig) {
		t.Fatalf("err %v, want ErrConfig", err)
	}
	if _, err := Generate("nope", DefaultConfig()); !errors.Is(err, ErrConfig) {
		t.Fatalf("err %v, want ErrConfig", err)
	}
}

// TestSystemPromptShare: fewer sessions behind a shared prompt means less
// reuse; share 1 is the default trace, bit for bit.
func TestSystemPromptShare(t *testing.T) {
	def, err := Generate(KindSysPrompt, small(3))
	if err != nil {
		t.Fatal(err)
	}
	prev := 2.0
	for _, share := range []float64{1, 0.5, 0} {
		cfg := small(3)
		cfg.SystemPromptShare = share
		tr, err := Generate(KindSysPrompt, cfg)
		if err != nil {
			t.Fatal(err)
		}
		r := reuse(tr)
		t.Logf("share %.1f: reuse %.4f", share, r)
		if r >= prev {
			t.Errorf("share %.1f: reuse %.4f not below %.4f", share, r, prev)
		}
		prev = r
		if share == 1 && (tr.Accesses() != def.Accesses() || reuse(def) != r) {
			t.Errorf("share 1 differs from the default trace")
		}
	}
	if share0 := prev; share0 != 0 {
		t.Errorf("no shared prompt, single-turn sessions: reuse %.4f, want 0", share0)
	}
	cfg := small(3)
	cfg.SystemPromptShare = 1.5
	if _, err := Generate(KindChat, cfg); !errors.Is(err, ErrConfig) {
		t.Errorf("share 1.5: %v", err)
	}
}
