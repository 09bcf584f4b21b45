package resp

import (
	"bytes"
	"strings"
)

func (c *conn) auth(args [][]byte) {
	var pass []byte
	switch len(args) {
	case 2:
		pass = args[1]
	case 3:
		if string(args[1]) != "default" {
			c.s.authFailures.Add(1)
			c.w.Error("WRONGPASS invalid username-password pair or user is disabled.")
			return
		}
		pass = args[2]
	default:
		c.wrongArity(args)
		return
	}
	if !c.s.token.Required() {
		c.w.Error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
		return
	}
	if !c.s.token.Check(pass) {
		c.s.authFailures.Add(1)
		c.w.Error("WRONGPASS invalid username-password pair or user is disabled.")
		return
	}
	c.authenticated()
	c.w.OK()
}

// authenticated lifts the pre-auth limits of the connection.
func (c *conn) authenticated() {
	if !c.authed {
		c.authed = true
		c.r.Grow()
	}
}

// hello answers HELLO [2 [AUTH user pass] [SETNAME name]] in RESP2; RESP3
// is refused with NOPROTO so clients fall back to RESP2.
func (c *conn) hello(args [][]byte) {
	i := 1
	if len(args) > 1 {
		v, ok := parseInt(args[1])
		if !ok {
			c.w.Error("ERR Protocol version is not an integer or out of range")
			return
		}
		if v != 2 {
			c.w.Error("NOPROTO unsupported protocol version")
			return
		}
		i = 2
	}
	for ; i < len(args); i++ {
		switch strings.ToUpper(string(args[i])) {
		case "AUTH":
			if i+2 >= len(args) {
				c.w.Error("ERR syntax error")
				return
			}
			if c.s.token.Required() && (string(args[i+1]) != "default" || !c.s.token.Check(args[i+2])) {
				c.s.authFailures.Add(1)
				c.w.Error("WRONGPASS invalid username-password pair or user is disabled.")
				return
			}
			c.authenticated()
			i += 2
		case "SETNAME":
			if i+1 >= len(args) {
				c.w.Error("ERR syntax error")
				return
			}
			c.name = string(args[i+1])
			i++
		default:
			c.w.Error("ERR syntax error")
			return
		}
	}
	if !c.authed {
		c.w.Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	c.w.Array(14)
	c.w.BulkString("server")
	c.w.BulkString("stratacache")
	c.w.BulkString("version")
	c.w.BulkString(compatVersion)
	c.w.BulkString("proto")
	c.w.Int(2)
	c.w.BulkString("id")
	c.w.Int(c.id64())
	c.w.BulkString("mode")
	c.w.BulkString("standalone")
	c.w.BulkString("role")
	c.w.BulkString("master")
	c.w.BulkString("modules")
	c.w.Array(0)
}

func (c *conn) id64() int64 { return c.cid }

// compatVersion is the Redis version whose commands this port answers like.
const compatVersion = "7.0.0"

func (c *conn) client(args [][]byte) {
	if len(args) == 0 {
		c.w.Error("ERR wrong number of arguments for 'client' command")
		return
	}
	switch strings.ToUpper(string(args[0])) {
	case "SETNAME":
		if len(args) != 2 {
			c.w.Error("ERR wrong number of arguments for 'client|setname' command")
			return
		}
		if bytes.ContainsAny(args[1], " \n\r") {
			c.w.Error("ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		c.name = string(args[1])
		c.w.OK()
	case "GETNAME":
		if c.name == "" {
			c.w.Null()
		} else {
			c.w.BulkString(c.name)
		}
	case "ID":
		c.w.Int(c.cid)
	case "SETINFO":
		c.w.OK()
	default:
		c.w.Error("ERR unknown subcommand '" + printable(args[0]) + "'. Try CLIENT HELP.")
	}
}
