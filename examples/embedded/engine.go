package embedded

import (
	"context"
	"errors"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/clientsdk"
)

// Engine serves clientsdk in the same process from an actors.Engine.
type Engine struct {
	E *actors.Engine
}

var _ clientsdk.Embedded = Engine{}

// Store implements clientsdk.Embedded.
func (e Engine) Store(ctx context.Context, id artifact.ID, payload []byte, meta artifact.Meta) error {
	return e.E.Store(ctx, id, payload, actors.StoreOptions{Access: actors.Chain(), Meta: meta})
}

// Load implements clientsdk.Embedded: a chain read (a lower-tier hit is
// promoted), appended to dst.
func (e Engine) Load(ctx context.Context, dst []byte, id artifact.ID) ([]byte, artifact.Meta, error) {
	v, _, err := e.E.View(ctx, id, actors.Chain())
	if err != nil {
		return dst, artifact.Meta{}, err
	}
	defer v.Release()
	return append(dst, v.Bytes()...), v.Meta(), nil
}

// Contains implements clientsdk.Embedded.
func (e Engine) Contains(ctx context.Context, id artifact.ID) (bool, error) {
	return e.E.Contains(ctx, id, actors.Chain())
}

// Delete implements clientsdk.Embedded.
func (e Engine) Delete(ctx context.Context, id artifact.ID) (bool, error) {
	return e.E.Delete(ctx, id)
}

// Prefetch implements clientsdk.Embedded: the engine has no warm-up call,
// so each id is viewed through the chain, which promotes a lower-tier hit
// into the top tier (PromoteOnHit), and released without a copy.
func (e Engine) Prefetch(ctx context.Context, ids []artifact.ID) (int, error) {
	n := 0
	for _, id := range ids {
		v, _, err := e.E.View(ctx, id, actors.Chain())
		if errors.Is(err, actors.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		v.Release()
		n++
	}
	return n, nil
}

// ErrorCode implements clientsdk.Embedded with the native protocol's codes.
func (Engine) ErrorCode(err error) string {
	switch {
	case errors.Is(err, actors.ErrNotFound):
		return "not_found"
	case errors.Is(err, actors.ErrTooLarge):
		return "too_large"
	case errors.Is(err, actors.ErrNoSpace):
		return "no_space"
	case errors.Is(err, actors.ErrCollision):
		return "collision"
	case errors.Is(err, actors.ErrCorrupt):
		return "corrupt"
	case errors.Is(err, actors.ErrInvalidKey), errors.Is(err, artifact.ErrEmptyKey),
		errors.Is(err, artifact.ErrKeyTooLong), errors.Is(err, artifact.ErrUnknownNamespace):
		return "invalid_argument"
	case errors.Is(err, actors.ErrClosed):
		return "closed"
	}
	return "internal"
}
