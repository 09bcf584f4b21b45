package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stratacache/stratacache/node/netbench"
)

func TestBenchNetSelfAndRaw(t *testing.T) {
	var out, errOut bytes.Buffer
	err := runBenchNet([]string{"-self", "-raw-tcp", "-sizes", "4KiB,64KiB", "-c", "2", "-duration", "50ms", "-cpu-capacity-mb", "64"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r netbench.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if r.Ops == 0 || r.Errors != 0 || r.GBps <= 0 || r.P50us <= 0 || r.P99us < r.P50us {
			t.Fatalf("implausible result %+v", r)
		}
		seen[r.Target]++
	}
	for _, target := range []string{"raw-tcp", "self-native", "self-resp"} {
		if seen[target] != 4 {
			t.Fatalf("target %s: %d results, want 4 (2 sizes x set,get)", target, seen[target])
		}
	}
}

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("4KiB, 1MiB,16MiB,100")
	if err != nil || len(got) != 4 || got[0] != 4096 || got[1] != 1<<20 || got[2] != 16<<20 || got[3] != 100 {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := parseSizes("lots"); err == nil {
		t.Fatal("bad size accepted")
	}
}

// -P: pipelined batches against both ports of an in-process node, small
// values (served on the event loops) and large ones (on goroutines).
func TestBenchNetPipelined(t *testing.T) {
	var out, errOut bytes.Buffer
	err := runBenchNet([]string{"-self", "-P", "8", "-sizes", "4KiB,64KiB", "-c", "2", "-duration", "50ms", "-cpu-capacity-mb", "64"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r netbench.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if r.Pipeline != 8 || r.Ops == 0 || r.Ops%8 != 0 || r.Errors != 0 || r.GBps <= 0 {
			t.Fatalf("implausible result %+v", r)
		}
		seen[r.Target]++
	}
	for _, target := range []string{"self-native", "self-resp"} {
		if seen[target] != 4 {
			t.Fatalf("target %s: %d results, want 4 (2 sizes x set,get)", target, seen[target])
		}
	}
}

// -native-client sdk: native.Client drives the native target.
func TestBenchNetSDKClient(t *testing.T) {
	var out, errOut bytes.Buffer
	err := runBenchNet([]string{"-self", "-native-client", "sdk", "-sizes", "4KiB", "-c", "1", "-duration", "20ms", "-cpu-capacity-mb", "64"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), `"target":"self-native"`) {
		t.Fatalf("no native result: %s", out.String())
	}
	if err := runBenchNet([]string{"-self", "-native-client", "fancy", "-sizes", "4KiB", "-duration", "20ms"}, &out, &errOut); err == nil {
		t.Fatal("unknown native client accepted")
	}
}
