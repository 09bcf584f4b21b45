package main

import (
	"bytes"
	"strings"
	"testing"
)

// A short local cluster: three nodes meet, the demo artifacts stored on
// node-0 are read by the others, and the table shows three members each.
func TestLocalCluster(t *testing.T) {
	var out, errb bytes.Buffer
	err := localCluster([]string{"-nodes", "3", "-duration", "300ms", "-interval", "100ms", "-demo", "3", "-cpu-capacity-mb", "8"},
		&out, &errb, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	s := out.String()
	for _, n := range []string{"node-0 resp=127.0.0.1:", "node-1 resp=", "node-2 resp=", "web view: http://127.0.0.1:"} {
		if !strings.Contains(s, n) {
			t.Fatalf("no %q in output:\n%s", n, s)
		}
	}
	// The last table: every node sees 3 members; node-1 and node-2 have
	// remote hits (demo reads).
	tables := strings.Split(s, "members")
	last := tables[len(tables)-1]
	for _, line := range strings.Split(last, "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || !strings.HasPrefix(f[0], "node-") {
			continue
		}
		if f[1] != "3" {
			t.Errorf("%s sees %s members", f[0], f[1])
		}
		if f[0] != "node-0" && f[7] == "0" {
			t.Errorf("%s has no remote hits: %q", f[0], line)
		}
	}
	// The holder sets of the demo artifacts: node-0 stored them.
	if !strings.Contains(last, "artifact") || !strings.Contains(last, "demo/0") || !strings.Contains(last, "node-0:") {
		t.Errorf("no holders table with node-0 holding demo/0:\n%s", last)
	}
	if err := localCluster([]string{"-nodes", "0"}, &out, &errb, nil); err == nil {
		t.Fatal("-nodes 0 accepted")
	}
}
