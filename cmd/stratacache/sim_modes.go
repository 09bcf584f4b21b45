package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/stratacache/stratacache/simulations"
	"github.com/stratacache/stratacache/simulations/trace"
)

// writeJSONLines prints one JSON object per value, one per line.
func writeJSONLines[T any](w io.Writer, vs []T) error {
	enc := json.NewEncoder(w)
	for _, v := range vs {
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return nil
}

// writeTableCSV writes a table's cells as CSV.
func writeTableCSV(path string, t *simulations.Table) error {
	return writeFile(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(t.Head); err != nil {
			return err
		}
		if err := cw.WriteAll(t.Rows); err != nil {
			return err
		}
		return cw.Error()
	})
}

// emit prints a mode's results as JSON lines or as its table, and writes
// the table as CSV when asked.
func emit[T any](f *simFlags, stdout io.Writer, results []T, t *simulations.Table) error {
	var err error
	if f.jsonOut {
		err = writeJSONLines(stdout, results)
	} else {
		err = t.Write(stdout, f.markdown)
	}
	if err != nil {
		return err
	}
	if f.csvPath != "" {
		return writeTableCSV(f.csvPath, t)
	}
	return nil
}

func simBench(f *simFlags, trs []*trace.Trace, stdout io.Writer) error {
	policies := []string{"lru", simulations.PolicyMIN}
	if f.set["policy"] {
		policies = policyList(f.policies)
	}
	capStr := f.capacities
	if !f.set["capacity"] {
		capStr = "5000,50000"
	}
	var results []simulations.BenchResult
	for _, tr := range trs {
		caps, err := simulations.ParseCapacities(capStr, tr.NumBlocks())
		if err != nil {
			return err
		}
		for _, p := range policies {
			for _, c := range caps {
				r, err := simulations.Bench(tr, p, c, f.benchTime)
				if err != nil {
					return err
				}
				results = append(results, r)
			}
		}
	}
	if !f.jsonOut {
		// The machine is shared: say how busy it was.
		if b, err := os.ReadFile("/proc/loadavg"); err == nil {
			if fs := strings.Fields(string(b)); len(fs) >= 3 {
				fmt.Fprintf(stdout, "load average %s %s %s after the runs\n", fs[0], fs[1], fs[2])
				if f.markdown {
					fmt.Fprintln(stdout)
				}
			}
		}
	}
	t := &simulations.Table{Head: []string{"trace", "policy", "capacity", "hit rate", "M accesses/s", "M accesses/CPU-s", "bytes/block", "bytes/extra block", "rounds"}}
	for _, r := range results {
		t.Add(r.Trace, r.Policy, strconv.Itoa(r.Capacity), fmt.Sprintf("%.4f", r.HitRate),
			fmt.Sprintf("%.1f", r.AccessesPerSec/1e6), fmt.Sprintf("%.1f", r.AccessesPerCPUSec/1e6),
			fmt.Sprintf("%.1f", r.BytesPerBlock), fmt.Sprintf("%.1f", r.BytesPerCachedBlock), strconv.Itoa(r.Rounds))
	}
	return emit(f, stdout, results, t)
}

