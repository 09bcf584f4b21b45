package resp

import (
	"math"
	"strings"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

func (c *conn) get(key []byte) {
	id, ok := c.id(key)
	if !ok {
		return
	}
	v, _, err := c.s.cfg.Engine.View(c.s.ctx, id, actors.Chain())
	if err != nil {
		if isMiss(err) {
			c.s.misses.Add(1)
			c.w.Null()
			return
		}
		c.engineError(err)
		return
	}
	c.s.hits.Add(1)
	c.writeView(v)
}

// writeView answers with v's bytes and releases v. A large value holds
// its bytes of the in-flight budget (-BUSY when they do not fit) until it
// has reached the socket: Bulk writes it before returning. Call it with no
// key lock held: a client that reads slowly must not hold a stripe.
func (c *conn) writeView(v tiers.View) {
	defer v.Release()
	n := c.outBytes(len(v.Bytes()))
	if err := c.s.cfg.Budget.Acquire(c.s.ctx, n); err != nil {
		c.w.Error(busyReply)
		return
	}
	c.w.Bulk(v.Bytes())
	c.s.cfg.Budget.Release(n)
}

// outBytes is what writing a value of n bytes holds in flight: a large
// value's view stays pinned until the client has taken it; a small one is
// copied into the reply buffer (bounded per connection) and needs nothing.
func (c *conn) outBytes(n int) int64 {
	if n < directWrite {
		return 0
	}
	return int64(n)
}

// setOpts are SET's options.
type setOpts struct {
	ttl     time.Duration
	nx, xx  bool
	keepTTL bool
	get     bool
}

func (c *conn) parseSetOpts(args [][]byte) (setOpts, bool) {
	var o setOpts
	expirySet := false
	for i := 0; i < len(args); i++ {
		opt := strings.ToUpper(string(args[i]))
		switch opt {
		case "NX":
			o.nx = true
		case "XX":
			o.xx = true
		case "GET":
			o.get = true
		case "KEEPTTL":
			if expirySet {
				c.w.Error("ERR syntax error")
				return o, false
			}
			o.keepTTL, expirySet = true, true
		case "EX", "PX", "EXAT", "PXAT":
			if expirySet || i+1 == len(args) {
				c.w.Error("ERR syntax error")
				return o, false
			}
			i++
			n, ok := parseInt(args[i])
			if !ok {
				c.w.Error("ERR value is not an integer or out of range")
				return o, false
			}
			var d time.Duration
			switch opt {
			case "EX":
				d = secondsToDuration(n)
			case "PX":
				d = millisToDuration(n)
			case "EXAT":
				d = time.Until(time.Unix(n, 0))
			case "PXAT":
				d = time.Until(time.UnixMilli(n))
			}
			if n <= 0 || (d <= 0 && (opt == "EX" || opt == "PX")) {
				c.w.Error("ERR invalid expire time in 'set' command")
				return o, false
			}
			if d <= 0 {
				d = time.Nanosecond // an absolute time in the past: expired at once
			}
			o.ttl, expirySet = d, true
		default:
			c.w.Error("ERR syntax error")
			return o, false
		}
	}
	if o.nx && o.xx {
		c.w.Error("ERR syntax error")
		return o, false
	}
	return o, true
}

func secondsToDuration(n int64) time.Duration {
	if n > math.MaxInt64/int64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(n) * time.Second
}

func millisToDuration(n int64) time.Duration {
	if n > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64
	}
	return time.Duration(n) * time.Millisecond
}

