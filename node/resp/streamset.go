package resp

import (
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
)

// streamSet is the connection's Reader.StreamSet: a plain `SET key value`
// with a large value is stored by reading the value from the socket straight
// into the tier memory reserved for it (Engine.StoreFill), instead of into a
// pooled argument buffer that Store then copies. It declines (the Reader
// reads the value as usual and dispatch answers) when the connection is not
// authenticated, inside MULTI, or the key is invalid, so that those replies
// stay exactly what dispatch gives.
func (c *conn) streamSet(key []byte, n int64, fill func(dst []byte) error) (bool, error) {
	if !c.authed || c.tx != nil {
		return false, nil
	}
	id, err := artifact.NewID(artifact.NamespaceBlob, key)
	if err != nil {
		return false, nil
	}
	c.streamStart = time.Now()
	// The reserved tier bytes are in flight until the value has arrived.
	if err := c.s.cfg.Budget.Acquire(c.s.ctx, n); err != nil {
		return true, err // fill is not called: the Reader skips the value
	}
	defer c.s.cfg.Budget.Release(n)
	// The key's lock covers the whole store: the engine orders stores by
	// versions it takes when a store starts, so a store must not start
	// before an earlier writer of the key has finished. Only writers of
	// this key wait for a slow upload (keylock has no shared stripes).
	k := c.s.locks.Key(id.Hash)
	k.Lock()
	defer k.Unlock()
	return true, c.s.cfg.Engine.StoreFill(c.s.ctx, id, n, actors.StoreOptions{}, fill)
}

// streamedSet answers a SET whose value went through streamSet; err is the
// store's outcome.
func (c *conn) streamedSet(key []byte, err error) string {
	if err != nil {
		c.engineError(err)
		return "SET"
	}
	c.s.keys.add(key)
	c.w.OK()
	return "SET"
}
