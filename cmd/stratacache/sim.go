package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	traces, format, workloads, seeds string
	lenient                          bool
	maxRequests                      int
	gen                              workload.Config
	policies, capacities             string
	jsonOut, markdown, gap, perNode  bool
	csvPath, plotPath                string
	bench                            bool
	benchTime                        time.Duration
	tiers, link                      string
	nodes                            int
	nodeCapacity, routes             string
	lags, drops, fprs                string
	kvBytes                          int64
	prefillTPS                       float64
	quiet                            bool
	suite, doc                       string
	check                            bool
	set                              map[string]bool // flags given on the command line
}

// generatorFlags are the flags that set workload.Config fields.
var generatorFlags = []string{"requests", "turns", "think-seconds", "system-prompts", "system-prompt-tokens",
	"system-prompt-share", "prompt-zipf", "agent-steps", "tool-seconds", "documents", "doc-zipf",
	"arrival-rate", "user-tokens", "output-tokens"}

func newSimFlagSet(f *simFlags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.traces, "trace", "", "JSONL traces, comma-separated (Mooncake or Qwen-Bailian form); default "+defaultTrace+" if present, else -workload mix")
	fs.StringVar(&f.format, "format", "auto", "trace form: auto, mooncake or bailian")
	fs.BoolVar(&f.lenient, "lenient", false, "skip and count bad trace lines instead of failing")
	fs.IntVar(&f.maxRequests, "max-requests", 0, "read at most this many requests of a trace file (0: all)")
	fs.StringVar(&f.workloads, "workload", "", "generate traces instead, comma-separated: "+strings.Join(workload.Kinds, ", "))
	fs.StringVar(&f.seeds, "seed", "1", "seeds of the generator, comma-separated (one trace per workload and seed); the first also seeds the random router and the knowledge model")
	f.gen = workload.DefaultConfig()
	g := &f.gen
	fs.IntVar(&g.Requests, "requests", g.Requests, "generator: requests per trace")
	fs.Float64Var(&g.ChatTurns, "turns", g.ChatTurns, "generator: mean turns per chat session (geometric)")
	fs.Float64Var(&g.ThinkSeconds, "think-seconds", g.ThinkSeconds, "generator: mean think time between chat turns, seconds")
	fs.IntVar(&g.SystemPrompts, "system-prompts", g.SystemPrompts, "generator: number of shared system prompts")
	fs.IntVar(&g.SystemPromptTokens, "system-prompt-tokens", g.SystemPromptTokens, "generator: tokens of a system prompt")
	fs.Float64Var(&g.SystemPromptShare, "system-prompt-share", g.SystemPromptShare, "generator: share of sessions behind a shared system prompt (the rest get a private one)")
	fs.Float64Var(&g.PromptZipf, "prompt-zipf", g.PromptZipf, "generator: Zipf skew of the system prompts' popularity (> 1)")
	fs.Float64Var(&g.AgentSteps, "agent-steps", g.AgentSteps, "generator: mean agent loop depth, steps per task (geometric)")
	fs.Float64Var(&g.ToolSeconds, "tool-seconds", g.ToolSeconds, "generator: mean time between agent steps, seconds")
	fs.IntVar(&g.Documents, "documents", g.Documents, "generator: number of documents (docs workload)")
	fs.Float64Var(&g.DocZipf, "doc-zipf", g.DocZipf, "generator: Zipf skew of the documents' popularity (> 1)")
	fs.Float64Var(&g.ArrivalPerSec, "arrival-rate", g.ArrivalPerSec, "generator: new sessions per second (Poisson)")
	fs.Float64Var(&g.UserTokens, "user-tokens", g.UserTokens, "generator: mean tokens of a user message")
	fs.Float64Var(&g.OutputTokens, "output-tokens", g.OutputTokens, "generator: mean tokens of an answer")
	fs.StringVar(&f.policies, "policy", "lru,fifo,min", "policies, comma-separated: "+strings.Join(eviction.Names(), ", ")+", min, infinite, or all")
	fs.StringVar(&f.capacities, "capacity", "auto", "capacities in blocks, comma-separated (1000, 5k, 0.05 or 5% of the distinct blocks), or auto")
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON object per run instead of a table")
	fs.BoolVar(&f.markdown, "markdown", false, "print tables as Markdown")
	fs.BoolVar(&f.gap, "gap", false, "give each policy's share of the LRU-to-MIN gap (needs lru and min in -policy): per cell for one trace; for several, a table of the pooled share per trace instead of the hit rates")
	fs.StringVar(&f.csvPath, "csv", "", "also write the results as CSV to this file")
	fs.StringVar(&f.plotPath, "plot", "", "also write a miss-ratio-curve plot (.svg or .png; single-cache runs only)")
	fs.BoolVar(&f.bench, "bench", false, "measure accesses/s and bytes/block of LRU and MIN (or -policy) at -capacity")
	fs.DurationVar(&f.benchTime, "bench-time", 2*time.Second, "minimum replay time per -bench measurement")
	fs.StringVar(&f.tiers, "tiers", "", "multi-tier mode: name:capacity[:policy[:GBps]],... top first, e.g. cpu:5000,cxl:20000,disk:100000,remote:200000")
	fs.StringVar(&f.link, "link", "write-back", "multi-tier link policy: write-back or write-through")
	fs.IntVar(&f.nodes, "nodes", 0, "multi-node mode: number of nodes")
	fs.StringVar(&f.nodeCapacity, "node-capacity", "5000", "multi-node: blocks per node (one value, or one per node)")
	fs.StringVar(&f.routes, "route", strings.Join(simulations.Routers, ","), "multi-node routers: "+strings.Join(simulations.Routers, ", "))
	fs.StringVar(&f.lags, "lag", "0", "multi-node: seconds of trace time before routers learn a node's change, comma-separated")
	fs.StringVar(&f.drops, "drop", "0", "multi-node: shares of the nodes' updates lost before reaching the routers (0.01 or 1%), comma-separated")
	fs.StringVar(&f.fprs, "fpr", "0", "multi-node: false-positive rates of per-node summaries (0: an exact index), comma-separated")
	fs.BoolVar(&f.perNode, "per-node", false, "multi-node: also print one row per node and run")
	def := simulations.DefaultCostModel()
	fs.Int64Var(&f.kvBytes, "kv-bytes-per-token", def.KVBytesPerToken, "cost model: KV-cache bytes per token")
	fs.Float64Var(&f.prefillTPS, "prefill-tps", def.PrefillTokensPerSec, "cost model: prefill throughput, tokens/s")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress bar")
	fs.StringVar(&f.suite, "suite", "", "regenerate the tables and plots of a document: docs (docs/SIMULATIONS.md)")
	fs.StringVar(&f.doc, "doc", "", "with -suite: the document to rewrite (default: the suite's own)")
	fs.BoolVar(&f.check, "check", false, "with -suite: compare with the document instead of rewriting it")
	return fs
}

