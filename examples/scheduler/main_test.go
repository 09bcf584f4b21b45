package main

import (
	"bytes"
	"os"
	"testing"
)

// The example in CI: the first 1,500 requests of the shared trace. The
// replay is deterministic (seeded), so the ordering asserted is fixed.
func TestReplayShortTrace(t *testing.T) {
	const path = "../../../shared/traces/conversation_trace.jsonl"
	if _, err := os.Stat(path); err != nil {
		t.Skip("shared traces absent")
	}
	var out bytes.Buffer
	res, err := run(&out, path, config{Nodes: 4, Capacity: 2000, BlockSize: 512, Limit: 1500, Seed: 1, PrefillS: 2e-5, DecodeS: 2e-2})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	by := map[string]result{}
	for _, r := range res {
		by[r.Policy] = r
		if r.Requests != 1500 || r.Blocks == 0 {
			t.Fatalf("%s: %+v", r.Policy, r)
		}
	}
	pa := by["prefix-aware"].HitRate()
	for _, p := range []string{"random", "round-robin", "least-loaded"} {
		if pa <= by[p].HitRate() {
			t.Fatalf("prefix-aware %.4f not above %s %.4f", pa, p, by[p].HitRate())
		}
	}
}

// The same slice against real clustered nodes in this process, through
// clientsdk (-live). Timing decides some hits (directory propagation), so
// only what must hold is asserted.
func TestReplayLiveCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 clustered nodes per policy")
	}
	const path = "../../../shared/traces/conversation_trace.jsonl"
	if _, err := os.Stat(path); err != nil {
		t.Skip("shared traces absent")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reqs, err := readTrace(f, 150)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := runLive(&out, reqs, config{Nodes: 3, Capacity: 2000, BlockSize: 512, Seed: 1, PrefillS: 2e-5, DecodeS: 2e-2, Live: true, BlockBytes: 1024})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(policies) {
		t.Fatalf("%d results", len(res))
	}
	for _, r := range res {
		if r.Requests != 150 || r.Blocks == 0 || r.ClusterHits < r.Hits {
			t.Fatalf("%s: %+v", r.Policy, r)
		}
	}
	if res[3].Hits == 0 {
		t.Fatal("prefix-aware routing found no locally cached prefix")
	}
}
