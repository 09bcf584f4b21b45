package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stratacache/stratacache/simulations"
)

// A suite regenerates the tables and plots of a document: each table sits
// in a block of the document,
//
//	<!-- sim:ID -->
//	`stratacache sim ARGS`
//
//	...the command's output...
//	<!-- /sim:ID -->
//
// and `stratacache sim -suite NAME` runs every section's command (from the
// repository root: trace, plot and CSV paths are relative to it) and puts
// its output in the block, so that each table is headed by the command
// that produced it. -check compares instead of rewriting: tables and plot
// files byte for byte, except sections marked volatile (speed figures),
// whose output depends on the machine. Blocks named <!-- test:ID --> are
// written by go test (the policy references live in test files) and left
// alone.
type suiteSection struct {
	ID   string
	Args []string
	// Small sections are cheap enough for `go test` to run in full; Race
	// ones even under the race detector.
	Small, Race bool
	// Sample, for the others, gives a subset of the rows (fewer
	// capacities or runs) that go test checks against the document; lines
	// starting with one of SampleSkip (a total over all runs) are not
	// checked.
	Sample     []string
	SampleSkip []string
	// Volatile output (speed) is regenerated but never compared.
	Volatile bool
}

const (
	convTrace = "../shared/traces/conversation_trace.jsonl"
	synTrace  = "../shared/traces/synthetic_trace.jsonl"
)

// suites maps a suite name to its document and sections.
var suites = map[string]struct {
	doc      string
	sections []suiteSection
}{
	"docs": {"docs/SIMULATIONS.md", docsSuite},
}

var docsSuite = []suiteSection{
	{ID: "exact", Small: true,
		Args: []string{"-trace", convTrace, "-policy", "lru,fifo,min", "-capacity", "1000,5000,10000,20000,50000", "-markdown"}},
	{ID: "mrc-conversation",
		Args:   []string{"-trace", convTrace, "-policy", "all", "-capacity", "1000,2000,5000,10000,20000,50000,100000", "-plot", "simulations/results/mrc_conversation.svg", "-markdown"},
		Sample: []string{"-trace", convTrace, "-policy", "all", "-capacity", "5000", "-markdown"}},
	{ID: "mrc-synthetic",
		Args:   []string{"-trace", synTrace, "-policy", "all", "-capacity", "1000,2000,5000,10000,20000,50000", "-plot", "simulations/results/mrc_synthetic.svg", "-markdown"},
		Sample: []string{"-trace", synTrace, "-policy", "all", "-capacity", "1000", "-markdown"}},
	{ID: "merit", Small: true,
		Args: []string{"-trace", convTrace, "-policy", "lru,arc,s3fifo,duel,min", "-capacity", "5000,10000", "-gap", "-markdown"}},
	{ID: "heldout",
		Args: []string{"-trace", convTrace + "," + synTrace, "-workload", "chat,agent,sysprompt,docs,mix", "-seed", "1001,1002,1003",
			"-policy", "all", "-capacity", "0.5%,1%,2%,5%,10%,20%,50%", "-gap", "-markdown"},
		Sample: []string{"-workload", "sysprompt", "-seed", "1002,1003",
			"-policy", "all", "-capacity", "0.5%,1%,2%,5%,10%,20%,50%", "-gap", "-markdown"},
		SampleSkip: []string{"| all traces |"}},
	{ID: "workloads", Small: true,
		Args: []string{"-workload", "chat,agent,sysprompt,docs,mix", "-requests", "5000", "-policy", "lru,s3fifo,arc,duel,min,infinite", "-capacity", "1%,5%,20%", "-markdown"}},
	{ID: "tiers-write-back", Small: true,
		Args: []string{"-trace", convTrace, "-tiers", "cpu:5000,cxl:20000,disk:100000", "-markdown"}},
	{ID: "tiers-write-through", Small: true,
		Args: []string{"-trace", convTrace, "-tiers", "cpu:5000,cxl:20000,disk:100000", "-link", "write-through", "-markdown"}},
	{ID: "nodes-4",
		Args:   []string{"-trace", convTrace, "-nodes", "4", "-node-capacity", "5000", "-markdown"},
		Sample: []string{"-trace", convTrace, "-nodes", "4", "-node-capacity", "5000", "-route", "prefix-load", "-markdown"}},
	{ID: "nodes-8",
		Args:   []string{"-trace", convTrace, "-nodes", "8", "-node-capacity", "2500", "-markdown"},
		Sample: []string{"-trace", convTrace, "-nodes", "8", "-node-capacity", "2500", "-route", "round-robin", "-markdown"}},
	{ID: "routing-knowledge",
		Args:   []string{"-trace", convTrace, "-nodes", "4", "-node-capacity", "5000", "-route", "prefix-load", "-lag", "0,0.1,1,10", "-drop", "0,1%,10%", "-markdown"},
		Sample: []string{"-trace", convTrace, "-nodes", "4", "-node-capacity", "5000", "-route", "prefix-load", "-lag", "1", "-drop", "1%", "-markdown"}},
	{ID: "routing-knowledge-chat", Small: true, Race: true,
		Args: []string{"-workload", "chat", "-requests", "5000", "-nodes", "4", "-node-capacity", "800", "-route", "round-robin,prefix-load",
			"-lag", "0,1,10,60", "-drop", "0,10%", "-markdown"}},
	{ID: "routing-summaries",
		Args:   []string{"-trace", convTrace, "-nodes", "4", "-node-capacity", "5000", "-route", "prefix-load", "-fpr", "0,0.1%,1%,10%", "-per-node", "-markdown"},
		Sample: []string{"-trace", convTrace, "-nodes", "4", "-node-capacity", "5000", "-route", "prefix-load", "-fpr", "1%", "-per-node", "-markdown"}},
	{ID: "bench", Volatile: true,
		Args: []string{"-bench", "-markdown"}},
}

