package resp

import (
	"math"
	"strconv"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// The read-modify-write string commands. Each holds its key's stripe lock
// (like SET NX/XX) so that RESP writers of one key do not interleave.

// locked runs f with key's stripe lock and its current value (nil view
// when absent). f answers small replies itself; a large one (the old value
// of GETDEL, GETSET) it returns as reply, which locked writes once the
// lock is released, so that a slow reader holds no stripe. It writes the
// error reply and skips f on a bad key or an engine failure.
func (c *conn) locked(key []byte, f func(id artifact.ID, old tiers.View) (reply tiers.View)) {
	id, ok := c.id(key)
	if !ok {
		return
	}
	mu := c.s.locks.Key(id.Hash)
	mu.Lock()
	old, _, err := c.s.cfg.Engine.View(c.s.ctx, id, actors.Chain())
	if err != nil && !isMiss(err) {
		mu.Unlock()
		c.engineError(err)
		return
	}
	if err != nil {
		old = nil
	}
	reply := f(id, old)
	mu.Unlock()
	if old != nil && old != reply {
		old.Release()
	}
	if reply != nil {
		c.writeView(reply)
	}
}

// store writes value under id keeping ttl, recording the key for SCAN.
func (c *conn) store(key []byte, id artifact.ID, value []byte, ttl time.Duration) bool {
	if err := c.s.cfg.Engine.Store(c.s.ctx, id, value, actors.StoreOptions{Meta: artifact.Meta{TTL: ttl}}); err != nil {
		c.engineError(err)
		return false
	}
	c.s.keys.add(key)
	return true
}

// setex answers SETEX key seconds value and PSETEX key millis value.
func (c *conn) setex(args [][]byte, millis bool) {
	n, ok := parseInt(args[2])
	if !ok {
		c.w.Error("ERR value is not an integer or out of range")
		return
	}
	if n <= 0 {
		c.w.Error("ERR invalid expire time in '" + string(lowerASCII(args[0])) + "' command")
		return
	}
	ttl := secondsToDuration(n)
	if millis {
		ttl = millisToDuration(n)
	}
	id, ok := c.id(args[1])
	if !ok {
		return
	}
	mu := c.s.locks.Key(id.Hash)
	mu.Lock()
	defer mu.Unlock()
	if c.store(args[1], id, args[3], ttl) {
		c.w.OK()
	}
}

// setnx answers SETNX key value: 1 when stored, 0 when the key existed.
func (c *conn) setnx(key, value []byte) {
	c.locked(key, func(id artifact.ID, old tiers.View) tiers.View {
		if old != nil {
			c.w.Int(0)
			return nil
		}
		if c.store(key, id, value, 0) {
			c.w.Int(1)
		}
		return nil
	})
}

// getdel answers GETDEL key.
func (c *conn) getdel(key []byte) {
	c.locked(key, func(id artifact.ID, old tiers.View) tiers.View {
		if old == nil {
			c.w.Null()
			return nil
		}
		if _, err := c.s.cfg.Engine.Delete(c.s.ctx, id); err != nil {
			c.engineError(err)
			return nil
		}
		c.s.keys.remove(key)
		return old
	})
}

// getset answers GETSET key value: the old value (or nil), the new one
// stored without a TTL (as Redis's GETSET and SET ... GET do).
func (c *conn) getset(key, value []byte) {
	c.locked(key, func(id artifact.ID, old tiers.View) tiers.View {
		if !c.store(key, id, value, 0) {
			return nil
		}
		if old == nil {
			c.w.Null()
		}
		return old
	})
}

// incrBy answers INCR, DECR, INCRBY and DECRBY: the value is a decimal
// 64-bit integer (absent counts as 0); the TTL is kept.
func (c *conn) incrBy(key []byte, delta int64) {
	c.locked(key, func(id artifact.ID, old tiers.View) tiers.View {
		var cur int64
		var ttl time.Duration
		if old != nil {
			v, err := strconv.ParseInt(string(old.Bytes()), 10, 64)
			if err != nil || len(old.Bytes()) > 20 {
				c.w.Error("ERR value is not an integer or out of range")
				return nil
			}
			cur, ttl = v, remainingTTL(old.Meta())
		}
		if (delta > 0 && cur > math.MaxInt64-delta) || (delta < 0 && cur < math.MinInt64-delta) {
			c.w.Error("ERR increment or decrement would overflow")
			return nil
		}
		cur += delta
		if c.store(key, id, strconv.AppendInt(nil, cur, 10), ttl) {
			c.w.Int(cur)
		}
		return nil
	})
}

func (c *conn) incrArg(key, amount []byte, sign int64) {
	n, ok := parseInt(amount)
	if !ok || (sign < 0 && n == math.MinInt64) {
		c.w.Error("ERR value is not an integer or out of range")
		return
	}
	c.incrBy(key, sign*n)
}

// appendValue answers APPEND key value with the new length; the TTL is kept.
func (c *conn) appendValue(key, value []byte) {
	c.locked(key, func(id artifact.ID, old tiers.View) tiers.View {
		var joined []byte
		var ttl time.Duration
		if old != nil {
			ob := old.Bytes()
			if int64(len(ob)+len(value)) > c.s.cfg.Limits.MaxBulk {
				c.w.Error("ERR string exceeds maximum allowed size")
				return nil
			}
			// The joined copy is heap memory for the request's life.
			n := int64(len(ob) + len(value))
			if err := c.s.cfg.Budget.Acquire(c.s.ctx, n); err != nil {
				c.w.Error(busyReply)
				return nil
			}
			defer c.s.cfg.Budget.Release(n)
			joined = make([]byte, 0, n)
			joined = append(append(joined, ob...), value...)
			ttl = remainingTTL(old.Meta())
		} else {
			joined = value
		}
		if c.store(key, id, joined, ttl) {
			c.w.Int(int64(len(joined)))
		}
		return nil
	})
}

func lowerASCII(b []byte) []byte {
	out := make([]byte, len(b))
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		out[i] = ch
	}
	return out
}
