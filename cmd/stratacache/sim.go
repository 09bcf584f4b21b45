package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/stratacache/stratacache/simulations"
	"github.com/stratacache/stratacache/simulations/mrcplot"
	"github.com/stratacache/stratacache/simulations/trace"
	"github.com/stratacache/stratacache/simulations/workload"
	"github.com/stratacache/stratacache/tiers/eviction"
)

// defaultTrace is looked up relative to the working directory (the
// repository root): the traces live beside the project, never inside it.
const defaultTrace = "../shared/traces/conversation_trace.jsonl"

// simFlags are the flags of `stratacache sim`.
type simFlags struct {
	tracePath, format, workload string
	lenient                     bool
	maxRequests, requests       int
	seed                        uint64
	policies, capacities        string
	jsonOut                     bool
	csvPath, plotPath           string
	bench                       bool
	benchTime                   time.Duration
	tiers, link                 string
	nodes                       int
	nodeCapacity, routes        string
	kvBytes                     int64
	prefillTPS                  float64
	quiet                       bool
	set                         map[string]bool // flags given on the command line
}

func runSim(args []string, stdout, stderr io.Writer) error {
	var f simFlags
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.tracePath, "trace", "", "JSONL trace (Mooncake or Qwen-Bailian form); default "+defaultTrace+" if present, else -workload mix")
	fs.StringVar(&f.format, "format", "auto", "trace form: auto, mooncake or bailian")
	fs.BoolVar(&f.lenient, "lenient", false, "skip and count bad trace lines instead of failing")
	fs.IntVar(&f.maxRequests, "max-requests", 0, "read at most this many requests (0: all)")
	fs.StringVar(&f.workload, "workload", "", "generate a trace instead: "+strings.Join(workload.Kinds, ", "))
	fs.IntVar(&f.requests, "requests", 10000, "requests to generate with -workload")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the generator and the random router")
	fs.StringVar(&f.policies, "policy", "lru,fifo,min", "policies, comma-separated: "+strings.Join(eviction.Names(), ", ")+", min, infinite, or all")
	fs.StringVar(&f.capacities, "capacity", "auto", "capacities in blocks, comma-separated (1000, 5k, 0.05 or 5% of the distinct blocks), or auto")
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON object per run instead of a table")
	fs.StringVar(&f.csvPath, "csv", "", "also write the results as CSV to this file")
	fs.StringVar(&f.plotPath, "plot", "", "also write a miss-ratio-curve plot (.svg or .png)")
	fs.BoolVar(&f.bench, "bench", false, "measure accesses/s and bytes/block of LRU and MIN (or -policy) at -capacity")
	fs.DurationVar(&f.benchTime, "bench-time", 2*time.Second, "minimum replay time per -bench measurement")
	fs.StringVar(&f.tiers, "tiers", "", "multi-tier mode: name:capacity[:policy[:GBps]],... top first, e.g. cpu:5000,cxl:20000,disk:100000,remote:200000")
	fs.StringVar(&f.link, "link", "write-back", "multi-tier link policy: write-back or write-through")
	fs.IntVar(&f.nodes, "nodes", 0, "multi-node mode: number of nodes")
	fs.StringVar(&f.nodeCapacity, "node-capacity", "5000", "multi-node: blocks per node (one value, or one per node)")
	fs.StringVar(&f.routes, "route", strings.Join(simulations.Routers, ","), "multi-node routers: "+strings.Join(simulations.Routers, ", "))
	def := simulations.DefaultCostModel()
	fs.Int64Var(&f.kvBytes, "kv-bytes-per-token", def.KVBytesPerToken, "cost model: KV-cache bytes per token")
	fs.Float64Var(&f.prefillTPS, "prefill-tps", def.PrefillTokensPerSec, "cost model: prefill throughput, tokens/s")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if fs.NArg() > 0 {
		return fmt.Errorf("sim: unexpected arguments %q", fs.Args())
	}
	tr, err := loadTrace(&f, stderr)
	if err != nil {
		return err
	}
	if f.jsonOut && tr.Skipped > 0 {
		fmt.Fprintf(stderr, "sim: %s: %d bad lines skipped\n", tr.Name, tr.Skipped)
	}
	if !f.jsonOut {
		fmt.Fprintf(stdout, "trace %s: %d requests, %d block accesses, %d distinct blocks of %d tokens",
			tr.Name, tr.Len(), tr.Accesses(), tr.NumBlocks(), tr.BlockTokens)
		if tr.Skipped > 0 {
			fmt.Fprintf(stdout, ", %d bad lines skipped", tr.Skipped)
		}
		fmt.Fprintln(stdout)
	}
	cost := simulations.CostModel{PrefillTokensPerSec: f.prefillTPS, KVBytesPerToken: f.kvBytes}
	switch {
	case f.bench:
		return simBench(&f, tr, stdout, stderr)
	case f.tiers != "":
		return simTiers(&f, tr, cost, stdout, stderr)
	case f.nodes > 0:
		return simNodes(&f, tr, cost, stdout, stderr)
	}
	return simSingle(&f, tr, stdout, stderr)
}