// errSuite: a document and its suite disagree.
var errSuite = simulations.ErrDocBlock

// command is how a section's command is shown.
func (s suiteSection) command(args []string) string {
	return "stratacache sim " + strings.Join(args, " ")
}

// rooted rewrites the path arguments (-trace, -plot, -csv) relative to
// root, sending plot and CSV files to outDir when it is set.
func rooted(args []string, root, outDir string) []string {
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(out); i++ {
		switch out[i] {
		case "-trace":
			var ps []string
			for _, p := range splitList(out[i+1]) {
				if !filepath.IsAbs(p) {
					p = filepath.Join(root, p)
				}
				ps = append(ps, p)
			}
			out[i+1] = strings.Join(ps, ",")
		case "-plot", "-csv":
			p := out[i+1]
			if outDir != "" {
				p = filepath.Join(outDir, filepath.Base(p))
			} else if !filepath.IsAbs(p) {
				p = filepath.Join(root, p)
			}
			out[i+1] = p
		}
	}
	return out
}

// outputs lists the files a section's arguments write (-plot, -csv).
func outputs(args []string) []string {
	var out []string
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-plot" || args[i] == "-csv" {
			out = append(out, args[i+1])
		}
	}
	return out
}

// render runs a section's command and returns the block body.
func (s suiteSection) render(args []string, root, outDir string, stderr io.Writer) (string, error) {
	var out bytes.Buffer
	if err := runSim(append(rooted(args, root, outDir), "-quiet"), &out, stderr); err != nil {
		return "", fmt.Errorf("section %s: %w", s.ID, err)
	}
	return "`" + s.command(args) + "`\n\n" + out.String(), nil
}

// suiteRun is one run of a suite over a document.
type suiteRun struct {
	root     string // the repository root
	docPath  string
	sections []suiteSection
	stderr   io.Writer
}

func runSuite(f *simFlags, stdout, stderr io.Writer) error {
	for name := range f.set {
		switch name {
		case "suite", "doc", "check", "quiet":
		default:
			return fmt.Errorf("sim: -%s does not go with -suite (the suite's commands name their flags)", name)
		}
	}
	s, ok := suites[f.suite]
	if !ok {
		return fmt.Errorf("%w %q unknown (want docs)", errSuite, f.suite)
	}
	r := suiteRun{root: ".", docPath: s.doc, sections: s.sections, stderr: stderr}
	if f.doc != "" {
		r.docPath = f.doc
	}
	if f.check {
		return r.check(stdout)
	}
	return r.regenerate(stdout)
}

