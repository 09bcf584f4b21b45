package memory

import (
	"bytes"
	"testing"

	"github.com/stratacache/stratacache/artifact"
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
