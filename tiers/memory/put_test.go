package memory

import (
	"bytes"
	"context"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

func TestCopyAndSum(t *testing.T) {
	for _, n := range []int{0, 1, sumChunk - 1, sumChunk, sumChunk + 1, 5*sumChunk + 77} {
		src := fill(uint64(n), n)
		dst := make([]byte, n)
		if got := copyAndSum(dst, src); got != artifact.Checksum(src) || !bytes.Equal(dst, src) {
			t.Fatalf("n=%d: sum or copy differs", n)
		}
	}
}

// Both checksum modes report the payload's xxhash64: fused into Put, or
// computed on the first Meta and cached.
func TestChecksumModes(t *testing.T) {
	for _, onPut := range []bool{false, true} {
		cfg := DefaultConfig(1 << 20)
		cfg.ChecksumOnPut = onPut
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		id := artifact.MustID(artifact.NamespaceKV, "sum")
		p := bytes.Repeat([]byte("checksum"), 10000)
		if err := tr.Put(context.Background(), id, p, tiers.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		m, err := tr.Stat(id)
		if err != nil || m.Checksum != artifact.Checksum(p) {
			t.Fatalf("onPut=%v: %x, want %x (%v)", onPut, m.Checksum, artifact.Checksum(p), err)
		}
		v, err := tr.View(id)
		if err != nil || v.Meta().Checksum != artifact.Checksum(p) {
			t.Fatalf("onPut=%v: view meta", onPut)
		}
		v.Release()
		_ = tr.Close()
	}
}
