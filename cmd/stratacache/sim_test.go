package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The trace of the tests lives beside the repository, never inside it.
func sharedTrace(t *testing.T) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "traces", "conversation_trace.jsonl")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("trace %s not present (%v): skipping", p, err)
	}
	return p
}

func TestSimJSONTableCSVPlot(t *testing.T) {
	p := sharedTrace(t)
	dir := t.TempDir()
	var out, errb bytes.Buffer
	err := runSim([]string{"-trace", p, "-policy", "lru,fifo,min", "-capacity", "1000,5000", "-json",
		"-csv", filepath.Join(dir, "r.csv"), "-plot", filepath.Join(dir, "mrc.svg")}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	want := map[string]float64{"lru/1000": 0.0445, "lru/5000": 0.1118, "fifo/5000": 0.1064, "min/1000": 0.1792, "min/5000": 0.3397}
	sc := bufio.NewScanner(&out)
	n := 0
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		for _, k := range []string{"policy", "capacity", "hit_rate", "requests", "blocks", "seconds"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("object lacks %q: %s", k, sc.Text())
			}
		}
		key := fmt.Sprintf("%v/%v", r["policy"], r["capacity"])
		if w, ok := want[key]; ok {
			if got := r["hit_rate"].(float64); got < w-0.001 || got > w+0.001 {
				t.Errorf("%s: %.4f want %.4f", key, got, w)
			}
		}
		n++
	}
	if n != 6 {
		t.Fatalf("%d JSON objects, want 6", n)
	}
	csv, err := os.ReadFile(filepath.Join(dir, "r.csv"))
	if err != nil || strings.Count(string(csv), "\n") != 7 || !strings.HasPrefix(string(csv), "trace,policy,capacity,hit_rate") {
		t.Fatalf("csv: %v\n%s", err, csv)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "mrc.svg"))
	if err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Fatalf("plot: %v", err)
	}
}

