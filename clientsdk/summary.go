package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/stratacache/stratacache/holdings"
	"github.com/stratacache/stratacache/messages"
)

// Summaries are per-node filters over the block hashes each node holds
// (a node's OP_PEER_SUMMARY: holdings.Filter, a blocked Bloom filter of
// ~16 bits per held block), for schedulers that cannot hold the exact
// sets an Index keeps. A filter has false positives, never false
// negatives: a node's prefix can be overstated, never understated
// (docs/clientsdk.md gives the rate and what it does to prefix scores).
// Safe for concurrent use.
type Summaries struct {
	cfg ScoreConfig
	// Tier is the tier a summarised node's blocks are scored in (a filter
	// says whether, not where; default TierCXL).
	Tier Tier

	mu      sync.RWMutex
	names   []string
	filters []*holdings.Filter
	loads   []float64
	scratch sync.Pool // *[]int
}

// NewSummaries returns an empty set scoring with cfg (DefaultScoreConfig
// when zero).
func NewSummaries(cfg ScoreConfig) *Summaries {
	if cfg == (ScoreConfig{}) {
		cfg = DefaultScoreConfig()
	}
	return &Summaries{cfg: cfg, Tier: TierCXL}
}

// Set replaces node's filter (nil: forgets the node) and its load.
func (s *Summaries) Set(node string, f *holdings.Filter, load float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, n := range s.names {
		if n == node {
			if f == nil {
				s.names = append(s.names[:i], s.names[i+1:]...)
				s.filters = append(s.filters[:i], s.filters[i+1:]...)
				s.loads = append(s.loads[:i], s.loads[i+1:]...)
				return
			}
			s.filters[i], s.loads[i] = f, load
			return
		}
	}
	if f != nil {
		s.names = append(s.names, node)
		s.filters = append(s.filters, f)
		s.loads = append(s.loads, load)
	}
}

// Fetch asks every member with a peer address for its summary, through
// c's connections (c's token maps to the client or subscriber role), and
// keeps the members' set: members no longer listed are forgotten. The
// first error is returned; members that answered are updated anyway.
func (s *Summaries) Fetch(ctx context.Context, c *Client, members []Member) error {
	var errs []error
	keep := map[string]bool{}
	for _, m := range members {
		keep[m.Name] = true
		if m.PeerAddr == "" {
			continue
		}
		f, err := fetchSummary(ctx, c, m.PeerAddr)
		if err != nil {
			errs = append(errs, fmt.Errorf("clientsdk: summary of %s: %w", m.Name, err))
			continue
		}
		s.Set(m.Name, f, m.Load)
	}
	s.mu.RLock()
	var gone []string
	for _, n := range s.names {
		if !keep[n] {
			gone = append(gone, n)
		}
	}
	s.mu.RUnlock()
	for _, n := range gone {
		s.Set(n, nil, 0)
	}
	return errors.Join(errs...)
}

func fetchSummary(ctx context.Context, c *Client, peerAddr string) (*holdings.Filter, error) {
	key := peerPrefix + peerAddr
	cn, err := c.pool.get(ctx, key)
	if err != nil {
		return nil, err
	}
	b, err := cn.roundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_PEER_SUMMARY})
	var f *holdings.Filter
	if err == nil {
		f, err = holdings.DecodeFilter(b) // copies: before the connection is reused
	}
	c.pool.put(key, cn)
	return f, err
}

// Bits is the summaries' total size in bits, and Entries the blocks they
// were built over.
func (s *Summaries) Bits() (bits int, entries uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, f := range s.filters {
		bits += f.Bits()
		entries += f.Len()
	}
	return bits, entries
}

// ScoreNodes appends a score for every summarised node (as Index.ScoreNodes
// does, with Tier as every held block's tier): per block size, each node's
// leading run of blocks its filter reports held (leadingRun); the longest
// run anywhere is the cached prefix; then the load's share. No allocation
// once dst has room.
func (s *Summaries) ScoreNodes(dst []Score, p *Prompt) []Score {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sp, _ := s.scratch.Get().(*[]int)
	if sp == nil {
		sp = new([]int)
	}
	defer s.scratch.Put(sp)
	if cap(*sp) < len(s.names) {
		*sp = make([]int, len(s.names))
	}
	run := (*sp)[:len(s.names)]
	start := len(dst)
	for _, n := range s.names {
		dst = append(dst, Score{Node: n})
	}
	out := dst[start:]
	w := &s.cfg.TierWeights
	wl, wr := w[s.Tier], w[TierRemote]
	maxCum := 0
	for li := range p.Levels {
		lv := &p.Levels[li]
		cum := 0
		for ni, f := range s.filters {
			t := 0
			if r := leadingRun(f, lv.IDs); r > 0 {
				t = (r-1)*lv.BlockSize + lv.blockTokens(r-1)
			}
			run[ni] = t
			cum = max(cum, t)
		}
		maxCum = max(maxCum, cum)
		for ni := range out {
			v := float64(run[ni])*wl + float64(cum-run[ni])*wr
			if li == 0 || v > out[ni].Score {
				out[ni].Score, out[ni].LocalTokens, out[ni].CachedTokens = v, run[ni], cum
			}
		}
	}
	lw, share, half := s.cfg.LoadWeight, s.cfg.LoadShare, s.cfg.LoadHalf
	if half <= 0 {
		half = 4
	}
	for ni := range out {
		load := s.loads[ni]
		out[ni].Score -= lw * load
		if share > 0 && load > 0 {
			out[ni].Score -= share * float64(maxCum+1) * load / (load + half)
		}
	}
	return dst
}

// leadingRun is how many leading ids f reports held, found by galloping
// then bisecting: about 2 log2(run) probes instead of run+1. It takes a
// node's holdings of one prompt to be prefix-closed (a block held means
// its parents are: chunks are stored in prompt order and the prefix-aware
// eviction drops leaves first); a hole in a node's run can be jumped over
// and the run overstated (docs/clientsdk.md).
func leadingRun(f *holdings.Filter, ids []uint64) int {
	n := len(ids)
	if n == 0 || !f.Contains(ids[0]) {
		return 0
	}
	lo, hi := 0, n // ids[lo] held; ids[hi] not (hi == n: past the end)
	for step := 1; ; step *= 2 {
		p := lo + step
		if p >= n {
			break
		}
		if !f.Contains(ids[p]) {
			hi = p
			break
		}
		lo = p
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if f.Contains(ids[mid]) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + 1
}