func simTiers(f *simFlags, trs []*trace.Trace, cost simulations.CostModel, stdout, stderr io.Writer) error {
	link, err := simulations.ParseLinkPolicy(f.link)
	if err != nil {
		return err
	}
	policies, err := cachePolicies(f, "-tiers")
	if err != nil {
		return err
	}
	var runs [][]simulations.TierSpec
	for _, p := range policies {
		specs, err := simulations.ParseTiers(f.tiers, p)
		if err != nil {
			return err
		}
		runs = append(runs, specs)
	}
	if len(runs) > 1 && allExplicit(f.tiers) {
		return fmt.Errorf("sim: -policy lists %d policies but every tier of -tiers names its own", len(runs))
	}
	pb := newBar(stderr, int64(len(runs))*totalAccesses(trs), f.quiet)
	var results []simulations.TieredResult
	done := 0
	for _, tr := range trs {
		for _, specs := range runs {
			base := done
			res, err := simulations.RunTiered(tr, specs, link, cost, func(n int) { pb.update(base + n) })
			if err != nil {
				pb.finish()
				return err
			}
			done += tr.Accesses()
			results = append(results, res)
		}
	}
	pb.finish()
	t := &simulations.Table{Head: []string{"trace", "link", "tier", "policy", "capacity", "GB/s", "hits", "hit rate",
		"promoted GB", "demoted GB", "flushed GB", "dropped GB", "total hit rate", "TTFT saved ms/request", "of prefill"}}
	for _, res := range results {
		for _, tier := range res.Tiers {
			t.Add(res.Trace, res.Link, tier.Name, tier.Policy, strconv.Itoa(tier.Capacity), strconv.FormatFloat(tier.GBps, 'g', -1, 64),
				strconv.Itoa(tier.HitBlocks), fmt.Sprintf("%.4f", tier.HitRate),
				gbs(tier.PromotedBytes), gbs(tier.DemotedBytes), gbs(tier.FlushedBytes), gbs(tier.DroppedBytes),
				fmt.Sprintf("%.4f", res.HitRate), fmt.Sprintf("%.1f", res.MeanTTFTSavedMs), fmt.Sprintf("%.1f%%", 100*res.SavedFraction))
		}
	}
	if !f.jsonOut {
		fmt.Fprintf(stdout, "%d KiB KV per token, prefill %.0f tokens/s\n", cost.KVBytesPerToken/1024, cost.PrefillTokensPerSec)
		if f.markdown {
			fmt.Fprintln(stdout)
		}
	}
	return emit(f, stdout, results, t)
}

// allExplicit reports whether every tier of a -tiers value names a policy.
func allExplicit(tiers string) bool {
	for _, t := range splitList(tiers) {
		if p := strings.Split(t, ":"); len(p) < 3 || p[2] == "" {
			return false
		}
	}
	return true
}

func gbs(b int64) string { return fmt.Sprintf("%.1f", float64(b)/1e9) }

