package simulations

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/stratacache/stratacache/simulations/mrcplot"
)

// Table is a table of text cells: a header row and data rows, written as
// aligned text or as a Markdown table.
type Table struct {
	Head []string
	Rows [][]string
}

// Add appends a row.
func (t *Table) Add(cells ...string) { t.Rows = append(t.Rows, cells) }

// WriteText writes the table with right-aligned columns.
func (t *Table) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, row := range append([][]string{t.Head}, t.Rows...) {
		for _, c := range row {
			fmt.Fprintf(tw, "%s\t", c)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// WriteMarkdown writes the table in GitHub Markdown, numbers aligned
// right.
func (t *Table) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + c + " |")
		}
		b.WriteString("\n")
	}
	line(t.Head)
	b.WriteString("|")
	for i := range t.Head {
		if i == 0 {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		line(r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Write writes the table as Markdown or as aligned text.
func (t *Table) Write(w io.Writer, markdown bool) error {
	if markdown {
		return t.WriteMarkdown(w)
	}
	return t.WriteText(w)
}

// HitRateTable lays hit rates out with one row per capacity and one column
// per policy, in the order first seen in results (an infinite cache, which
// has no capacity, shows the same figure on every row). With gap, each
// policy's cell also gives the share of the LRU-to-MIN gap it closes at
// that capacity (when both ran).
func HitRateTable(results []Result, gap bool) *Table {
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
	t := &Table{Head: append([]string{"capacity"}, policies...)}
	for _, c := range caps {
		row := []string{strconv.Itoa(c)}
		for _, p := range policies {
			v, ok := cell[p][c]
			if !ok {
				v, ok = cell[p][0]
			}
			if ok {
				cellText := fmt.Sprintf("%.4f", v)
				l, okL := cell["lru"][c]
				m, okM := cell[PolicyMIN][c]
				if gap && okL && okM && m > l && p != "lru" && p != PolicyMIN && p != PolicyInfinite {
					cellText += fmt.Sprintf(" (%.1f%%)", 100*(v-l)/(m-l))
				}
				row = append(row, cellText)
			} else {
				row = append(row, "-")
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// TracesTable is HitRateTable for results of several traces: one row per
// (trace, capacity), in the order first seen.
func TracesTable(results []Result) *Table {
	var traces []string
	by := map[string][]Result{}
	for _, r := range results {
		if _, ok := by[r.Trace]; !ok {
			traces = append(traces, r.Trace)
		}
		by[r.Trace] = append(by[r.Trace], r)
	}
	var t *Table
	for _, name := range traces {
		sub := HitRateTable(by[name], false)
		if t == nil {
			t = &Table{Head: append([]string{"trace"}, sub.Head...)}
		}
		for _, row := range sub.Rows {
			t.Rows = append(t.Rows, append([]string{name}, row...))
		}
	}
	if t == nil {
		t = &Table{Head: []string{"trace", "capacity"}}
	}
	return t
}

// GapTable sums up, per trace and over all traces, for every policy of
// results other than lru, min and infinite, over the capacities where lru
// and min ran: the pooled share of the LRU-to-MIN gap the policy closes
// (its hit blocks above LRU's over MIN's), and how many capacities it is
// below LRU at ("2 below").
func GapTable(results []Result) *Table {
	type key struct {
		trace string
		c     int
	}
	lru, mn := map[key]Result{}, map[key]Result{}
	var policies, traces []string
	seenP, seenT := map[string]bool{}, map[string]bool{}
	for _, r := range results {
		if !seenT[r.Trace] {
			seenT[r.Trace] = true
			traces = append(traces, r.Trace)
		}
		switch r.Policy {
		case "lru":
			lru[key{r.Trace, r.Capacity}] = r
		case PolicyMIN:
			mn[key{r.Trace, r.Capacity}] = r
		case PolicyInfinite:
		default:
			if !seenP[r.Policy] {
				seenP[r.Policy] = true
				policies = append(policies, r.Policy)
			}
		}
	}
	type sum struct {
		num, den     int
		below, cells int
	}
	sums := map[string]map[string]*sum{} // trace ("" = all) -> policy
	for _, r := range results {
		k := key{r.Trace, r.Capacity}
		l, ok1 := lru[k]
		m, ok2 := mn[k]
		if !ok1 || !ok2 || !seenP[r.Policy] {
			continue
		}
		for _, tr := range []string{r.Trace, ""} {
			if sums[tr] == nil {
				sums[tr] = map[string]*sum{}
			}
			sm := sums[tr][r.Policy]
			if sm == nil {
				sm = &sum{}
				sums[tr][r.Policy] = sm
			}
			sm.cells++
			if r.HitBlocks < l.HitBlocks {
				sm.below++
			}
			sm.num += r.HitBlocks - l.HitBlocks
			sm.den += m.HitBlocks - l.HitBlocks
		}
	}
	t := &Table{Head: append([]string{"trace"}, policies...)}
	for _, tr := range append(traces, "") {
		name := tr
		if tr == "" {
			name = "all traces"
		}
		row := []string{name}
		for _, p := range policies {
			sm := sums[tr][p]
			switch {
			case sm == nil:
				row = append(row, "-")
				continue
			case sm.den > 0:
				row = append(row, fmt.Sprintf("%.1f%%", 100*float64(sm.num)/float64(sm.den)))
			default:
				row = append(row, "=")
			}
			if sm.below > 0 {
				row[len(row)-1] += fmt.Sprintf(" (%d below)", sm.below)
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// WriteTable prints hit rates as aligned text (see HitRateTable).
func WriteTable(w io.Writer, results []Result) error {
	return HitRateTable(results, false).WriteText(w)
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