func (r *suiteRun) load() (string, []simulations.DocBlock, error) {
	raw, err := os.ReadFile(r.docPath)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", errSuite, err)
	}
	doc := string(raw)
	blocks, err := simulations.DocBlocks(doc)
	if err != nil {
		return "", nil, err
	}
	have := map[string]bool{}
	for _, b := range blocks {
		if b.Kind == "sim" {
			have[b.ID] = true
		}
	}
	var missing []string
	known := map[string]bool{}
	for _, s := range r.sections {
		known[s.ID] = true
		if !have[s.ID] {
			missing = append(missing, s.ID)
		}
	}
	for id := range have {
		if !known[id] {
			return "", nil, fmt.Errorf("%w: %s has a block sim:%s that the suite does not know", errSuite, r.docPath, id)
		}
	}
	if len(missing) > 0 {
		return "", nil, fmt.Errorf("%w: %s lacks the blocks %s", errSuite, r.docPath, strings.Join(missing, ", "))
	}
	return doc, blocks, nil
}

// regenerate runs every section and rewrites the document (and the plots
// the sections write).
func (r *suiteRun) regenerate(stdout io.Writer) error {
	doc, _, err := r.load()
	if err != nil {
		return err
	}
	for _, s := range r.sections {
		start := time.Now()
		body, err := s.render(s.Args, r.root, "", r.stderr)
		if err != nil {
			return err
		}
		if doc, err = simulations.ReplaceDocBlock(doc, "sim", s.ID, body); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-24s %6.1f s\n", s.ID, time.Since(start).Seconds())
	}
	return os.WriteFile(r.docPath, []byte(doc), 0o644)
}

// check runs every section (sample: its Sample arguments where it has
// them and is not Small) and compares with the document.
func (r *suiteRun) check(stdout io.Writer) error {
	return r.checkSections(stdout, func(suiteSection) string { return "full" })
}

// checkSections compares each section with the document: "full" runs its
// command and compares the block and its plot files byte for byte,
// "sample" runs its Sample arguments and checks that every line of their
// output is a line of the block, "skip" skips it.
func (r *suiteRun) checkSections(stdout io.Writer, how func(suiteSection) string) error {
	_, blocks, err := r.load()
	if err != nil {
		return err
	}
	body := map[string]string{}
	for _, b := range blocks {
		if b.Kind == "sim" {
			body[b.ID] = b.Body
		}
	}
	tmp, err := os.MkdirTemp("", "stratacache-suite-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var errs []error
	for _, s := range r.sections {
		mode := how(s)
		if s.Volatile || mode == "skip" || (mode == "sample" && s.Sample == nil) {
			fmt.Fprintf(stdout, "%-24s skipped\n", s.ID)
			continue
		}
		start := time.Now()
		if mode == "sample" {
			got, err := s.render(s.Sample, r.root, tmp, r.stderr)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			lines := map[string]bool{}
			for _, l := range strings.Split(body[s.ID], "\n") {
				lines[l] = true
			}
		sample:
			for _, l := range strings.Split(got, "\n")[1:] { // past the command
				for _, p := range s.SampleSkip {
					if strings.HasPrefix(l, p) {
						continue sample
					}
				}
				if l != "" && !strings.HasPrefix(l, "|---") && !lines[l] {
					errs = append(errs, fmt.Errorf("%w: section %s: %q is not in the document", errSuite, s.ID, l))
				}
			}
			fmt.Fprintf(stdout, "%-24s sample matches (%.1f s)\n", s.ID, time.Since(start).Seconds())
			continue
		}
		got, err := s.render(s.Args, r.root, tmp, r.stderr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if got != body[s.ID] {
			errs = append(errs, fmt.Errorf("%w: section %s differs from the document:\n%s", errSuite, s.ID, firstDiff(body[s.ID], got)))
		}
		for _, p := range outputs(s.Args) {
			want, err1 := os.ReadFile(filepath.Join(r.root, p))
			have, err2 := os.ReadFile(filepath.Join(tmp, filepath.Base(p)))
			if err := errors.Join(err1, err2); err != nil {
				errs = append(errs, fmt.Errorf("%w: section %s: %w", errSuite, s.ID, err))
			} else if !bytes.Equal(want, have) {
				errs = append(errs, fmt.Errorf("%w: section %s: %s differs from the regenerated file", errSuite, s.ID, p))
			}
		}
		fmt.Fprintf(stdout, "%-24s matches (%.1f s)\n", s.ID, time.Since(start).Seconds())
	}
	return errors.Join(errs...)
}

// firstDiff shows the first differing line of two texts.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n  document: %q\n  now:      %q", i+1, a, b)
		}
	}
	return "(equal)"
}