func simNodes(f *simFlags, trs []*trace.Trace, cost simulations.CostModel, stdout, stderr io.Writer) error {
	var caps []int
	for _, s := range splitList(f.nodeCapacity) {
		c, err := strconv.Atoi(s)
		if err != nil || c <= 0 {
			return fmt.Errorf("sim: %w: node capacity %q", simulations.ErrCapacity, s)
		}
		caps = append(caps, c)
	}
	switch {
	case len(caps) == 1:
		for len(caps) < f.nodes {
			caps = append(caps, caps[0])
		}
	case len(caps) != f.nodes:
		return fmt.Errorf("sim: %w: %d node capacities for %d nodes", simulations.ErrConfig, len(caps), f.nodes)
	}
	policies, err := cachePolicies(f, "-nodes")
	if err != nil {
		return err
	}
	routes := splitList(f.routes)
	for _, r := range routes {
		if _, err := simulations.NewRouter(r, 0); err != nil {
			return err
		}
	}
	lags, err := parseFloats("lag", f.lags)
	if err != nil {
		return err
	}
	drops, err := parseFloats("drop", f.drops)
	if err != nil {
		return err
	}
	fprs, err := parseFloats("fpr", f.fprs)
	if err != nil {
		return err
	}
	seeds, err := parseSeeds(f.seeds)
	if err != nil {
		return err
	}
	var ks []simulations.Knowledge
	for _, l := range lags {
		for _, d := range drops {
			for _, p := range fprs {
				k := simulations.Knowledge{LagSec: l, Drop: d, FPR: p, Seed: seeds[0]}
				if err := k.Validate(); err != nil {
					return fmt.Errorf("sim: %w", err)
				}
				ks = append(ks, k)
			}
		}
	}
	type job struct {
		tr     *trace.Trace
		policy string
		route  string
		k      simulations.Knowledge
	}
	var jobs []job
	for _, tr := range trs {
		for _, p := range policies {
			for _, r := range routes {
				if r == "random" || r == "round-robin" || r == "least-loaded" {
					// Load-only routers use no knowledge: one run each.
					jobs = append(jobs, job{tr, p, r, simulations.Knowledge{}})
					continue
				}
				for _, k := range ks {
					jobs = append(jobs, job{tr, p, r, k})
				}
			}
		}
	}
	pb := newBar(stderr, int64(len(jobs))*totalAccesses(trs)/int64(len(trs)), f.quiet)
	var results []simulations.ClusterResult
	done := 0
	for _, j := range jobs {
		router, err := simulations.NewRouter(j.route, seeds[0])
		if err != nil {
			return err
		}
		base := done
		res, err := simulations.RunCluster(j.tr, simulations.ClusterConfig{Policy: j.policy, Capacities: caps, Router: router, Knowledge: j.k, Cost: cost},
			func(n int) { pb.update(base + n) })
		if err != nil {
			pb.finish()
			return err
		}
		done += j.tr.Accesses()
		results = append(results, res)
	}
	pb.finish()
	t := &simulations.Table{Head: []string{"trace", "policy", "router", "lag s", "drop", "fpr", "hit rate", "mean TTFT ms", "p99 TTFT ms",
		"imbalance", "router false positives", "requests per node"}}
	for _, r := range results {
		per := make([]string, len(r.Nodes))
		var believed, fp float64
		for i, n := range r.Nodes {
			per[i] = strconv.Itoa(n.Requests)
			believed += float64(n.BelievedTokens)
			fp += n.FalsePositiveRate * float64(n.BelievedTokens)
		}
		lag, drop, fpr, fps := "-", "-", "-", "-"
		if r.Router == "prefix" || r.Router == "prefix-load" {
			lag, drop, fpr = strconv.FormatFloat(r.Knowledge.LagSec, 'g', -1, 64), pct(r.Knowledge.Drop), pct(r.Knowledge.FPR)
			if believed > 0 {
				fps = pct(fp / believed)
			} else {
				fps = pct(0)
			}
		}
		t.Add(r.Trace, r.Policy, r.Router, lag, drop, fpr, fmt.Sprintf("%.4f", r.HitRate), fmt.Sprintf("%.1f", r.MeanTTFTMs),
			fmt.Sprintf("%.1f", r.P99TTFTMs), fmt.Sprintf("%.2f", r.Imbalance), fps, strings.Join(per, " "))
	}
	if !f.jsonOut {
		fmt.Fprintf(stdout, "%d nodes of %v blocks, prefill %.0f tokens/s\n", len(caps), caps, cost.PrefillTokensPerSec)
		if f.markdown {
			fmt.Fprintln(stdout)
		}
	}
	if err := emit(f, stdout, results, t); err != nil {
		return err
	}
	if f.perNode && !f.jsonOut {
		pt := &simulations.Table{Head: []string{"trace", "policy", "router", "lag s", "drop", "fpr", "node", "capacity", "requests", "hit rate", "busy s",
			"believed tokens", "hit tokens", "false positives"}}
		for _, r := range results {
			for _, n := range r.Nodes {
				pt.Add(r.Trace, r.Policy, r.Router, strconv.FormatFloat(r.Knowledge.LagSec, 'g', -1, 64), pct(r.Knowledge.Drop), pct(r.Knowledge.FPR),
					strconv.Itoa(n.Node), strconv.Itoa(n.Capacity), strconv.Itoa(n.Requests), fmt.Sprintf("%.4f", n.HitRate),
					fmt.Sprintf("%.1f", n.BusySec), strconv.FormatInt(n.BelievedTokens, 10), strconv.FormatInt(n.HitTokens, 10), pct(n.FalsePositiveRate))
			}
		}
		fmt.Fprintln(stdout)
		return pt.Write(stdout, f.markdown)
	}
	return nil
}

// pct formats a share as a percentage with at most two decimals.
func pct(v float64) string {
	return strconv.FormatFloat(math.Round(10000*v)/100, 'f', -1, 64) + "%"
}
