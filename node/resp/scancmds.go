package resp

import (
	"bytes"
	"math"
	"path"
	"strconv"
	"strings"

	"github.com/stratacache/stratacache/artifact"
)

func (c *conn) scan(args [][]byte) {
	cursor, ok := parseInt(args[0])
	if !ok || cursor < 0 {
		c.w.Error("ERR invalid cursor")
		return
	}
	count, pattern := 10, ""
	for i := 1; i < len(args); i += 2 {
		if i+1 == len(args) {
			c.w.Error("ERR syntax error")
			return
		}
		switch strings.ToUpper(string(args[i])) {
		case "COUNT":
			n, ok := parseInt(args[i+1])
			if !ok || n < 1 {
				c.w.Error("ERR value is not an integer or out of range")
				return
			}
			count = int(min(n, 1<<20))
		case "MATCH":
			pattern = string(args[i+1])
			if _, err := path.Match(pattern, ""); err != nil {
				c.w.Error("ERR invalid MATCH pattern")
				return
			}
		case "TYPE":
			if strings.ToLower(string(args[i+1])) != "string" {
				count = 0 // every key here is a string: nothing matches
				pattern = "\x00never"
			}
		default:
			c.w.Error("ERR syntax error")
			return
		}
	}
	if cursor >= keyspaceShards {
		cursor = 0
	}
	var found [][]byte
	next := c.s.keys.scan(int(cursor), max(count, 1), c.s.keys.present, func(key []byte) {
		if pattern != "" {
			if ok, _ := path.Match(pattern, string(key)); !ok {
				return
			}
		}
		found = append(found, bytes.Clone(key))
	})
	c.w.Array(2)
	c.w.BulkString(strconv.Itoa(next))
	c.w.Array(len(found))
	for _, k := range found {
		c.w.Bulk(k)
	}
}

// dbsize counts the keys written through this server that the engine still
// holds.
func (c *conn) dbsize() int64 {
	var n int64
	cursor := 0
	for {
		cursor = c.s.keys.scan(cursor, math.MaxInt, c.s.keys.present, func([]byte) { n++ })
		if cursor == 0 {
			return n
		}
	}
}

func (c *conn) flushall() {
	var keys [][]byte
	cursor := 0
	for {
		cursor = c.s.keys.scan(cursor, math.MaxInt, func([]byte) bool { return true },
			func(k []byte) { keys = append(keys, bytes.Clone(k)) })
		if cursor == 0 {
			break
		}
	}
	for _, k := range keys {
		id, err := artifact.NewID(artifact.NamespaceBlob, k)
		if err != nil {
			continue
		}
		if _, err := c.s.cfg.Engine.Delete(c.s.ctx, id); err != nil {
			c.engineError(err)
			return
		}
		c.s.keys.remove(k)
	}
	c.w.OK()
}
