package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchAttachRuns(t *testing.T) {
	var out, errOut bytes.Buffer
	err := runBenchAttach([]string{"-sizes", "64KiB", "-c", "2", "-duration", "50ms", "-rounds", "1", "-no-memcached", "-pool-dir", t.TempDir()}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r attachResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if r.GBps <= 0 || len(r.RoundsGBps) != 1 || r.Size != 64<<10 {
			t.Fatalf("implausible result %+v", r)
		}
		seen[r.Target] = true
	}
	for _, target := range []string{"attach-get", "attach-view", "native-get"} {
		if !seen[target] {
			t.Fatalf("no %s result in %s", target, out.String())
		}
	}
}