func runSim(args []string, stdout, stderr io.Writer) error {
	var f simFlags
	fs := newSimFlagSet(&f, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if fs.NArg() > 0 {
		return fmt.Errorf("sim: unexpected arguments %q", fs.Args())
	}
	if f.suite != "" {
		return runSuite(&f, stdout, stderr)
	}
	if err := f.validate(); err != nil {
		return err
	}
	trs, err := loadTraces(&f, stderr)
	if err != nil {
		return err
	}
	for _, tr := range trs {
		if f.jsonOut {
			if tr.Skipped > 0 {
				fmt.Fprintf(stderr, "sim: %s: %d bad lines skipped\n", tr.Name, tr.Skipped)
			}
			continue
		}
		fmt.Fprintf(stdout, "trace %s: %d requests, %d block accesses, %d distinct blocks of %d tokens",
			tr.Name, tr.Len(), tr.Accesses(), tr.NumBlocks(), tr.BlockTokens)
		if tr.Skipped > 0 {
			fmt.Fprintf(stdout, ", %d bad lines skipped", tr.Skipped)
		}
		fmt.Fprintln(stdout)
	}
	if f.markdown && !f.jsonOut {
		fmt.Fprintln(stdout)
	}
	cost := simulations.CostModel{PrefillTokensPerSec: f.prefillTPS, KVBytesPerToken: f.kvBytes}
	switch {
	case f.bench:
		return simBench(&f, trs, stdout)
	case f.tiers != "":
		return simTiers(&f, trs, cost, stdout, stderr)
	case f.nodes > 0:
		return simNodes(&f, trs, cost, stdout, stderr)
	}
	return simSingle(&f, trs, stdout, stderr)
}

// validate refuses flag combinations that a mode would ignore.
func (f *simFlags) validate() error {
	mode, modes := "", 0
	for _, m := range []struct {
		on   bool
		name string
	}{{f.bench, "-bench"}, {f.tiers != "", "-tiers"}, {f.nodes > 0, "-nodes"}} {
		if m.on {
			mode = m.name
			modes++
		}
	}
	if modes > 1 {
		return errors.New("sim: give at most one of -bench, -tiers and -nodes")
	}
	if f.nodes < 0 {
		return fmt.Errorf("sim: %w: -nodes %d", simulations.ErrConfig, f.nodes)
	}
	if mode != "" && f.plotPath != "" {
		return fmt.Errorf("sim: -plot draws miss-ratio curves of single-cache runs; %s has none (use -csv or -json)", mode)
	}
	if mode != "" && f.gap {
		return fmt.Errorf("sim: -gap compares single-cache runs with MIN; not with %s", mode)
	}
	if mode != "-nodes" {
		for _, name := range []string{"lag", "drop", "fpr", "per-node", "node-capacity", "route"} {
			if f.set[name] {
				return fmt.Errorf("sim: -%s belongs to -nodes mode", name)
			}
		}
	}
	if mode != "-tiers" && f.set["link"] {
		return errors.New("sim: -link belongs to -tiers mode")
	}
	if mode != "-bench" && f.set["bench-time"] {
		return errors.New("sim: -bench-time belongs to -bench mode")
	}
	if f.workloads == "" {
		for _, name := range append([]string{"seed"}, generatorFlags...) {
			if f.set[name] && !(name == "seed" && mode == "-nodes") {
				return fmt.Errorf("sim: -%s sets the generator: give -workload too", name)
			}
		}
	}
	if f.jsonOut && f.markdown {
		return errors.New("sim: give -json or -markdown, not both")
	}
	if f.set["doc"] || f.set["check"] {
		return errors.New("sim: -doc and -check go with -suite")
	}
	return nil
}

func loadTraces(f *simFlags, stderr io.Writer) ([]*trace.Trace, error) {
	if f.traces == "" && f.workloads == "" {
		if _, err := os.Stat(defaultTrace); err == nil {
			f.traces = defaultTrace
		} else {
			f.workloads = workload.KindMix
			fmt.Fprintf(stderr, "sim: %s not found, using -workload mix\n", defaultTrace)
		}
	}
	var out []*trace.Trace
	if f.traces != "" {
		format, err := trace.ParseFormat(f.format)
		if err != nil {
			return nil, err
		}
		for _, p := range splitList(f.traces) {
			tr, err := trace.ReadFile(p, trace.Options{Format: format, Lenient: f.lenient, MaxRequests: f.maxRequests})
			if err != nil {
				return nil, err
			}
			out = append(out, tr)
		}
	}
	if f.workloads != "" {
		seeds, err := parseSeeds(f.seeds)
		if err != nil {
			return nil, err
		}
		for _, kind := range splitList(f.workloads) {
			for _, s := range seeds {
				cfg := f.gen
				cfg.Seed = s
				tr, err := workload.Generate(kind, cfg)
				if err != nil {
					return nil, err
				}
				tr.Name = fmt.Sprintf("%s-s%d", tr.Name, s)
				out = append(out, tr)
			}
		}
	}
	return out, nil
}

func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, p := range splitList(s) {
		v, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("sim: seed %q: %w", p, err)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("sim: no seed given")
	}
	return out, nil
}

