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
	n := c.outBytes(len(v.Bytes()))
	if err := c.s.cfg.Budget.Acquire(c.s.ctx, n); err != nil {
		v.Release()
		c.w.Error(busyReply)
		return
	}
	c.w.Bulk(v.Bytes()) // large values reach the socket before Bulk returns
	v.Release()
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
	plain := !o.nx && !o.xx && !o.get && !o.keepTTL
	if plain {
		if err := eng.Store(c.s.ctx, id, args[2], actors.StoreOptions{Meta: artifact.Meta{TTL: o.ttl}}); err != nil {
			c.engineError(err)
			return
		}
		c.s.keys.add(args[1])
		c.w.OK()
		return
	}
	mu := &c.s.stripes[id.Hash%uint64(len(c.s.stripes))]
	mu.Lock()
	defer mu.Unlock()
	old, _, err := eng.View(c.s.ctx, id, actors.Chain())
	if err != nil && !isMiss(err) {
		c.engineError(err)
		return
	}
	exists := err == nil
	if exists {
		defer old.Release()
		if o.keepTTL {
			o.ttl = remainingTTL(old.Meta())
		}
	}
	if (o.nx && exists) || (o.xx && !exists) {
		if o.get && exists {
			c.w.Bulk(old.Bytes())
		} else {
			c.w.Null()
		}
		return
	}
	if err := eng.Store(c.s.ctx, id, args[2], actors.StoreOptions{Meta: artifact.Meta{TTL: o.ttl}}); err != nil {
		c.engineError(err)
		return
	}
	c.s.keys.add(args[1])
	switch {
	case o.get && exists:
		c.w.Bulk(old.Bytes())
	case o.get:
		c.w.Null()
	default:
		c.w.OK()
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

func (c *conn) del(keys [][]byte) {
	var n int64
	for _, k := range keys {
		id, ok := c.id(k)
		if !ok {
			return
		}
		found, err := c.s.cfg.Engine.Delete(c.s.ctx, id)
		if err != nil {
			c.engineError(err)
			return
		}
		c.s.keys.remove(k)
		if found {
			n++
		}
	}
	c.w.Int(n)
}

// mget takes a view of every key first, so that the large values' bytes
// are taken from the budget at once, before the reply starts (a refusal
// halfway through an array reply could not be told).
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

func (c *conn) mset(kv [][]byte) {
	if len(kv)%2 != 0 {
		c.w.Error("ERR wrong number of arguments for 'mset' command")
		return
	}
	for i := 0; i < len(kv); i += 2 {
		if _, ok := c.id(kv[i]); !ok {
			return
		}
	}
	for i := 0; i < len(kv); i += 2 {
		id, _ := c.id(kv[i])
		if err := c.s.cfg.Engine.Store(c.s.ctx, id, kv[i+1], actors.StoreOptions{}); err != nil {
			c.engineError(err)
			return
		}
		c.s.keys.add(kv[i])
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

// restore re-stores key's current payload with a new TTL (the engine has no
// metadata-only update). The view keeps the old bytes valid while Store
// copies them.
func (c *conn) restore(key []byte, ttl time.Duration, onlyIfTTL bool) {
	id, ok := c.id(key)
	if !ok {
		return
	}
	mu := &c.s.stripes[id.Hash%uint64(len(c.s.stripes))]
	mu.Lock()
	defer mu.Unlock()
	eng := c.s.cfg.Engine
	v, _, err := eng.View(c.s.ctx, id, actors.Chain())
	if err != nil {
		if isMiss(err) {
			c.w.Int(0)
			return
		}
		c.engineError(err)
		return
	}
	defer v.Release()
	if onlyIfTTL && v.Meta().TTL <= 0 {
		c.w.Int(0)
		return
	}
	if ttl < 0 {
		if _, err := eng.Delete(c.s.ctx, id); err != nil {
			c.engineError(err)
			return
		}
		c.s.keys.remove(key)
		c.w.Int(1)
		return
	}
	if err := eng.Store(c.s.ctx, id, v.Bytes(), actors.StoreOptions{Meta: artifact.Meta{TTL: ttl}}); err != nil {
		c.engineError(err)
		return
	}
	c.w.Int(1)
}

func (c *conn) expire(key, amount []byte, millis bool) {
	n, ok := parseInt(amount)
	if !ok {
		c.w.Error("ERR value is not an integer or out of range")
		return
	}
	if n <= 0 {
		c.restore(key, -1, false) // Redis deletes a key given a non-positive TTL
		return
	}
	d := secondsToDuration(n)
	if millis {
		d = millisToDuration(n)
	}
	c.restore(key, d, false)
}

func (c *conn) persist(key []byte) { c.restore(key, 0, true) }
