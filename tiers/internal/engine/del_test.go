package engine

import (
	"context"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// del is an unconditional Delete that reports only whether id was removed.
func del(t interface {
	Delete(context.Context, artifact.ID, tiers.DeleteOptions) (bool, error)
}, id artifact.ID) bool {
	ok, err := t.Delete(context.Background(), id, tiers.DeleteOptions{})
	return ok && err == nil
}