func loadTrace(f *simFlags, stderr io.Writer) (*trace.Trace, error) {
	if f.tracePath == "" && f.workload == "" {
		if _, err := os.Stat(defaultTrace); err == nil {
			f.tracePath = defaultTrace
		} else {
			f.workload = workload.KindMix
			fmt.Fprintf(stderr, "sim: %s not found, using -workload mix\n", defaultTrace)
		}
	}
	if f.workload != "" {
		if f.tracePath != "" {
			return nil, errors.New("sim: give -trace or -workload, not both")
		}
		cfg := workload.DefaultConfig()
		cfg.Seed = f.seed
		cfg.Requests = f.requests
		return workload.Generate(f.workload, cfg)
	}
	format, err := trace.ParseFormat(f.format)
	if err != nil {
		return nil, err
	}
	return trace.ReadFile(f.tracePath, trace.Options{Format: format, Lenient: f.lenient, MaxRequests: f.maxRequests})
}

// policyList expands "all".
func policyList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		switch p {
		case "":
		case "all":
			out = append(out, eviction.Names()...)
			out = append(out, simulations.PolicyMIN, simulations.PolicyInfinite)
		default:
			out = append(out, p)
		}
	}
	return out
}

// bar is a progress bar on stderr that appears only once a run has taken a
// second.
type bar struct {
	w     io.Writer
	total int64
	start time.Time
	pb    *progressbar.ProgressBar
	off   bool
}

func newBar(w io.Writer, total int64, off bool) *bar {
	return &bar{w: w, total: total, start: time.Now(), off: off}
}