func (c *conn) set(args [][]byte) {
	o, ok := c.parseSetOpts(args[3:])
	if !ok {
		return
	}
	id, ok := c.id(args[1])
	if !ok {
		return
	}
	eng := c.s.cfg.Engine
	mu := c.s.locks.Key(id.Hash)
	mu.Lock()
	if !o.nx && !o.xx && !o.get && !o.keepTTL {
		err := eng.Store(c.s.ctx, id, args[2], actors.StoreOptions{Meta: artifact.Meta{TTL: o.ttl}})
		mu.Unlock()
		if err != nil {
			c.engineError(err)
			return
		}
		c.s.keys.add(args[1])
		c.w.OK()
		return
	}
	old, _, verr := eng.View(c.s.ctx, id, actors.Chain())
	if verr != nil && !isMiss(verr) {
		mu.Unlock()
		c.engineError(verr)
		return
	}
	exists := verr == nil
	if exists && o.keepTTL {
		o.ttl = remainingTTL(old.Meta())
	}
	var err error
	stored := false
	if !(o.nx && exists) && !(o.xx && !exists) {
		err = eng.Store(c.s.ctx, id, args[2], actors.StoreOptions{Meta: artifact.Meta{TTL: o.ttl}})
		stored = err == nil
	}
	mu.Unlock()
	// The replies go out with the lock released (the old value's view
	// stays valid): a slow reader holds no stripe.
	if err != nil {
		if exists {
			old.Release()
		}
		c.engineError(err)
		return
	}
	if stored {
		c.s.keys.add(args[1])
	}
	switch {
	case o.get && exists:
		c.writeView(old)
		return
	case o.get || !stored:
		c.w.Null()
	default:
		c.w.OK()
	}
	if exists {
		old.Release()
	}
}

// remainingTTL is what is left of m's TTL (0: none).
func remainingTTL(m artifact.Meta) time.Duration {
	if m.TTL <= 0 {
		return 0
	}
	left := time.Duration(m.Created + int64(m.TTL) - time.Now().UnixNano())
	return max(left, time.Nanosecond)
}

func (c *conn) exists(keys [][]byte) {
	var n int64
	for _, k := range keys {
		id, ok := c.id(k)
		if !ok {
			return
		}
		found, err := c.s.cfg.Engine.Contains(c.s.ctx, id, actors.Chain())
		if err != nil {
			c.engineError(err)
			return
		}
		if found {
			n++
		}
	}
	c.w.Int(n)
}

// del deletes the keys under their stripe locks, taken together.
func (c *conn) del(keys [][]byte) {
	ids, ok := c.ids(keys, 1)
	if !ok {
		return
	}
	unlock := c.s.locks.LockAll(hashes(ids))
	defer unlock()
	var n int64
	for i, id := range ids {
		found, err := c.s.cfg.Engine.Delete(c.s.ctx, id)
		if err != nil {
			c.engineError(err)
			return
		}
		c.s.keys.remove(keys[i])
		if found {
			n++
		}
	}
	c.w.Int(n)
}

// ids maps every step-th key of keys to its id; on a bad key it answers
// the error and returns ok=false.
func (c *conn) ids(keys [][]byte, step int) ([]artifact.ID, bool) {
	ids := make([]artifact.ID, 0, (len(keys)+step-1)/step)
	for i := 0; i < len(keys); i += step {
		id, ok := c.id(keys[i])
		if !ok {
			return nil, false
		}
		ids = append(ids, id)
	}
	return ids, true
}

func hashes(ids []artifact.ID) []uint64 {
	hs := make([]uint64, len(ids))
	for i, id := range ids {
		hs[i] = id.Hash
	}
	return hs
}

func (c *conn) mget(keys [][]byte) {
	ids := make([]artifact.ID, len(keys))
	for i, k := range keys {
		id, ok := c.id(k)
		if !ok {
			return
		}
		ids[i] = id
	}
	views := make([]tiers.View, len(ids))
	defer func() {
		for _, v := range views {
			if v != nil {
				v.Release()
			}
		}
	}()
	var held int64
	for i, id := range ids {
		v, _, err := c.s.cfg.Engine.View(c.s.ctx, id, actors.Chain())
		if err != nil {
			continue // Redis answers nil for anything it cannot return in MGET
		}
		views[i] = v
		held += c.outBytes(len(v.Bytes()))
	}
	if err := c.s.cfg.Budget.Acquire(c.s.ctx, held); err != nil {
		c.w.Error(busyReply)
		return
	}
	defer c.s.cfg.Budget.Release(held)
	c.w.Array(len(ids))
	for _, v := range views {
		if v == nil {
			c.s.misses.Add(1)
			c.w.Null()
			continue
		}
		c.s.hits.Add(1)
		c.w.Bulk(v.Bytes())
	}
}

