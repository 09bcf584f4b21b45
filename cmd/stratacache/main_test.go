package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run([]string{"version"}, &out, &errb); err != nil || !strings.HasPrefix(out.String(), "stratacache ") {
		t.Fatalf("version: %q %v", out.String(), err)
	}
	if err := run([]string{"nope"}, &out, &errb); err == nil || !strings.Contains(err.Error(), `unknown command "nope"`) {
		t.Fatalf("unknown: %v", err)
	}
	if err := run(nil, &out, &errb); err == nil {
		t.Fatal("no command accepted")
	}
	if err := run([]string{"bench", "-h"}, &out, &errb); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("help: %v", err)
	}
}

// A short bench engine run prints one JSON object per line with the
// fields the issue names.
func TestBenchEngineJSON(t *testing.T) {
	var out, errb bytes.Buffer
	err := runBenchEngine([]string{"-json", "-duration", "40ms", "-rounds", "2", "-cases", "load,contains,load_small,memory", "-memory-gib", "0.0625"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		name, _ := r["name"].(string)
		seen[name] = true
		switch name {
		case "load":
			for _, f := range []string{"size", "gbps", "memcpy_gbps", "ratio"} {
				if _, ok := r[f]; !ok {
					t.Errorf("load line lacks %s: %s", f, line)
				}
			}
		case "contains", "load_small":
			if r["ops_per_s"].(float64) <= 0 {
				t.Errorf("no ops_per_s: %s", line)
			}
		case "memory":
			if r["rss_bytes"].(float64) <= 0 || r["heap_inuse_bytes"].(float64) <= 0 {
				t.Errorf("memory line: %s", line)
			}
		}
	}
	for _, n := range []string{"load", "contains", "load_small", "memory"} {
		if !seen[n] {
			t.Errorf("no %s line in %q", n, out.String())
		}
	}
	if err := runBenchEngine([]string{"-rounds", "0"}, &out, &errb); err == nil {
		t.Fatal("bad flag value accepted")
	}
}

func TestClusterBenchJSONLines(t *testing.T) {
	report := []byte(`{"propagation":{"p50_s":0.1,"p99_s":0.3},"failure_detection":{"seconds":4.7},
"remote_fetch":[{"size_mib":4,"gbps":2,"ratio":0.8},{"size_mib":16,"gbps":3,"ratio":1.0}],
"directory":{"bytes_per_entry":55.8}}`)
	var out bytes.Buffer
	if err := jsonLines(&out, report); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	var fetch map[string]any
	if err := json.Unmarshal([]byte(lines[2]), &fetch); err != nil || fetch["name"] != "remote_fetch" ||
		fetch["size"].(float64) != 4<<20 || fetch["ratio"].(float64) != 0.8 {
		t.Fatalf("remote_fetch line: %s %v", lines[2], err)
	}
}
