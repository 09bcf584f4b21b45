package memory

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

func TestPutFillStoresWhatFillWrites(t *testing.T) {
	for _, onPut := range []bool{false, true} {
		tr := newTestTier(t, 1<<20, func(c *Config) { c.ChecksumOnPut = onPut })
		id := artifact.MustID(artifact.NamespaceBlob, "fill")
		p := fill(7, 100_000)
		err := tr.PutFill(context.Background(), id, int64(len(p)), tiers.PutOptions{Meta: artifact.Meta{DType: artifact.DTypeF32}}, func(dst []byte) error {
			if len(dst) != len(p) {
				t.Fatalf("dst is %d bytes, want %d", len(dst), len(p))
			}
			copy(dst, p)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(p))
		got, err = tr.Get(got, id)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("onPut=%v: get after PutFill: %v", onPut, err)
		}
		m, err := tr.Stat(id)
		if err != nil || m.Checksum != artifact.Checksum(p) || m.Length != int64(len(p)) || m.DType != artifact.DTypeF32 {
			t.Fatalf("onPut=%v: meta %+v (%v)", onPut, m, err)
		}
	}
}

// A failing fill leaves neither the new artifact nor its bytes behind, and
// an older artifact of the same key stays as it was.
func TestPutFillErrorLeavesNothing(t *testing.T) {
	tr := newTestTier(t, 1<<20)
	id := artifact.MustID(artifact.NamespaceBlob, "half")
	old := fill(1, 4096)
	if err := tr.Put(context.Background(), id, old, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var before tiers.Stats
	tr.Stats(&before)
	boom := errors.New("socket closed")
	err := tr.PutFill(context.Background(), id, 200_000, tiers.PutOptions{}, func(dst []byte) error {
		copy(dst, fill(2, 1000)) // half-written
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the fill's error", err)
	}
	var after tiers.Stats
	tr.Stats(&after)
	if after.UsedBytes != before.UsedBytes || after.Artifacts != before.Artifacts || after.Puts != before.Puts {
		t.Fatalf("stats moved: before %+v after %+v", before, after)
	}
	got, err := tr.Get(make([]byte, len(old)), id)
	if err != nil || !bytes.Equal(got, old) {
		t.Fatalf("old artifact changed: %v", err)
	}
	if err := tr.PutFill(context.Background(), artifact.MustID(artifact.NamespaceBlob, "new"), 10, tiers.PutOptions{}, func([]byte) error { return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if tr.Contains(artifact.MustID(artifact.NamespaceBlob, "new")) {
		t.Fatal("failed fill published an artifact")
	}
}

func TestPutFillTooLargeSkipsFill(t *testing.T) {
	tr := newTestTier(t, 1<<20)
	called := false
	err := tr.PutFill(context.Background(), artifact.MustID(artifact.NamespaceBlob, "big"), 2<<20, tiers.PutOptions{}, func([]byte) error {
		called = true
		return nil
	})
	if !errors.Is(err, tiers.ErrTooLarge) || called {
		t.Fatalf("err = %v, fill called = %v", err, called)
	}
}
