package clientsdk

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// heavyDeps are what a scheduler embedding the SDK must not link
// (DESIGN.md, "Client SDK"): gossip, actors, metrics exporters and the
// node's own layers.
var heavyDeps = []string{
	"github.com/hashicorp/memberlist",
	"github.com/asynkron/protoactor-go",
	"github.com/prometheus/client_golang",
	"go.opentelemetry.io/otel",
	"github.com/go-zeromq/zmq4",
	"github.com/vmihailenco/msgpack",
	"github.com/stratacache/stratacache/kvevents",
	"github.com/stratacache/stratacache/cluster",
	"github.com/stratacache/stratacache/actors",
	"github.com/stratacache/stratacache/node",
	"github.com/stratacache/stratacache/tiers",
}

// TestSDKStaysLight runs `go list -deps` on the SDK (its non-test code,
// what a program that imports it links) and fails on any heavy package.
func TestSDKStaysLight(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/stratacache/stratacache/clientsdk").CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.Error); ok {
			t.Skipf("no go command to list dependencies with: %v", err)
		}
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	var bad []string
	for _, pkg := range strings.Fields(string(out)) {
		for _, h := range heavyDeps {
			if pkg == h || strings.HasPrefix(pkg, h+"/") {
				bad = append(bad, pkg)
			}
		}
	}
	if len(bad) > 0 {
		t.Fatalf("clientsdk links %d heavy packages (DESIGN.md: the SDK stays light): %s", len(bad), strings.Join(bad, ", "))
	}
}