// mset stores the pairs with every key's stripe held, so no other writer
// interleaves. Like Redis's it is all or nothing for other writers, but not
// for failures: a value the engine refuses (too large, no space) stops it
// with the earlier pairs stored.
func (c *conn) mset(kv [][]byte) {
	if len(kv)%2 != 0 {
		c.w.Error("ERR wrong number of arguments for 'mset' command")
		return
	}
	ids, ok := c.ids(kv, 2)
	if !ok {
		return
	}
	unlock := c.s.locks.LockAll(hashes(ids))
	defer unlock()
	for i, id := range ids {
		if err := c.s.cfg.Engine.Store(c.s.ctx, id, kv[2*i+1], actors.StoreOptions{}); err != nil {
			c.engineError(err)
			return
		}
		c.s.keys.add(kv[2*i])
	}
	c.w.OK()
}

// view is a read for commands that look at a value's metadata or length.
func (c *conn) view(key []byte) (tiers.View, bool, bool) {
	id, ok := c.id(key)
	if !ok {
		return nil, false, false
	}
	v, _, err := c.s.cfg.Engine.View(c.s.ctx, id, actors.Chain())
	if err != nil {
		if isMiss(err) {
			return nil, false, true
		}
		c.engineError(err)
		return nil, false, false
	}
	return v, true, true
}

func (c *conn) strlen(key []byte) {
	v, found, ok := c.view(key)
	if !ok {
		return
	}
	if !found {
		c.w.Int(0)
		return
	}
	c.w.Int(int64(len(v.Bytes())))
	v.Release()
}

func (c *conn) typ(key []byte) {
	v, found, ok := c.view(key)
	if !ok {
		return
	}
	if !found {
		c.w.Simple("none")
		return
	}
	v.Release()
	c.w.Simple("string")
}

func (c *conn) ttl(key []byte, millis bool) {
	v, found, ok := c.view(key)
	if !ok {
		return
	}
	if !found {
		c.w.Int(-2)
		return
	}
	m := v.Meta()
	v.Release()
	if m.TTL <= 0 {
		c.w.Int(-1)
		return
	}
	left := remainingTTL(m)
	if millis {
		c.w.Int(int64((left + time.Millisecond/2) / time.Millisecond))
	} else {
		c.w.Int(int64((left + time.Second/2) / time.Second))
	}
}

// setTTL changes key's expiry in place (Engine.SetTTL: the payload is not
// stored again) under the key's stripe. remaining < 0 deletes the key, as
// Redis does for a non-positive EXPIRE; onlyIfTTL (PERSIST) answers 0 for a
// key without one.
func (c *conn) setTTL(key []byte, remaining time.Duration, onlyIfTTL bool) {
	id, ok := c.id(key)
	if !ok {
		return
	}
	mu := c.s.locks.Key(id.Hash)
	mu.Lock()
	defer mu.Unlock()
	eng := c.s.cfg.Engine
	if onlyIfTTL {
		v, _, err := eng.View(c.s.ctx, id, actors.Chain())
		if err != nil {
			if isMiss(err) {
				c.w.Int(0)
				return
			}
			c.engineError(err)
			return
		}
		ttl := v.Meta().TTL
		v.Release()
		if ttl <= 0 {
			c.w.Int(0)
			return
		}
	}
	if remaining < 0 {
		found, err := eng.Delete(c.s.ctx, id)
		if err != nil {
			c.engineError(err)
			return
		}
		c.s.keys.remove(key)
		c.w.Int(b2i(found))
		return
	}
	found, err := eng.SetTTL(c.s.ctx, id, remaining)
	if err != nil {
		c.engineError(err)
		return
	}
	c.w.Int(b2i(found))
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (c *conn) expire(key, amount []byte, millis bool) {
	n, ok := parseInt(amount)
	if !ok {
		c.w.Error("ERR value is not an integer or out of range")
		return
	}
	if n <= 0 {
		c.setTTL(key, -1, false) // Redis deletes a key given a non-positive TTL
		return
	}
	d := secondsToDuration(n)
	if millis {
		d = millisToDuration(n)
	}
	c.setTTL(key, d, false)
}

func (c *conn) persist(key []byte) { c.setTTL(key, 0, true) }
