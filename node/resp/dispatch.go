package resp

import (
	"errors"
	"strconv"
	"strings"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/node/internal/inflight"
	"github.com/stratacache/stratacache/tiers"
)

// maxNameLen bounds the command names dispatch upper-cases on the stack.
const maxNameLen = 32

// dispatch runs one command and returns its upper-case name for metrics
// ("" for unknown commands, which would otherwise let clients mint labels).
func (c *conn) dispatch(args [][]byte) string {
	var nb [maxNameLen]byte
	if len(args[0]) > maxNameLen {
		c.unknown(args)
		return ""
	}
	name := nb[:len(args[0])]
	for i, ch := range args[0] {
		if 'a' <= ch && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		name[i] = ch
	}
	if string(name) == "POST" || string(name) == "HOST:" {
		// An HTTP request sent to the RESP port (cross-protocol scripting
		// from a browser): close without answering, as Redis does.
		c.s.protocolErrors.Add(1)
		c.quit = true
		return ""
	}
	if !c.authed {
		switch string(name) {
		case "AUTH", "HELLO", "QUIT":
		default:
			c.w.Error("NOAUTH Authentication required.")
			return "NOAUTH"
		}
	}
	if c.tx != nil {
		switch string(name) {
		case "EXEC", "DISCARD", "MULTI", "QUIT", "WATCH":
		default:
			c.queue(args)
			return "QUEUED"
		}
	}
	switch string(name) {
	case "MULTI":
		c.multi()
		return "MULTI"
	case "EXEC":
		c.exec()
		return "EXEC"
	case "DISCARD":
		c.discard()
		return "DISCARD"
	case "WATCH":
		c.w.Error("ERR WATCH is not supported")
		return "WATCH"
	case "GET":
		if c.arity(args, 2) {
			c.get(args[1])
		}
		return "GET"
	case "SET":
		if c.arity(args, -3) {
			c.set(args)
		}
		return "SET"
	case "SETEX", "PSETEX":
		if c.arity(args, 4) {
			c.setex(args, name[0] == 'P')
		}
		return "SETEX"
	case "SETNX":
		if c.arity(args, 3) {
			c.setnx(args[1], args[2])
		}
		return "SETNX"
	case "GETSET":
		if c.arity(args, 3) {
			c.getset(args[1], args[2])
		}
		return "GETSET"
	case "GETDEL":
		if c.arity(args, 2) {
			c.getdel(args[1])
		}
		return "GETDEL"
	case "INCR", "DECR":
		if c.arity(args, 2) {
			if name[0] == 'I' {
				c.incrBy(args[1], 1)
			} else {
				c.incrBy(args[1], -1)
			}
		}
		return "INCR"
	case "INCRBY", "DECRBY":
		if c.arity(args, 3) {
			if name[0] == 'I' {
				c.incrArg(args[1], args[2], 1)
			} else {
				c.incrArg(args[1], args[2], -1)
			}
		}
		return "INCR"
	case "APPEND":
		if c.arity(args, 3) {
			c.appendValue(args[1], args[2])
		}
		return "APPEND"
	case "EXISTS":
		if c.arity(args, -2) {
			c.exists(args[1:])
		}
		return "EXISTS"
	case "DEL", "UNLINK":
		if c.arity(args, -2) {
			c.del(args[1:])
		}
		if name[0] == 'D' {
			return "DEL"
		}
		return "UNLINK"
	case "MGET":
		if c.arity(args, -2) {
			c.mget(args[1:])
		}
		return "MGET"
	case "MSET":
		if c.arity(args, -3) {
			c.mset(args[1:])
		}
		return "MSET"
	case "STRLEN":
		if c.arity(args, 2) {
			c.strlen(args[1])
		}
		return "STRLEN"
	case "TTL", "PTTL":
		if c.arity(args, 2) {
			c.ttl(args[1], name[0] == 'P')
		}
		return "TTL"
	case "EXPIRE", "PEXPIRE":
		if c.arity(args, 3) {
			c.expire(args[1], args[2], name[0] == 'P')
		}
		return "EXPIRE"
	case "PERSIST":
		if c.arity(args, 2) {
			c.persist(args[1])
		}
		return "PERSIST"
	case "TYPE":
		if c.arity(args, 2) {
			c.typ(args[1])
		}
		return "TYPE"
	case "SCAN":
		if c.arity(args, -2) {
			c.scan(args[1:])
		}
		return "SCAN"
	case "KEYS":
		if c.arity(args, 2) {
			c.keysCmd(args[1])
		}
		return "KEYS"
	case "DBSIZE":
		if c.arity(args, 1) {
			c.w.Int(c.dbsize())
		}
		return "DBSIZE"
	case "FLUSHALL", "FLUSHDB":
		c.flushall()
		return "FLUSHALL"
	case "PING":
		switch len(args) {
		case 1:
			c.w.Simple("PONG")
		case 2:
			c.w.Bulk(args[1])
		default:
			c.wrongArity(args)
		}
		return "PING"
	case "ECHO":
		if c.arity(args, 2) {
			c.w.Bulk(args[1])
		}
		return "ECHO"
	case "AUTH":
		c.auth(args)
		return "AUTH"
	case "HELLO":
		c.hello(args)
		return "HELLO"
	case "SELECT":
		if c.arity(args, 2) {
			if string(args[1]) == "0" {
				c.w.OK()
			} else {
				c.w.Error("ERR DB index is out of range")
			}
		}
		return "SELECT"
	case "INFO":
		c.info(args[1:])
		return "INFO"
	case "COMMAND":
		c.command(args[1:])
		return "COMMAND"
	case "CONFIG":
		c.config(args[1:])
		return "CONFIG"
	case "CLIENT":
		c.client(args[1:])
		return "CLIENT"
	case "QUIT":
		c.w.OK()
		c.quit = true
		return "QUIT"
	}
	c.unknown(args)
	return ""
}

