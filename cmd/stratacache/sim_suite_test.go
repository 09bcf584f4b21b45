package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratacache/stratacache/simulations"
)

// TestSuiteReproducesDocs is the small version of `stratacache sim -suite
// docs`: the cheap sections run in full and must reproduce their blocks of
// docs/SIMULATIONS.md byte for byte; the others run a sample of their rows
// (one capacity, one knowledge setting, ...), each of which must be a line
// of the block. Sections on the shared traces are skipped where the
// traces are absent; under the race detector only the cheapest sections
// run.
func TestSuiteReproducesDocs(t *testing.T) {
	root := filepath.Join("..", "..")
	_, err := os.Stat(filepath.Join(root, convTrace))
	haveTraces := err == nil
	r := suiteRun{root: root, docPath: filepath.Join(root, "docs", "SIMULATIONS.md"), sections: docsSuite, stderr: os.Stderr}
	var log bytes.Buffer
	err = r.checkSections(&log, func(s suiteSection) string {
		usesTraces := strings.Contains(strings.Join(s.Args, " "), "../shared/traces")
		switch {
		case usesTraces && !haveTraces:
			return "skip"
		case simRace && !s.Race:
			return "skip"
		case s.Small:
			return "full"
		}
		return "sample"
	})
	t.Log("\n" + log.String())
	if err != nil {
		t.Fatal(err)
	}
	if !haveTraces {
		t.Log("shared traces absent: their sections were skipped")
	}
}

func TestSuiteBlocks(t *testing.T) {
	doc := "intro\n<!-- sim:a -->\nold a\n<!-- /sim:a -->\nmiddle\n<!-- test:b -->\nold b\n<!-- /test:b -->\nend\n"
	got, err := simulations.ReplaceDocBlock(doc, "sim", "a", "new a\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "intro\n<!-- sim:a -->\nnew a\n<!-- /sim:a -->\nmiddle\n<!-- test:b -->\nold b\n<!-- /test:b -->\nend\n"; got != want {
		t.Fatalf("replace:\n%s", got)
	}
	if _, err := simulations.ReplaceDocBlock(doc, "sim", "c", "x"); !errors.Is(err, errSuite) {
		t.Fatalf("missing block: %v", err)
	}
	if _, err := simulations.DocBlocks("<!-- sim:a -->\nx\n<!-- /sim:b -->\n"); !errors.Is(err, errSuite) {
		t.Fatalf("mismatched block: %v", err)
	}
	// A document without a section's block, or with a block the suite does
	// not know, is refused before anything runs.
	dir := t.TempDir()
	p := filepath.Join(dir, "d.md")
	if err := os.WriteFile(p, []byte("<!-- sim:exact -->\nx\n<!-- /sim:exact -->\n<!-- sim:zzz -->\n<!-- /sim:zzz -->\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := runSim([]string{"-suite", "docs", "-doc", p, "-check"}, &out, &errb); !errors.Is(err, errSuite) || !strings.Contains(err.Error(), "zzz") {
		t.Fatalf("unknown block: %v", err)
	}
	if err := os.WriteFile(p, []byte("<!-- sim:exact -->\nx\n<!-- /sim:exact -->\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runSim([]string{"-suite", "docs", "-doc", p}, &out, &errb); !errors.Is(err, errSuite) || !strings.Contains(err.Error(), "lacks") {
		t.Fatalf("missing blocks: %v", err)
	}
	if err := runSim([]string{"-suite", "nope"}, &out, &errb); !errors.Is(err, errSuite) {
		t.Fatalf("unknown suite: %v", err)
	}
	if err := runSim([]string{"-suite", "docs", "-policy", "lru"}, &out, &errb); err == nil {
		t.Fatal("-suite with a run flag accepted")
	}
}
