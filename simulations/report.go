package simulations

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/stratacache/stratacache/simulations/mrcplot"
)

// WriteTable prints hit rates as a table: one row per capacity, one
// column per policy, in the order first seen in results.
func WriteTable(w io.Writer, results []Result) error {
	var policies []string
	var caps []int
	seenP := map[string]bool{}
	seenC := map[int]bool{}
	cell := map[string]map[int]float64{}
	for _, r := range results {
		if !seenP[r.Policy] {
			seenP[r.Policy] = true
			policies = append(policies, r.Policy)
			cell[r.Policy] = map[int]float64{}
		}
		if r.Capacity > 0 && !seenC[r.Capacity] {
			seenC[r.Capacity] = true
			caps = append(caps, r.Capacity)
		}
		cell[r.Policy][r.Capacity] = r.HitRate
	}
	if len(caps) == 0 {
		caps = []int{0}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "capacity\t")
	for _, p := range policies {
		fmt.Fprintf(tw, "%s\t", p)
	}
	fmt.Fprintln(tw)
	for _, c := range caps {
		fmt.Fprintf(tw, "%d\t", c)
		for _, p := range policies {
			v, ok := cell[p][c]
			if !ok {
				// An infinite cache has no capacity: same figure on every row.
				v, ok = cell[p][0]
			}
			if ok {
				fmt.Fprintf(tw, "%.4f\t", v)
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// WriteJSON prints one JSON object per result, one per line.
func WriteJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

// WriteCSV writes a header and one row per result.
func WriteCSV(w io.Writer, results []Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"trace", "policy", "capacity", "hit_rate", "requests", "blocks", "hit_blocks", "request_hit_rate", "seconds", "accesses_per_sec"}); err != nil {
		return err
	}
	for _, r := range results {
		f := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
		if err := cw.Write([]string{r.Trace, r.Policy, strconv.Itoa(r.Capacity), f(r.HitRate),
			strconv.Itoa(r.Requests), strconv.Itoa(r.Blocks), strconv.Itoa(r.HitBlocks),
			f(r.ReqHitRate), f(r.Seconds), f(r.AccessesPerSec)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Curves turns results into miss-ratio curves, one per policy (an
// infinite cache, which has no capacity, is drawn flat across the others'
// range).
func Curves(results []Result) []mrcplot.Series {
	var order []string
	by := map[string]*mrcplot.Series{}
	lo, hi := 0, 0
	for _, r := range results {
		if r.Capacity > 0 {
			if lo == 0 || r.Capacity < lo {
				lo = r.Capacity
			}
			hi = max(hi, r.Capacity)
		}
	}
	for _, r := range results {
		s, ok := by[r.Policy]
		if !ok {
			s = &mrcplot.Series{Name: r.Policy}
			by[r.Policy] = s
			order = append(order, r.Policy)
		}
		if r.Capacity > 0 {
			s.Points = append(s.Points, mrcplot.Point{Capacity: float64(r.Capacity), MissRatio: 1 - r.HitRate})
		} else if lo > 0 && len(s.Points) == 0 {
			s.Points = append(s.Points,
				mrcplot.Point{Capacity: float64(lo), MissRatio: 1 - r.HitRate},
				mrcplot.Point{Capacity: float64(hi), MissRatio: 1 - r.HitRate})
		}
	}
	out := make([]mrcplot.Series, 0, len(order))
	for _, p := range order {
		out = append(out, *by[p])
	}
	return out
}
