package resp

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/stratacache/stratacache/actors"
)

// infoSections are INFO's sections in output order; "stratacache" holds the
// per-tier and per-link figures Redis has no words for.
var infoSections = []string{"server", "clients", "memory", "stats", "keyspace", "stratacache"}

// info answers INFO [section ...]: all sections for none, "all", "default"
// or "everything"; unknown sections are left out, as Redis does.
func (c *conn) info(args [][]byte) {
	want := map[string]bool{}
	for _, a := range args {
		s := strings.ToLower(string(a))
		if s == "all" || s == "default" || s == "everything" {
			want = map[string]bool{}
			break
		}
		want[s] = true
	}
	var es actors.EngineStats
	c.s.cfg.Engine.Stats(&es)
	var b bytes.Buffer
	for _, sec := range infoSections {
		if len(want) > 0 && !want[sec] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		fmt.Fprintf(&b, "# %s\r\n", strings.ToUpper(sec[:1])+sec[1:])
		c.infoSection(&b, sec, &es)
	}
	c.w.Bulk(b.Bytes())
}

func (c *conn) infoSection(b *bytes.Buffer, sec string, es *actors.EngineStats) {
	s := c.s
	st := s.Stats()
	line := func(k string, v any) { fmt.Fprintf(b, "%s:%v\r\n", k, v) }
	switch sec {
	case "server":
		line("redis_version", compatVersion)
		line("stratacache_server", "resp2")
		line("redis_mode", "standalone")
		line("os", runtime.GOOS+" "+runtime.GOARCH)
		line("arch_bits", strconv.IntSize)
		line("go_version", runtime.Version())
		line("process_id", os.Getpid())
		line("uptime_in_seconds", int64(time.Since(s.started)/time.Second))
		line("uptime_in_days", int64(time.Since(s.started)/(24*time.Hour)))
	case "clients":
		line("connected_clients", st.ConnsCurrent)
		line("maxclients", s.cs.MaxConns())
		line("rejected_connections", st.ConnsRejected)
	case "memory":
		// Redis's memory figures are the top (CPU) tier's.
		var used, capacity int64
		if len(es.Tiers) > 0 {
			used, capacity = es.Tiers[0].UsedBytes, es.Tiers[0].CapacityBytes
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		line("used_memory", used)
		line("used_memory_human", human(used))
		line("maxmemory", capacity)
		line("maxmemory_human", human(capacity))
		line("maxmemory_policy", s.policy())
		line("go_heap_inuse", ms.HeapInuse)
	case "stats":
		var evictions uint64
		for _, t := range es.Tiers {
			evictions += t.Evictions
		}
		line("total_connections_received", st.ConnsTotal)
		line("total_commands_processed", st.Commands)
		line("rejected_connections", st.ConnsRejected)
		line("keyspace_hits", st.Hits)
		line("keyspace_misses", st.Misses)
		line("evicted_keys", evictions)
		line("protocol_errors", st.ProtocolErrors)
		line("auth_failures", st.AuthFailures)
		line("accept_errors", st.AcceptErrors)
		line("connection_panics", st.Panics)
		line("write_stalls", st.WriteStalls)
	case "keyspace":
		// The keys written through this port that are remembered for SCAN
		// (docs/node.md); the node tracks no count of expiring keys, so
		// Redis's expires= and avg_ttl= are left out rather than made up.
		if n := s.keys.size(); n > 0 {
			line("db0", fmt.Sprintf("keys=%d", n))
		}
	case "stratacache":
		for _, t := range es.Tiers {
			line("tier_"+t.Name, fmt.Sprintf("kind=%s,capacity=%d,used=%d,artifacts=%d,hits=%d,misses=%d,evictions=%d,promotions=%d,demotions=%d",
				t.Kind, t.CapacityBytes, t.UsedBytes, t.Artifacts, t.Hits, t.Misses, t.Evictions, t.Promotions, t.Demotions))
		}
		for _, l := range es.Links {
			line("link_"+l.Upper+"_"+l.Lower, fmt.Sprintf("policy=%s,dirty_artifacts=%d,dirty_bytes=%d,flushed=%d,flush_lag_ms=%d",
				l.Policy, l.DirtyArtifacts, l.DirtyBytes, l.Flushed, l.FlushLag.Milliseconds()))
		}
		if s.cfg.Info != nil {
			s.cfg.Info(b)
		}
	}
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

// commandInfo is one COMMAND reply entry: name, arity, flags, first key,
// last key, key step (the Redis 2.8 layout every client understands).
type commandInfo struct {
	name              string
	arity             int
	flags             []string
	first, last, step int
}

var commandTable = []commandInfo{
	{"get", 2, []string{"readonly", "fast"}, 1, 1, 1},
	{"set", -3, []string{"write", "denyoom"}, 1, 1, 1},
	{"setex", 4, []string{"write", "denyoom"}, 1, 1, 1},
	{"psetex", 4, []string{"write", "denyoom"}, 1, 1, 1},
	{"setnx", 3, []string{"write", "denyoom", "fast"}, 1, 1, 1},
	{"getdel", 2, []string{"write", "fast"}, 1, 1, 1},
	{"getset", 3, []string{"write", "denyoom", "fast"}, 1, 1, 1},
	{"incr", 2, []string{"write", "denyoom", "fast"}, 1, 1, 1},
	{"decr", 2, []string{"write", "denyoom", "fast"}, 1, 1, 1},
	{"incrby", 3, []string{"write", "denyoom", "fast"}, 1, 1, 1},
	{"decrby", 3, []string{"write", "denyoom", "fast"}, 1, 1, 1},
	{"append", 3, []string{"write", "denyoom"}, 1, 1, 1},
	{"exists", -2, []string{"readonly", "fast"}, 1, -1, 1},
	{"del", -2, []string{"write"}, 1, -1, 1},
	{"unlink", -2, []string{"write", "fast"}, 1, -1, 1},
	{"mget", -2, []string{"readonly", "fast"}, 1, -1, 1},
	{"mset", -3, []string{"write", "denyoom"}, 1, -1, 2},
	{"strlen", 2, []string{"readonly", "fast"}, 1, 1, 1},
	{"ttl", 2, []string{"readonly", "fast"}, 1, 1, 1},
	{"pttl", 2, []string{"readonly", "fast"}, 1, 1, 1},
	{"expire", 3, []string{"write", "fast"}, 1, 1, 1},
	{"pexpire", 3, []string{"write", "fast"}, 1, 1, 1},
	{"persist", 2, []string{"write", "fast"}, 1, 1, 1},
	{"type", 2, []string{"readonly", "fast"}, 1, 1, 1},
	{"scan", -2, []string{"readonly"}, 0, 0, 0},
	{"keys", 2, []string{"readonly"}, 0, 0, 0},
	{"dbsize", 1, []string{"readonly", "fast"}, 0, 0, 0},
	{"flushall", -1, []string{"write"}, 0, 0, 0},
	{"flushdb", -1, []string{"write"}, 0, 0, 0},
	{"ping", -1, []string{"fast"}, 0, 0, 0},
	{"echo", 2, []string{"fast"}, 0, 0, 0},
	{"auth", -2, []string{"noscript", "loading", "stale", "fast", "no_auth"}, 0, 0, 0},
	{"hello", -1, []string{"noscript", "loading", "stale", "fast", "no_auth"}, 0, 0, 0},
	{"select", 2, []string{"loading", "stale", "fast"}, 0, 0, 0},
	{"info", -1, []string{"loading", "stale"}, 0, 0, 0},
	{"command", -1, []string{"loading", "stale"}, 0, 0, 0},
	{"config", -2, []string{"admin", "loading", "stale"}, 0, 0, 0},
	{"client", -2, []string{"loading", "stale"}, 0, 0, 0},
	{"multi", 1, []string{"noscript", "loading", "stale", "fast"}, 0, 0, 0},
	{"exec", 1, []string{"noscript", "loading", "stale"}, 0, 0, 0},
	{"discard", 1, []string{"noscript", "loading", "stale", "fast"}, 0, 0, 0},
	{"quit", -1, []string{"loading", "stale", "fast", "no_auth"}, 0, 0, 0},
}

// command answers COMMAND, COMMAND COUNT, COMMAND INFO name... and COMMAND
// DOCS (empty: redis-cli only uses it for interactive hints).
func (c *conn) command(args [][]byte) {
	if len(args) == 0 {
		c.w.Array(len(commandTable))
		for i := range commandTable {
			c.commandEntry(&commandTable[i])
		}
		return
	}
	switch strings.ToUpper(string(args[0])) {
	case "COUNT":
		c.w.Int(int64(len(commandTable)))
	case "DOCS":
		c.w.Array(0)
	case "INFO":
		c.w.Array(len(args) - 1)
		for _, name := range args[1:] {
			var found *commandInfo
			for i := range commandTable {
				if strings.EqualFold(commandTable[i].name, string(name)) {
					found = &commandTable[i]
				}
			}
			if found == nil {
				c.w.NullArray()
			} else {
				c.commandEntry(found)
			}
		}
	default:
		c.w.Error("ERR unknown subcommand '" + printable(args[0]) + "'. Try COMMAND HELP.")
	}
}

func (c *conn) commandEntry(ci *commandInfo) {
	c.w.Array(6)
	c.w.BulkString(ci.name)
	c.w.Int(int64(ci.arity))
	c.w.Array(len(ci.flags))
	for _, f := range ci.flags {
		c.w.Simple(f)
	}
	c.w.Int(int64(ci.first))
	c.w.Int(int64(ci.last))
	c.w.Int(int64(ci.step))
}

// policy is maxmemory-policy: the CPU tier's eviction policy.
func (s *Server) policy() string {
	if s.cfg.Policy == "" {
		return "allkeys-lru"
	}
	return s.cfg.Policy
}

// cpuCapacity is maxmemory: the top tier's byte budget.
func (s *Server) cpuCapacity() int64 {
	var es actors.EngineStats
	s.cfg.Engine.Stats(&es)
	if len(es.Tiers) == 0 {
		return 0
	}
	return es.Tiers[0].CapacityBytes
}