func TestSimTableOnWorkload(t *testing.T) {
	var out, errb bytes.Buffer
	err := runSim([]string{"-workload", "chat", "-requests", "2000", "-policy", "lru,s3fifo,min,infinite", "-capacity", "auto", "-quiet"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	s := out.String()
	for _, w := range []string{"capacity", "lru", "s3fifo", "min", "infinite", "gen-chat"} {
		if !strings.Contains(s, w) {
			t.Fatalf("table lacks %q:\n%s", w, s)
		}
	}
}

func TestSimTiersAndNodes(t *testing.T) {
	var out, errb bytes.Buffer
	if err := runSim([]string{"-workload", "mix", "-requests", "2000", "-tiers", "cpu:500,cxl:2000,disk:8000", "-quiet"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "write-back") || !strings.Contains(out.String(), "disk") {
		t.Fatalf("tiers output:\n%s", out.String())
	}
	out.Reset()
	if err := runSim([]string{"-workload", "mix", "-requests", "2000", "-nodes", "4", "-node-capacity", "1000", "-json", "-quiet"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if got := strings.Count(out.String(), "\"router\""); got != 5 {
		t.Fatalf("%d router results, want 5:\n%s", got, out.String())
	}
}

func TestSimBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{
		{"-workload", "chat", "-requests", "100", "-policy", "nope"},
		{"-workload", "chat", "-requests", "100", "-capacity", "-5"},
		{"-workload", "nope"},
		{"-trace", "/nonexistent.jsonl"},
		{"-workload", "chat", "-requests", "100", "-tiers", "cpu"},
		{"-workload", "chat", "-requests", "100", "-nodes", "2", "-route", "nope"},
		{"-workload", "chat", "-requests", "100", "-plot", "x.pdf"},
	} {
		if err := runSim(args, &out, &errb); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestSimFlagsEveryMode: -json and -csv work in every mode, policy lists
// in the multi-tier and multi-node modes run one configuration per policy,
// and what a mode cannot do is refused with an error naming it.
func TestSimFlagsEveryMode(t *testing.T) {
	dir := t.TempDir()
	gen := []string{"-workload", "mix", "-requests", "1500", "-quiet"}
	run := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := runSim(append(append([]string{}, gen...), args...), &out, &errb)
		return out.String(), err
	}
	out, err := run("-tiers", "cpu:300,cxl:1000", "-policy", "lru,s3fifo", "-csv", filepath.Join(dir, "t.csv"))
	if err != nil || !strings.Contains(out, "s3fifo") || !strings.Contains(out, " lru ") {
		t.Fatalf("tiers with two policies: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "t.csv")); err != nil || strings.Count(string(b), "\n") != 5 {
		t.Fatalf("tiers csv: %v\n%s", err, b)
	}
	out, err = run("-nodes", "2", "-node-capacity", "500", "-policy", "lru,sieve", "-route", "prefix-load,random",
		"-lag", "0,1", "-drop", "0,10%", "-json")
	if err != nil || strings.Count(out, "\"router\"") != 2*(4+1) {
		t.Fatalf("nodes: %v: %d results\n%s", err, strings.Count(out, "\"router\""), out)
	}
	if !strings.Contains(out, "\"lag_seconds\":1") || !strings.Contains(out, "\"drop\":0.1") || !strings.Contains(out, "\"policy\":\"sieve\"") {
		t.Fatalf("nodes JSON lacks the knowledge or the policy:\n%s", out)
	}
	out, err = run("-nodes", "2", "-node-capacity", "500", "-route", "prefix-load", "-fpr", "1%", "-per-node", "-markdown")
	if err != nil || !strings.Contains(out, "| node |") && !strings.Contains(out, "false positives |") {
		t.Fatalf("per-node table: %v\n%s", err, out)
	}
	if _, err := run("-bench", "-bench-time", "1ms", "-policy", "lru", "-capacity", "100", "-csv", filepath.Join(dir, "b.csv")); err != nil {
		t.Fatalf("bench csv: %v", err)
	}
	var b, e bytes.Buffer
	err = runSim([]string{"-workload", "chat,agent", "-seed", "5,6", "-requests", "800", "-policy", "lru,duel,min", "-capacity", "2%,5%", "-gap", "-markdown", "-quiet"}, &b, &e)
	if err != nil || !strings.Contains(b.String(), "| gen-agent-s6 |") || !strings.Contains(b.String(), "| all traces |") {
		t.Fatalf("gap table over four traces: %v\n%s", err, b.String())
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-tiers", "cpu:300", "-plot", filepath.Join(dir, "x.svg")}, "-plot"},
		{[]string{"-nodes", "2", "-plot", filepath.Join(dir, "x.svg")}, "-plot"},
		{[]string{"-bench", "-plot", filepath.Join(dir, "x.svg")}, "-plot"},
		{[]string{"-nodes", "2", "-policy", "all"}, "min"},
		{[]string{"-tiers", "cpu:300", "-policy", "lru,infinite"}, "infinite"},
		{[]string{"-tiers", "cpu:300:lru,cxl:900:fifo", "-policy", "lru,sieve"}, "names its own"},
		{[]string{"-lag", "1"}, "-nodes"},
		{[]string{"-tiers", "cpu:300", "-route", "prefix"}, "-nodes"},
		{[]string{"-link", "write-through"}, "-tiers"},
		{[]string{"-nodes", "2", "-drop", "150%"}, "drop"},
		{[]string{"-nodes", "2", "-lag", "-1"}, "lag"},
		{[]string{"-nodes", "2", "-tiers", "cpu:300"}, "at most one"},
		{[]string{"-json", "-markdown"}, "not both"},
		{[]string{"-policy", "lru,fifo", "-gap"}, "lru and min"},
	} {
		if _, err := run(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want one naming %q", c.args, err, c.want)
		}
	}
	var o2, e2 bytes.Buffer
	for _, args := range [][]string{{"-turns", "3"}, {"-arrival-rate", "1"}, {"-system-prompt-share", "0.5"}} {
		if err := runSim(append([]string{"-trace", "x.jsonl"}, args...), &o2, &e2); err == nil || !strings.Contains(err.Error(), "-workload") {
			t.Errorf("%v without -workload: %v", args, err)
		}
	}
}

// TestSimGeneratorFlags: the generator's parameters reach it.
func TestSimGeneratorFlags(t *testing.T) {
	line := func(args ...string) string {
		var out, errb bytes.Buffer
		if err := runSim(append([]string{"-workload", "chat", "-requests", "1000", "-policy", "lru,infinite", "-capacity", "300", "-quiet"}, args...), &out, &errb); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	base := line()
	for _, args := range [][]string{{"-turns", "8"}, {"-system-prompt-share", "0.2"}, {"-prompt-zipf", "2"},
		{"-arrival-rate", "0.5"}, {"-think-seconds", "5"}, {"-system-prompts", "3"}, {"-seed", "9"}} {
		if got := line(args...); got == base {
			t.Errorf("%v changed nothing:\n%s", args, got)
		}
	}
	var out, errb bytes.Buffer
	if err := runSim([]string{"-workload", "agent", "-requests", "500", "-agent-steps", "0.5"}, &out, &errb); err == nil {
		t.Errorf("agent steps below 1 accepted")
	}
}

func TestSimLenient(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t.jsonl")
	data := "{\"hash_ids\": [1, 2]}\nnot json\n{\"hash_ids\": [1, 2, 3]}\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err := runSim([]string{"-trace", p, "-policy", "lru", "-capacity", "10"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "t.jsonl:2:") {
		t.Fatalf("strict: err %v, want one naming line 2", err)
	}
	out.Reset()
	if err := runSim([]string{"-trace", p, "-lenient", "-policy", "lru", "-capacity", "10"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1 bad lines skipped") || !strings.Contains(out.String(), "0.4000") {
		t.Fatalf("lenient output:\n%s", out.String())
	}
}
