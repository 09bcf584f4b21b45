package resp

import (
	"bytes"
	"math"
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
	count := 10
	var pattern []byte
	matchAll, noType := true, false
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
			pattern, matchAll = args[i+1], string(args[i+1]) == "*"
		case "TYPE":
			if strings.ToLower(string(args[i+1])) != "string" {
				noType = true // every key here is a string: nothing matches
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
		if noType || (!matchAll && !globMatch(pattern, key)) {
			return
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

// keys answers KEYS pattern: every key written through this server that
// the engine still holds and that matches (Redis glob rules). Like Redis's
// KEYS it walks the whole keyspace in one command: SCAN is the way for
// large keyspaces.
func (c *conn) keysCmd(pattern []byte) {
	all := string(pattern) == "*"
	var found [][]byte
	cursor := 0
	for {
		cursor = c.s.keys.scan(cursor, math.MaxInt, c.s.keys.present, func(key []byte) {
			if all || globMatch(pattern, key) {
				found = append(found, bytes.Clone(key))
			}
		})
		if cursor == 0 {
			break
		}
	}
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
		mu := c.s.locks.Key(id.Hash)
		mu.Lock()
		_, err = c.s.cfg.Engine.Delete(c.s.ctx, id)
		if err == nil {
			c.s.keys.remove(k)
		}
		mu.Unlock()
		if err != nil {
			c.engineError(err)
			return
		}
	}
	c.w.OK()
}
