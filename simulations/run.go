package simulations

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stratacache/stratacache/simulations/trace"
)

// Result is the outcome of one (policy, capacity) run. The JSON names are
// part of the CLI's contract.
type Result struct {
	Trace     string  `json:"trace"`
	Policy    string  `json:"policy"`
	Capacity  int     `json:"capacity"`
	HitRate   float64 `json:"hit_rate"`
	Requests  int     `json:"requests"`
	Blocks    int     `json:"blocks"`
	HitBlocks int     `json:"hit_blocks"`
	// ReqHitRate is the fraction of requests with at least one hit block.
	ReqHitRate float64 `json:"request_hit_rate"`
	Seconds    float64 `json:"seconds"`
	// AccessesPerSec is Blocks / Seconds.
	AccessesPerSec float64 `json:"accesses_per_sec"`
}

// Progress is told how many block accesses a run has applied so far; it is
// called from the running goroutine every few thousand requests.
type Progress func(accesses int)

// Replay runs every request of tr through c and returns the result.
func Replay(tr *trace.Trace, c Cache, capacity int, progress Progress) Result {
	start := time.Now()
	var hits, hitReqs int
	off := tr.Offsets
	blocks := tr.Blocks
	for r := 0; r < tr.Len(); r++ {
		lo, hi := off[r], off[r+1]
		h := c.Access(blocks[lo:hi], int(lo))
		hits += h
		if h > 0 {
			hitReqs++
		}
		if progress != nil && r&4095 == 4095 {
			progress(int(hi))
		}
	}
	sec := time.Since(start).Seconds()
	res := Result{
		Trace:     tr.Name,
		Policy:    c.Name(),
		Capacity:  capacity,
		Requests:  tr.Len(),
		Blocks:    tr.Accesses(),
		HitBlocks: hits,
		Seconds:   sec,
	}
	if res.Blocks > 0 {
		res.HitRate = float64(hits) / float64(res.Blocks)
	}
	if res.Requests > 0 {
		res.ReqHitRate = float64(hitReqs) / float64(res.Requests)
	}
	if sec > 0 {
		res.AccessesPerSec = float64(res.Blocks) / sec
	}
	if progress != nil {
		progress(tr.Accesses())
	}
	return res
}

// Run replays tr through a fresh cache of the named policy and capacity.
func Run(tr *trace.Trace, policy string, capacity int, progress Progress) (Result, error) {
	c, err := NewCache(policy, capacity, tr)
	if err != nil {
		return Result{}, err
	}
	return Replay(tr, c, capacity, progress), nil
}

// AutoFractions are the fractions of a trace's distinct blocks that
// ParseCapacities turns "auto" into.
var AutoFractions = []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1}

// ParseCapacities reads a capacity list: comma-separated block counts
// (k/m suffixes allowed), fractions of the distinct blocks ("0.05" or
// "5%"), or "auto".
func ParseCapacities(s string, distinct int) ([]int, error) {
	var out []int
	add := func(c int) {
		if c < 1 {
			c = 1
		}
		out = append(out, c)
	}
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		switch {
		case f == "":
			continue
		case f == "auto":
			for _, fr := range AutoFractions {
				add(int(math.Round(fr * float64(distinct))))
			}
			continue
		case strings.HasSuffix(f, "%"):
			v, err := strconv.ParseFloat(strings.TrimSuffix(f, "%"), 64)
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("%w: %q", ErrCapacity, f)
			}
			add(int(math.Round(v / 100 * float64(distinct))))
			continue
		case strings.Contains(f, "."):
			v, err := strconv.ParseFloat(f, 64)
			if err != nil || v <= 0 || v > 1 {
				return nil, fmt.Errorf("%w: %q (a fraction must be in (0, 1])", ErrCapacity, f)
			}
			add(int(math.Round(v * float64(distinct))))
			continue
		}
		mult := 1
		switch {
		case strings.HasSuffix(f, "k"):
			mult, f = 1000, strings.TrimSuffix(f, "k")
		case strings.HasSuffix(f, "m"):
			mult, f = 1000000, strings.TrimSuffix(f, "m")
		}
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 || v > math.MaxInt32/mult {
			return nil, fmt.Errorf("%w: %q", ErrCapacity, f)
		}
		add(v * mult)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty list", ErrCapacity)
	}
	sort.Ints(out)
	uniq := out[:1]
	for _, c := range out[1:] {
		if c != uniq[len(uniq)-1] {
			uniq = append(uniq, c)
		}
	}
	return uniq, nil
}

// RunAll replays tr for every (policy, capacity) pair, policies outer; MIN
// runs share one oracle and the infinite cache runs once. progress, if
// set, sees the accesses applied by all runs so far.
func RunAll(tr *trace.Trace, policies []string, capacities []int, progress Progress) ([]Result, error) {
	var o *Oracle
	var out []Result
	done := 0
	for _, p := range policies {
		name := strings.ToLower(strings.TrimSpace(p))
		caps := capacities
		if name == PolicyInfinite || name == "inf" {
			caps = []int{0}
		}
		for _, c := range caps {
			var cache Cache
			var err error
			if name == PolicyMIN || name == "belady" || name == "opt" {
				if c <= 0 {
					return nil, fmt.Errorf("%w: %d blocks", ErrCapacity, c)
				}
				if o == nil {
					o = NewOracle(tr)
				}
				cache = NewMIN(c, o)
			} else if cache, err = NewCache(name, c, tr); err != nil {
				return nil, err
			}
			var pr Progress
			if progress != nil {
				base := done
				pr = func(n int) { progress(base + n) }
			}
			out = append(out, Replay(tr, cache, c, pr))
			done += tr.Accesses()
		}
	}
	return out, nil
}

// Runs is the number of replays RunAll does for these lists.
func Runs(policies []string, capacities []int) int {
	n := 0
	for _, p := range policies {
		if q := strings.ToLower(strings.TrimSpace(p)); q == PolicyInfinite || q == "inf" {
			n++
		} else {
			n += len(capacities)
		}
	}
	return n
}