// parseFloats reads a comma-separated list of non-negative numbers; a "%"
// suffix divides by 100.
func parseFloats(flagName, s string) ([]float64, error) {
	var out []float64
	for _, p := range splitList(s) {
		div := 1.0
		if strings.HasSuffix(p, "%") {
			p, div = strings.TrimSuffix(p, "%"), 100
		}
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("sim: %w: -%s %q", simulations.ErrConfig, flagName, p)
		}
		out = append(out, v/div)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("sim: %w: -%s is empty", simulations.ErrConfig, flagName)
	}
	return out, nil
}

// policyList expands "all".
func policyList(s string) []string {
	var out []string
	for _, p := range splitList(s) {
		p = strings.ToLower(p)
		if p == "all" {
			out = append(out, eviction.Names()...)
			out = append(out, simulations.PolicyMIN, simulations.PolicyInfinite)
			continue
		}
		out = append(out, p)
	}
	return out
}

// cachePolicies is the policy list of the multi-tier and multi-node modes,
// which drive eviction policies only: lru unless -policy is given.
func cachePolicies(f *simFlags, mode string) ([]string, error) {
	if !f.set["policy"] {
		return []string{"lru"}, nil
	}
	ps := policyList(f.policies)
	if len(ps) == 0 {
		return nil, fmt.Errorf("sim: %w: no policy given", simulations.ErrPolicy)
	}
	for _, p := range ps {
		switch p {
		case simulations.PolicyMIN, simulations.PolicyInfinite, "belady", "opt", "inf":
			return nil, fmt.Errorf("sim: %w: %s mode drives eviction policies only, not %q (\"all\" includes min and infinite: list the policies)", simulations.ErrPolicy, mode, p)
		}
		if _, err := eviction.New(p, 1); err != nil {
			return nil, fmt.Errorf("sim: %w: %w", simulations.ErrPolicy, err)
		}
	}
	return ps, nil
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

func totalAccesses(trs []*trace.Trace) int64 {
	var n int64
	for _, tr := range trs {
		n += int64(tr.Accesses())
	}
	return n
}

func simSingle(f *simFlags, trs []*trace.Trace, stdout, stderr io.Writer) error {
	policies := policyList(f.policies)
	if len(policies) == 0 {
		return fmt.Errorf("sim: %w: no policy given", simulations.ErrPolicy)
	}
	if f.gap && (!contains(policies, "lru") || !contains(policies, simulations.PolicyMIN)) {
		return fmt.Errorf("sim: -gap needs lru and min in -policy")
	}
	type run struct {
		tr   *trace.Trace
		caps []int
	}
	var runs []run
	var total int64
	for _, tr := range trs {
		caps, err := simulations.ParseCapacities(f.capacities, tr.NumBlocks())
		if err != nil {
			return err
		}
		runs = append(runs, run{tr, caps})
		total += int64(simulations.Runs(policies, caps)) * int64(tr.Accesses())
	}
	pb := newBar(stderr, total, f.quiet)
	var results []simulations.Result
	var done int
	for _, r := range runs {
		base := done
		res, err := simulations.RunAll(r.tr, policies, r.caps, func(n int) { pb.update(base + n) })
		if err != nil {
			pb.finish()
			return err
		}
		done += simulations.Runs(policies, r.caps) * r.tr.Accesses()
		results = append(results, res...)
	}
	pb.finish()
	var err error
	switch {
	case f.jsonOut:
		err = simulations.WriteJSON(stdout, results)
	case len(trs) == 1:
		err = simulations.HitRateTable(results, f.gap).Write(stdout, f.markdown)
	case f.gap:
		// Many traces: the gap each policy closes per trace, not every cell
		// (-csv and -json have those).
		err = simulations.GapTable(results).Write(stdout, f.markdown)
	default:
		err = simulations.TracesTable(results).Write(stdout, f.markdown)
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
		if len(trs) > 1 {
			return fmt.Errorf("sim: -plot draws one trace's curves; %d traces given", len(trs))
		}
		title := fmt.Sprintf("miss-ratio curves: %s", trs[0].Name)
		if err := mrcplot.Save(f.plotPath, title, simulations.Curves(results)); err != nil {
			return err
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
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