// arity checks the argument count Redis-style: n exact, -n at least n.
func (c *conn) arity(args [][]byte, n int) bool {
	if (n >= 0 && len(args) == n) || (n < 0 && len(args) >= -n) {
		return true
	}
	c.wrongArity(args)
	return false
}

func (c *conn) wrongArity(args [][]byte) {
	c.w.Error("ERR wrong number of arguments for '" + strings.ToLower(printable(args[0])) + "' command")
}

func (c *conn) unknown(args [][]byte) {
	var b strings.Builder
	b.WriteString("ERR unknown command '")
	b.WriteString(printable(args[0]))
	b.WriteString("', with args beginning with: ")
	for _, a := range args[1:min(len(args), 4)] {
		b.WriteString("'")
		b.WriteString(printable(a))
		b.WriteString("' ")
	}
	c.w.Error(b.String())
}

// printable bounds and sanitises client bytes quoted in an error reply.
func printable(b []byte) string {
	if len(b) > 128 {
		b = b[:128]
	}
	out := []byte(string(b))
	for i, ch := range out {
		if ch < 0x20 || ch > 0x7e {
			out[i] = '?'
		}
	}
	return string(out)
}

// id maps a RESP key to its artifact in the blob namespace. On a bad key
// it writes the error reply and returns ok=false.
func (c *conn) id(key []byte) (artifact.ID, bool) {
	id, err := artifact.NewID(artifact.NamespaceBlob, key)
	if err != nil {
		switch {
		case errors.Is(err, artifact.ErrEmptyKey):
			c.w.Error("ERR empty keys are not supported")
		case errors.Is(err, artifact.ErrKeyTooLong):
			c.w.Error("ERR key longer than " + strconv.Itoa(artifact.MaxKeyLen) + " bytes")
		default:
			c.w.Error("ERR invalid key: " + err.Error())
		}
		return artifact.ID{}, false
	}
	return id, true
}

// engineError writes the reply for an engine failure.
func (c *conn) engineError(err error) {
	switch {
	case errors.Is(err, inflight.ErrBusy):
		c.w.Error(busyReply)
	case errors.Is(err, actors.ErrTooLarge):
		c.w.Error("ERR value too large: " + err.Error())
	case errors.Is(err, actors.ErrNoSpace):
		c.w.Error("OOM no space left in the cache for this value")
	case errors.Is(err, actors.ErrCollision):
		c.w.Error("ERR key collides with a different stored key (64-bit hash); not stored")
	case errors.Is(err, actors.ErrInvalidKey):
		c.w.Error("ERR invalid key: " + err.Error())
	case errors.Is(err, actors.ErrClosed), errors.Is(err, tiers.ErrClosed):
		c.w.Error("ERR server is shutting down")
	default:
		c.w.Error("ERR " + err.Error())
	}
}

// isMiss reports whether err means "no such key" for a read.
func isMiss(err error) bool {
	return errors.Is(err, actors.ErrNotFound) || errors.Is(err, actors.ErrCollision) ||
		errors.Is(err, actors.ErrCorrupt)
}
