package actors

import (
	"errors"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// The engine's sentinel errors. Tier errors pass through unchanged, so the
// engine's ErrNotFound is tiers.ErrNotFound: errors.Is works with either name.
var (
	ErrNotFound  = tiers.ErrNotFound
	ErrTooLarge  = tiers.ErrTooLarge
	ErrNoSpace   = tiers.ErrNoSpace
	ErrCollision = tiers.ErrCollision
	ErrCorrupt   = tiers.ErrCorrupt
	// ErrShortBuffer: the caller's buffer cannot hold the payload.
	ErrShortBuffer = tiers.ErrShortBuffer
	// ErrClosed: the engine has been closed.
	ErrClosed = errors.New("engine: closed")
	// ErrInvalidKey wraps artifact key errors (empty, too long, bad namespace).
	ErrInvalidKey = errors.New("engine: invalid artifact id")
	// ErrUnknownTier: an exact or prefer access named a tier the engine lacks.
	ErrUnknownTier = errors.New("engine: unknown tier")
	// ErrUnknownMode: an access mode other than chain, exact or prefer.
	ErrUnknownMode = errors.New("engine: unknown access mode")
	// ErrTimeout: an actor did not answer before the deadline.
	ErrTimeout = errors.New("engine: timeout")
)

// Is the id problem one of the artifact package's validation errors?
func isKeyError(err error) bool {
	return errors.Is(err, artifact.ErrEmptyKey) || errors.Is(err, artifact.ErrKeyTooLong) ||
		errors.Is(err, artifact.ErrUnknownNamespace)
}
