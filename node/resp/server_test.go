package resp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/eviction"
	"github.com/stratacache/stratacache/tiers/memory"
)

// newEngine builds a one-tier engine on the real CPU tier.
func newEngine(t testing.TB, capacity int64) *actors.Engine {
	t.Helper()
	mt, err := memory.New(memory.Config{Name: "cpu", CapacityBytes: capacity, Policy: eviction.NewLRU(1024)})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := actors.NewEngine(actors.Config{Tiers: []tiers.Tier{mt}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	return eng
}

// startServer serves cfg on a loopback port and returns its address.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Engine == nil {
		cfg.Engine = newEngine(t, 256<<20)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// client is a minimal RESP2 client for tests: it writes commands as arrays
// of bulk strings and parses one reply at a time into Go values (string for
// simple, []byte for bulk, int64, error for '-', nil, []any).
type client struct {
	t  testing.TB
	nc net.Conn
	r  *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &client{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func encode(args ...any) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		var v []byte
		switch x := a.(type) {
		case string:
			v = []byte(x)
		case []byte:
			v = x
		case int:
			v = []byte(strconv.Itoa(x))
		}
		fmt.Fprintf(&b, "$%d\r\n", len(v))
		b.Write(v)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func (c *client) send(args ...any) {
	c.t.Helper()
	if _, err := c.nc.Write(encode(args...)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) do(args ...any) any {
	c.t.Helper()
	c.send(args...)
	return c.reply()
}

func (c *client) reply() any {
	c.t.Helper()
	v, err := readReply(c.r)
	if err != nil {
		c.t.Fatalf("read reply: %v", err)
	}
	return v
}

func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("bad reply line %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return errors.New(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		return b[:n], nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("bad reply type %q", line)
}

func expect(t testing.TB, got, want any) {
	t.Helper()
	if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

func expectErr(t testing.TB, got any, prefix string) {
	t.Helper()
	err, ok := got.(error)
	if !ok || !bytes.HasPrefix([]byte(err.Error()), []byte(prefix)) {
		t.Fatalf("got %#v, want an error starting %q", got, prefix)
	}
}

func TestBasicCommands(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	expect(t, c.do("PING"), "PONG")
	expect(t, c.do("ping", "hi"), []byte("hi"))
	expect(t, c.do("ECHO", "x\r\ny"), []byte("x\r\ny"))
	expect(t, c.do("SELECT", "0"), "OK")
	expectErr(t, c.do("SELECT", "1"), "ERR DB index")
	expect(t, c.do("GET", "k"), nil)
	expect(t, c.do("SET", "k", "v1"), "OK")
	expect(t, c.do("GET", "k"), []byte("v1"))
	expect(t, c.do("STRLEN", "k"), int64(2))
	expect(t, c.do("STRLEN", "nope"), int64(0))
	expect(t, c.do("TYPE", "k"), "string")
	expect(t, c.do("SET", "k", "v2", "NX"), nil)
	expect(t, c.do("SET", "k2", "v2", "XX"), nil)
	expect(t, c.do("SET", "k", "v3", "XX", "GET"), []byte("v1"))
	expect(t, c.do("GET", "k"), []byte("v3"))
	expect(t, c.do("EXISTS", "k", "k", "k2"), int64(2))
	expect(t, c.do("MSET", "a", "1", "b", "2"), "OK")
	expect(t, c.do("MGET", "a", "nope", "b"), []any{[]byte("1"), nil, []byte("2")})
	expect(t, c.do("DBSIZE"), int64(3))
	expect(t, c.do("DEL", "a", "nope"), int64(1))
	expect(t, c.do("UNLINK", "b"), int64(1))
	expect(t, c.do("TTL", "k"), int64(-1))
	expect(t, c.do("TTL", "nope"), int64(-2))
	expect(t, c.do("EXPIRE", "k", "100"), int64(1))
	expect(t, c.do("TTL", "k"), int64(100))
	expect(t, c.do("GET", "k"), []byte("v3"))
	expect(t, c.do("PERSIST", "k"), int64(1))
	expect(t, c.do("TTL", "k"), int64(-1))
	expect(t, c.do("SET", "t", "x", "PX", "100000"), "OK")
	if ttl := c.do("PTTL", "t").(int64); ttl <= 0 || ttl > 100000 {
		t.Fatalf("PTTL %d", ttl)
	}
	expectErr(t, c.do("SET", "t", "x", "EX", "0"), "ERR invalid expire")
	expectErr(t, c.do("SET", "t", "x", "NX", "XX"), "ERR syntax error")
	expectErr(t, c.do("GET"), "ERR wrong number of arguments for 'get' command")
	expectErr(t, c.do("NOSUCH", "a"), "ERR unknown command 'NOSUCH', with args beginning with: 'a'")
	expectErr(t, c.do("SET", "", "x"), "ERR empty keys")
	expect(t, c.do("CLIENT", "SETNAME", "me"), "OK")
	expect(t, c.do("CLIENT", "GETNAME"), []byte("me"))
	expect(t, c.do("CONFIG", "GET", "save"), []any{[]byte("save"), []byte("")})
	expect(t, c.do("CONFIG", "GET", "appendonly"), []any{[]byte("appendonly"), []byte("no")})
	expect(t, c.do("COMMAND", "COUNT"), int64(len(commandTable)))
	info := c.do("INFO").([]byte)
	for _, want := range []string{"# Server", "# Memory", "# Stats", "# Keyspace", "tier_cpu:"} {
		if !bytes.Contains(info, []byte(want)) {
			t.Fatalf("INFO lacks %q:\n%s", want, info)
		}
	}
	expect(t, c.do("FLUSHALL"), "OK")
	expect(t, c.do("DBSIZE"), int64(0))
	expect(t, c.do("QUIT"), "OK")
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Fatalf("after QUIT: %v, want EOF", err)
	}
}

func TestScanVisitsEveryKeyOnce(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	want := map[string]bool{}
	for i := range 300 {
		k := fmt.Sprintf("key:%d", i)
		want[k] = true
		expect(t, c.do("SET", k, "v"), "OK")
	}
	seen := map[string]bool{}
	cursor := "0"
	for rounds := 0; ; rounds++ {
		r := c.do("SCAN", cursor, "COUNT", 50).([]any)
		for _, k := range r[1].([]any) {
			if seen[string(k.([]byte))] {
				t.Fatalf("key %s returned twice", k)
			}
			seen[string(k.([]byte))] = true
		}
		cursor = string(r[0].([]byte))
		if cursor == "0" {
			break
		}
		if rounds > keyspaceShards {
			t.Fatal("SCAN does not terminate")
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("SCAN saw %d keys, want %d", len(seen), len(want))
	}
	r := c.do("SCAN", "0", "MATCH", "key:1?", "COUNT", 1000).([]any)
	if n := len(r[1].([]any)); n != 10 {
		t.Fatalf("MATCH key:1? found %d keys, want 10", n)
	}
}

func TestPipelineAndInline(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	var batch bytes.Buffer
	for i := range 100 {
		batch.Write(encode("SET", fmt.Sprintf("p%d", i), fmt.Sprintf("v%d", i)))
		batch.Write(encode("GET", fmt.Sprintf("p%d", i)))
	}
	batch.WriteString("PING\r\n")
	if _, err := c.nc.Write(batch.Bytes()); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		expect(t, c.reply(), "OK")
		expect(t, c.reply(), []byte(fmt.Sprintf("v%d", i)))
	}
	expect(t, c.reply(), "PONG")
	if _, err := io.WriteString(c.nc, "SET \"a b\" 'c d'\r\n\r\nGET \"a b\"\n"); err != nil {
		t.Fatal(err)
	}
	expect(t, c.reply(), "OK")
	expect(t, c.reply(), []byte("c d"))
}

func TestBinaryValuesAndLargeValues(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	for _, size := range []int{0, 1, 100, bigArg - 1, bigArg, directWrite, 1 << 20, 5<<20 + 3} {
		v := make([]byte, size)
		for i := range v {
			v[i] = byte(i*7 + size)
		}
		if size > 2 {
			copy(v, "\r\n$-1\r\n")
		}
		key := []byte(fmt.Sprintf("bin\x00\r\n%d", size))
		expect(t, c.do("SET", key, v), "OK")
		got := c.do("GET", key).([]byte)
		if !bytes.Equal(got, v) {
			t.Fatalf("size %d: value differs", size)
		}
	}
}

func TestAuth(t *testing.T) {
	_, addr := startServer(t, Config{AuthToken: "s3cret"})
	c := dial(t, addr)
	expectErr(t, c.do("GET", "k"), "NOAUTH")
	expectErr(t, c.do("PING"), "NOAUTH")
	expectErr(t, c.do("AUTH", "wrong"), "WRONGPASS")
	expectErr(t, c.do("AUTH", "bob", "s3cret"), "WRONGPASS")
	expect(t, c.do("AUTH", "s3cret"), "OK")
	expect(t, c.do("PING"), "PONG")
	c2 := dial(t, addr)
	expect(t, c2.do("AUTH", "default", "s3cret"), "OK")
	c3 := dial(t, addr)
	r := c3.do("HELLO", "2", "AUTH", "default", "s3cret").([]any)
	expect(t, r[0], []byte("server"))
	expect(t, c3.do("SET", "k", "v"), "OK")
}

func TestLimitsRefusedBeforeAllocating(t *testing.T) {
	_, addr := startServer(t, Config{Limits: Limits{MaxBulk: 1 << 20, MaxRequest: 3 << 20, MaxArgs: 16}})
	for _, tc := range []struct{ name, input, want string }{
		{"bulk over limit", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n", "ERR Protocol error: invalid bulk length"},
		{"huge bulk", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$999999999999999999\r\n", "ERR Protocol error: invalid bulk length"},
		{"too many args", "*17\r\n", "ERR Protocol error: invalid multibulk length"},
		{"negative bulk", "*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"},
		{"not a bulk", "*1\r\n:5\r\n", "ERR Protocol error: expected '$', got ':'"},
		{"unbalanced quotes", "SET \"a b\r\n", "ERR Protocol error: unbalanced quotes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			if _, err := io.WriteString(c.nc, tc.input); err != nil {
				t.Fatal(err)
			}
			expectErr(t, c.reply(), tc.want)
			if _, err := c.r.ReadByte(); err != io.EOF {
				t.Fatalf("connection not closed after protocol error: %v", err)
			}
		})
	}
	c := dial(t, addr)
	big := make([]byte, 1<<20)
	expect(t, c.do("MSET", "a", big, "b", big), "OK")
	// The server refuses at the third header, while the client is still
	// writing: write in the background and ignore the reset.
	go func() { _, _ = c.nc.Write(encode("MSET", "a", big, "b", big, "c", big, "d", big)) }()
	expectErr(t, c.reply(), "ERR Protocol error: request larger than")
}

func TestMaxConnsAndIdleTimeout(t *testing.T) {
	s, addr := startServer(t, Config{MaxConns: 2, IdleTimeout: 50 * time.Millisecond})
	a, b := dial(t, addr), dial(t, addr)
	expect(t, a.do("PING"), "PONG")
	expect(t, b.do("PING"), "PONG")
	c := dial(t, addr)
	expectErr(t, c.reply(), "ERR max number of clients reached")
	// A client that sends half a command and stalls is dropped by the
	// deadline (slow loris), freeing its slot.
	if _, err := io.WriteString(a.nc, "*2\r\n$3\r\nGET\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.r.ReadByte(); err != io.EOF {
		t.Fatalf("stalled client not closed: %v", err)
	}
	for s.Stats().ConnsCurrent > 1 {
		runtime.Gosched()
	}
	d := dial(t, addr)
	expect(t, d.do("PING"), "PONG")
}

func TestShutdownFinishesInFlight(t *testing.T) {
	s, addr := startServer(t, Config{})
	c := dial(t, addr)
	// A pipelined batch already sent completes before the connection closes.
	var batch bytes.Buffer
	for i := range 50 {
		batch.Write(encode("SET", fmt.Sprintf("k%d", i), "v"))
	}
	expect(t, c.do("PING"), "PONG")
	if _, err := c.nc.Write(batch.Bytes()); err != nil {
		t.Fatal(err)
	}
	expect(t, c.reply(), "OK") // the batch is being served
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 50; i++ {
		expect(t, c.reply(), "OK")
	}
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Fatalf("connection open after shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("listener still accepting after shutdown")
	}
}

// TestKeyspaceStaysBounded streams unique keys through a keyspace whose
// engine holds only the latest 1000: the remembered set (for SCAN) must not
// grow with every key ever written.
func TestKeyspaceStaysBounded(t *testing.T) {
	var ks keyspace
	var latest int
	ks.init(func(key []byte) bool {
		var i int
		fmt.Sscanf(string(key), "unique:%d", &i)
		return latest-i < 1000
	})
	const total = 300000
	for latest = range total {
		ks.add([]byte(fmt.Sprintf("unique:%d", latest)))
	}
	remembered := 0
	for i := range ks.shards {
		remembered += len(ks.shards[i].keys)
	}
	// Each shard holds at most twice its live keys or minPruneLimit.
	if limit := keyspaceShards * minPruneLimit; remembered > limit {
		t.Fatalf("keyspace remembers %d keys after %d unique adds with 1000 live (limit %d)", remembered, total, limit)
	}
}

func TestMultiExec(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	expect(t, c.do("MULTI"), "OK")
	expect(t, c.do("SET", "a", "1"), "QUEUED")
	expect(t, c.do("GET", "a"), "QUEUED")
	expect(t, c.do("EXISTS", "a", "b"), "QUEUED")
	expect(t, c.do("EXEC"), []any{"OK", []byte("1"), int64(1)})
	expect(t, c.do("MULTI"), "OK")
	expect(t, c.do("DEL", "a"), "QUEUED")
	expect(t, c.do("DISCARD"), "OK")
	expect(t, c.do("GET", "a"), []byte("1"))
	expectErr(t, c.do("EXEC"), "ERR EXEC without MULTI")
	expect(t, c.do("MULTI"), "OK")
	expectErr(t, c.do("MULTI"), "ERR MULTI calls can not be nested")
	expect(t, c.do("EXEC"), []any{})
}

func TestStringReadModifyWrite(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	expect(t, c.do("SETEX", "e", "100", "v"), "OK")
	if ttl := c.do("TTL", "e").(int64); ttl != 100 {
		t.Fatalf("SETEX ttl %d", ttl)
	}
	expect(t, c.do("PSETEX", "p", "100000", "v"), "OK")
	expectErr(t, c.do("SETEX", "e", "0", "v"), "ERR invalid expire time in 'setex' command")
	expect(t, c.do("SETNX", "n", "1"), int64(1))
	expect(t, c.do("SETNX", "n", "2"), int64(0))
	expect(t, c.do("GET", "n"), []byte("1"))
	expect(t, c.do("INCR", "n"), int64(2))
	expect(t, c.do("INCRBY", "n", "40"), int64(42))
	expect(t, c.do("DECR", "fresh"), int64(-1))
	expect(t, c.do("DECRBY", "n", "2"), int64(40))
	expectErr(t, c.do("INCR", "e"), "ERR value is not an integer")
	expect(t, c.do("SET", "max", "9223372036854775807"), "OK")
	expectErr(t, c.do("INCR", "max"), "ERR increment or decrement would overflow")
	expect(t, c.do("APPEND", "a", "foo"), int64(3))
	expect(t, c.do("APPEND", "a", "bar"), int64(6))
	expect(t, c.do("GETDEL", "a"), []byte("foobar"))
	expect(t, c.do("GETDEL", "a"), nil)
	expect(t, c.do("EXPIRE", "n", "50"), int64(1))
	expect(t, c.do("INCR", "n"), int64(41))
	if ttl := c.do("TTL", "n").(int64); ttl <= 0 || ttl > 50 {
		t.Fatalf("INCR lost the TTL: %d", ttl)
	}
}

func TestHTTPToRESPPortIsDropped(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	if _, err := io.WriteString(c.nc, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nSET k v\r\n"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c.r)
	if err != nil || len(b) != 0 {
		t.Fatalf("HTTP request answered: %q %v", b, err)
	}
}
