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
