package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/stratacache/stratacache/node"
)

// The Dockerfile cannot be built here (no Docker engine), so it is parsed by
// BuildKit's own parser, instruction parser and linter (what `docker build
// --check` runs), and the parts that matter are checked.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("parser warning: %s", w.Short)
	}
	var lints []string
	lint := linter.New(&linter.Config{Warn: func(rule, desc, url, msg string, loc []parser.Range) {
		lints = append(lints, fmt.Sprintf("%s: %s (%v)", rule, msg, loc))
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("instructions: %v", err)
	}
	for _, l := range lints {
		t.Errorf("lint: %s", l)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages: want a multi-stage build", len(stages))
	}

	// The Go version the image builds with is go.mod's.
	goVersion := ""
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Key == "GO_VERSION" && kv.Value != nil {
				goVersion = *kv.Value
			}
		}
	}
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil || goVersion != string(m[1]) {
		t.Errorf("ARG GO_VERSION=%q, go.mod says go %s", goVersion, m[1])
	}

	build, final := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(build.BaseName, "golang:") {
		t.Errorf("build stage FROM %s: want the golang image", build.BaseName)
	}
	// The binary: static (CGO off), from ./cmd/stratacache, to /out/stratacache.
	var built bool
	for _, c := range build.Commands {
		if r, ok := c.(*instructions.RunCommand); ok {
			line := strings.Join(r.CmdLine, " ")
			if strings.Contains(line, "go build") {
				built = strings.Contains(line, "CGO_ENABLED=0") && strings.Contains(line, "./cmd/stratacache") &&
					strings.Contains(line, "-o /out/stratacache")
			}
		}
	}
	if !built {
		t.Error("no static `CGO_ENABLED=0 go build ... -o /out/stratacache ./cmd/stratacache` in the build stage")
	}

	// The final stage: distroless static or scratch, non-root, the binary
	// as the entrypoint, the config the image ships, the node's ports.
	if !strings.HasPrefix(final.BaseName, "gcr.io/distroless/static") && final.BaseName != "scratch" {
		t.Errorf("final stage FROM %s: want distroless/static or scratch", final.BaseName)
	}
	var user, entry string
	var cmd []string
	var copiedBinary, copiedConfig bool
	var exposed []string
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				t.Error("ENTRYPOINT in shell form: the image has no shell")
			}
			entry = strings.Join(c.CmdLine, " ")
		case *instructions.CmdCommand:
			if c.PrependShell {
				t.Error("CMD in shell form: the image has no shell")
			}
			cmd = c.CmdLine
		case *instructions.CopyCommand:
			if c.From == build.Name && slices.Contains(c.SourcePaths, "/out/stratacache") && c.DestPath == "/stratacache" {
				copiedBinary = true
			}
			if c.From == "" && c.DestPath == "/etc/stratacache/stratacache.yaml" {
				copiedConfig = true
				for _, src := range c.SourcePaths {
					checkImageConfig(t, filepath.Join("..", src))
				}
			}
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		case *instructions.RunCommand:
			t.Errorf("RUN in the final stage (%v): the image has no shell", c.CmdLine)
		}
	}
	if user == "" || user == "root" || user == "0" || strings.HasPrefix(user, "0:") {
		t.Errorf("final stage USER %q: want a non-root user", user)
	}
	if entry != "/stratacache" || !copiedBinary {
		t.Errorf("entrypoint %q, binary copied from the build stage: %v", entry, copiedBinary)
	}
	if !copiedConfig || strings.Join(cmd, " ") != "serve -config /etc/stratacache/stratacache.yaml" {
		t.Errorf("CMD %q, config copied: %v", cmd, copiedConfig)
	}
	for _, p := range []string{port(node.DefaultRESPAddr) + "/tcp", port(node.DefaultNativeAddr) + "/tcp", port(node.DefaultAdminAddr) + "/tcp",
		port(node.DefaultGossipAddr) + "/tcp", port(node.DefaultGossipAddr) + "/udp", port(node.DefaultPeerAddr) + "/tcp"} {
		if !slices.Contains(exposed, p) {
			t.Errorf("EXPOSE lacks %s (have %v)", p, exposed)
		}
	}
	if _, err := os.Stat("../.dockerignore"); err != nil {
		t.Errorf(".dockerignore: %v", err)
	}
}

// checkImageConfig loads the image's default config with the node's strict
// loader: it binds every port beyond loopback, so it must be refused without
// an auth token and accepted with one.
func checkImageConfig(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := node.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if cfg.Listen.Admin != "0.0.0.0:"+port(node.DefaultAdminAddr) || cfg.Disk.Path != "/data" {
		t.Errorf("%s: admin %s, disk %s", path, cfg.Listen.Admin, cfg.Disk.Path)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "auth.token") {
		t.Errorf("%s without a token: %v, want protected mode's refusal", path, err)
	}
	cfg.Auth.Token = "t"
	if err := cfg.Validate(); err != nil {
		t.Errorf("%s with a token: %v", path, err)
	}
}

func port(addr string) string {
	_, p, _ := strings.Cut(addr, ":")
	return p
}
