package resp

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Param is one CONFIG GET / CONFIG SET parameter.
type Param struct {
	// Name is the lower-case Redis name ("maxclients").
	Name string
	// Get returns the value in force.
	Get func() string
	// Set parses value and returns the change to make; nil Set: the
	// parameter cannot change while the node runs (an error naming it).
	// Parsing every pair before applying any makes CONFIG SET with several
	// pairs all or nothing.
	Set func(value string) (apply func(), err error)
}

// errNotInteger is Redis's text for an unparsable numeric parameter.
var errNotInteger = errors.New("argument couldn't be parsed into an integer")

// IntParam parses a non-negative integer at least min for a Param's Set.
func IntParam(value string, min int64) (int64, error) {
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return 0, errNotInteger
	}
	if n < min {
		return 0, errors.New("argument must be at least " + strconv.FormatInt(min, 10))
	}
	return n, nil
}

// defaultParams are the parameters of a server on its own (tests,
// embedding): those clients ask for, live where the server can change them.
// A node replaces some (Config.Params) so that a change reaches both ports.
func (s *Server) defaultParams() []Param {
	fixed := func(name, v string) Param { return Param{Name: name, Get: func() string { return v }} }
	return []Param{
		fixed("save", ""),
		fixed("appendonly", "no"),
		fixed("databases", "1"),
		{Name: "maxclients", Get: func() string { return strconv.Itoa(s.cs.MaxConns()) },
			Set: func(v string) (func(), error) {
				n, err := IntParam(v, 1)
				return func() { s.cs.SetMaxConns(int(n)) }, err
			}},
		{Name: "timeout", Get: func() string {
			idle, _, _ := s.cs.Timeouts()
			return strconv.Itoa(int(idle / time.Second))
		}, Set: func(v string) (func(), error) {
			n, err := IntParam(v, 1) // Redis's 0 (never) is not offered: every wait has a bound here
			return func() { s.cs.SetTimeouts(time.Duration(n)*time.Second, 0, 0) }, err
		}},
		{Name: "requirepass", Get: s.token.Get, Set: func(v string) (func(), error) {
			return func() { s.token.Set(v) }, nil
		}},
		fixed("proto-max-bulk-len", strconv.FormatInt(s.cfg.Limits.MaxBulk, 10)),
		{Name: "maxmemory", Get: func() string { return strconv.FormatInt(s.cpuCapacity(), 10) }},
		fixed("maxmemory-policy", s.policy()),
	}
}

// params are the server's parameters: the defaults with Config.Params
// replacing those of the same name and adding the others.
func (s *Server) params() []Param {
	ps := s.defaultParams()
	for _, p := range s.cfg.Params {
		replaced := false
		for i := range ps {
			if ps[i].Name == p.Name {
				ps[i], replaced = p, true
			}
		}
		if !replaced {
			ps = append(ps, p)
		}
	}
	return ps
}

// config answers CONFIG GET (Redis glob patterns over the parameter
// names), CONFIG SET (live where the node can change the parameter, an
// error naming it otherwise: never OK for nothing) and CONFIG RESETSTAT
// (refused: the counters feed Prometheus and must not go backwards).
func (c *conn) config(args [][]byte) {
	if len(args) == 0 {
		c.w.Error("ERR wrong number of arguments for 'config' command")
		return
	}
	switch strings.ToUpper(string(args[0])) {
	case "GET":
		if len(args) < 2 {
			c.w.Error("ERR wrong number of arguments for 'config|get' command")
			return
		}
		var pairs []string
		for _, p := range c.s.params() {
			for _, pat := range args[1:] {
				if globMatch(bytes.ToLower(pat), []byte(p.Name)) {
					pairs = append(pairs, p.Name, p.Get())
					break
				}
			}
		}
		c.w.Array(len(pairs))
		for _, s := range pairs {
			c.w.BulkString(s)
		}
	case "SET":
		c.configSet(args[1:])
	case "RESETSTAT":
		c.w.Error("ERR CONFIG RESETSTAT is not supported: the counters feed Prometheus and never go backwards")
	default:
		c.w.Error("ERR unknown subcommand '" + printable(args[0]) + "'. Try CONFIG HELP.")
	}
}

// configSet parses every pair, then applies them all (Redis 7's CONFIG SET
// of several pairs), or answers the first problem and changes nothing.
func (c *conn) configSet(kv [][]byte) {
	if len(kv) == 0 || len(kv)%2 != 0 {
		c.w.Error("ERR wrong number of arguments for 'config|set' command")
		return
	}
	params := c.s.params()
	var applies []func()
	for i := 0; i < len(kv); i += 2 {
		name := strings.ToLower(string(kv[i]))
		var p *Param
		for j := range params {
			if params[j].Name == name {
				p = &params[j]
			}
		}
		if p == nil {
			c.w.Error("ERR Unknown option or number of arguments for CONFIG SET - '" + printable(kv[i]) + "'")
			return
		}
		if p.Set == nil {
			c.w.Error("ERR CONFIG SET failed (possibly related to argument '" + name + "') - can't set immutable config" +
				" (this node fixes it at start: see docs/config.md)")
			return
		}
		apply, err := p.Set(string(kv[i+1]))
		if err != nil {
			c.w.Error("ERR CONFIG SET failed (possibly related to argument '" + name + "') - " + err.Error())
			return
		}
		applies = append(applies, apply)
	}
	for _, apply := range applies {
		apply()
	}
	c.w.OK()
}