func (b *bar) update(done int) {
	if b.off {
		return
	}
	if b.pb == nil {
		if time.Since(b.start) < time.Second {
			return
		}
		b.pb = progressbar.NewOptions64(b.total,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription("block accesses"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
	}
	_ = b.pb.Set64(int64(done))
}

func (b *bar) finish() {
	if b.pb != nil {
		_ = b.pb.Finish()
	}
}

func simSingle(f *simFlags, tr *trace.Trace, stdout, stderr io.Writer) error {
	policies := policyList(f.policies)
	if len(policies) == 0 {
		return fmt.Errorf("sim: %w: no policy given", simulations.ErrPolicy)
	}
	caps, err := simulations.ParseCapacities(f.capacities, tr.NumBlocks())
	if err != nil {
		return err
	}
	pb := newBar(stderr, int64(simulations.Runs(policies, caps))*int64(tr.Accesses()), f.quiet)
	results, err := simulations.RunAll(tr, policies, caps, pb.update)
	pb.finish()
	if err != nil {
		return err
	}
	if f.jsonOut {
		err = simulations.WriteJSON(stdout, results)
	} else {
		err = simulations.WriteTable(stdout, results)
	}
	if err != nil {
		return err
	}
	if f.csvPath != "" {
		if err := writeFile(f.csvPath, func(w io.Writer) error { return simulations.WriteCSV(w, results) }); err != nil {
			return err
		}
	}
	if f.plotPath != "" {
		title := fmt.Sprintf("miss-ratio curves: %s", tr.Name)
		if err := mrcplot.Save(f.plotPath, title, simulations.Curves(results)); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(fh); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func simBench(f *simFlags, tr *trace.Trace, stdout, stderr io.Writer) error {
	policies := []string{"lru", simulations.PolicyMIN}
	if f.set["policy"] {
		policies = policyList(f.policies)
	}
	capStr := f.capacities
	if !f.set["capacity"] {
		capStr = "5000,50000"
	}
	caps, err := simulations.ParseCapacities(capStr, tr.NumBlocks())
	if err != nil {
		return err
	}
	var results []simulations.BenchResult
	for _, p := range policies {
		for _, c := range caps {
			r, err := simulations.Bench(tr, p, c, f.benchTime)
			if err != nil {
				return err
			}
			results = append(results, r)
		}
	}
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		for _, r := range results {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tcapacity\thit rate\tM accesses/s\tM accesses/CPU-s\tbytes/block\tbytes/extra block\trounds\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t\n", r.Policy, r.Capacity, r.HitRate,
			r.AccessesPerSec/1e6, r.AccessesPerCPUSec/1e6, r.BytesPerBlock, r.BytesPerCachedBlock, r.Rounds)
	}
	return tw.Flush()
}

func simTiers(f *simFlags, tr *trace.Trace, cost simulations.CostModel, stdout, stderr io.Writer) error {
	link, err := simulations.ParseLinkPolicy(f.link)
	if err != nil {
		return err
	}
	def := "lru"
	if ps := policyList(f.policies); len(ps) == 1 {
		def = ps[0]
	}
	specs, err := simulations.ParseTiers(f.tiers, def)
	if err != nil {
		return err
	}
	pb := newBar(stderr, int64(tr.Accesses()), f.quiet)
	res, err := simulations.RunTiered(tr, specs, link, cost, pb.update)
	pb.finish()
	if err != nil {
		return err
	}
	if f.jsonOut {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "%s, %d KiB KV per token, prefill %.0f tokens/s: hit rate %.4f, TTFT saved %.1f ms/request (%.1f%% of prefill)\n",
		res.Link, res.KVBytesPerToken/1024, res.PrefillTokensSec, res.HitRate, res.MeanTTFTSavedMs, 100*res.SavedFraction)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tier\tpolicy\tcapacity\tGB/s\thits\thit rate\tpromoted GB\tdemoted GB\tflushed GB\tdropped GB\t")
	for _, t := range res.Tiers {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%g\t%d\t%.4f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", t.Name, t.Policy, t.Capacity, t.GBps,
			t.HitBlocks, t.HitRate, gb(t.PromotedBytes), gb(t.DemotedBytes), gb(t.FlushedBytes), gb(t.DroppedBytes))
	}
	return tw.Flush()
}

func gb(b int64) float64 { return float64(b) / 1e9 }

func simNodes(f *simFlags, tr *trace.Trace, cost simulations.CostModel, stdout, stderr io.Writer) error {
	var caps []int
	for _, s := range strings.Split(f.nodeCapacity, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(s))
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
	policy := "lru"
	if ps := policyList(f.policies); len(ps) == 1 {
		policy = ps[0]
	}
	routes := strings.Split(f.routes, ",")
	blockSec := float64(tr.BlockTokens) / cost.PrefillTokensPerSec
	pb := newBar(stderr, int64(len(routes))*int64(tr.Accesses()), f.quiet)
	var results []simulations.ClusterResult
	for i, name := range routes {
		router, err := simulations.NewRouter(strings.TrimSpace(name), f.seed, blockSec)
		if err != nil {
			return err
		}
		base := i * tr.Accesses()
		res, err := simulations.RunCluster(tr, policy, caps, router, nil, cost, func(n int) { pb.update(base + n) })
		if err != nil {
			return err
		}
		results = append(results, res)
	}
	pb.finish()
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		for _, r := range results {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(stdout, "%d nodes of %v blocks, policy %s, prefill %.0f tokens/s\n", len(caps), caps, policy, cost.PrefillTokensPerSec)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "router\thit rate\tmean TTFT ms\tp99 TTFT ms\timbalance\trequests per node\t")
	for _, r := range results {
		per := make([]string, len(r.Nodes))
		for i, n := range r.Nodes {
			per[i] = strconv.Itoa(n.Requests)
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%.1f\t%.1f\t%.2f\t%s\t\n", r.Router, r.HitRate, r.MeanTTFTMs, r.P99TTFTMs, r.Imbalance, strings.Join(per, " "))
	}
	return tw.Flush()
}
