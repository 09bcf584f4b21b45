package artifact

import (
	"strconv"
	"testing"

	"github.com/stratacache/stratacache/internal/docvectors"
)

// TestIDVectors checks artifact ids against the vectors docs/hashing.md
// publishes, read from the document.
func TestIDVectors(t *testing.T) {
	rows, err := docvectors.Table(docvectors.Doc("hashing.md"), "artifact-id")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		ns, err := ParseNamespace(r["namespace"])
		if err != nil {
			t.Fatal(err)
		}
		want, err := strconv.ParseUint(r["id"], 0, 64)
		if err != nil {
			t.Fatal(err)
		}
		id, err := NewID(ns, []byte(r["key"]))
		if err != nil {
			t.Fatal(err)
		}
		if id.Hash != want {
			t.Errorf("%s %q: %#016x, want %#016x", ns, r["key"], id.Hash, want)
		}
	}
}
