package native

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
)

// PUT reads the payload straight into the tier (Engine.StoreFill). A store
// the engine refuses before reading (over the tier's capacity) still
// consumes the payload: the error comes back and the connection serves the
// next request in step.
func TestPutRefusedBeforeFillKeepsStreamInStep(t *testing.T) {
	_, addr := startServer(t, ServerConfig{Engine: newEngine(t, 2<<20)})
	c := dial(t, addr, DialOptions{})
	ctx := context.Background()
	if err := c.Put(ctx, kv("huge"), payload(3<<20, 9), artifact.Meta{}); !errors.Is(err, actors.ErrTooLarge) {
		t.Fatalf("put over capacity: %v", err)
	}
	p := payload(1<<20, 3)
	if err := c.Put(ctx, kv("ok"), p, artifact.Meta{Checksum: artifact.Checksum(p)}); err != nil {
		t.Fatalf("put after a refused one: %v", err)
	}
	got, _, err := c.Get(ctx, nil, kv("ok"))
	if err != nil || !bytes.Equal(got, p) {
		t.Fatalf("get: %v", err)
	}
	if ok, _ := c.Exists(ctx, kv("huge")); ok {
		t.Fatal("refused artifact stored")
	}
}
