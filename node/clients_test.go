package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/node/native"
)

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (apt-get install -y redis-tools): skipping the real-client test", name)
	}
	return p
}

func TestRedisCLI(t *testing.T) {
	cli := needTool(t, "redis-cli")
	n := startNode(t, testConfig())
	host, port, _ := net.SplitHostPort(n.Addrs().RESP)
	run := func(stdin []byte, args ...string) string {
		t.Helper()
		cmd := exec.Command(cli, append([]string{"-h", host, "-p", port}, args...)...)
		if stdin != nil {
			cmd.Stdin = bytes.NewReader(stdin)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run(nil, "PING"); got != "PONG" {
		t.Fatalf("PING: %q", got)
	}
	if got := run(nil, "SET", "greeting", "hello world"); got != "OK" {
		t.Fatalf("SET: %q", got)
	}
	if got := run(nil, "GET", "greeting"); got != "hello world" {
		t.Fatalf("GET: %q", got)
	}
	bin := []byte{0, 1, 2, '\r', '\n', 0xff, 0xfe}
	if got := run(bin, "-x", "SET", "bin"); got != "OK" {
		t.Fatalf("SET -x: %q", got)
	}
	if got := run(nil, "STRLEN", "bin"); got != strconv.Itoa(len(bin)) {
		t.Fatalf("STRLEN: %q", got)
	}
	if got := run(nil, "EXISTS", "greeting", "bin", "nope"); got != "2" {
		t.Fatalf("EXISTS: %q", got)
	}
	if got := run(nil, "--scan"); !strings.Contains(got, "greeting") || !strings.Contains(got, "bin") {
		t.Fatalf("--scan: %q", got)
	}
	if got := run(nil, "DBSIZE"); got != "2" {
		t.Fatalf("DBSIZE: %q", got)
	}
	if got := run(nil, "INFO", "stratacache"); !strings.Contains(got, "tier_cpu:") {
		t.Fatalf("INFO: %q", got)
	}
	if got := run(nil, "FOO"); !strings.Contains(got, "unknown command") {
		t.Fatalf("unknown: %q", got)
	}
	if got := run(nil, "DEL", "greeting"); got != "1" {
		t.Fatalf("DEL: %q", got)
	}
}

func TestRedisBenchmark(t *testing.T) {
	bench := needTool(t, "redis-benchmark")
	n := startNode(t, testConfig())
	host, port, _ := net.SplitHostPort(n.Addrs().RESP)
	for _, args := range [][]string{
		{"-t", "set,get", "-n", "2000", "-c", "4", "-d", "4096"},
		{"-t", "set,get,mset", "-n", "500", "-c", "16", "-P", "8", "-r", "100"},
	} {
		cmd := exec.Command(bench, append([]string{"-h", host, "-p", port, "--csv"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("redis-benchmark %v: %v\n%s", args, err, out)
		}
		for _, test := range []string{`"SET"`, `"GET"`} {
			if !strings.Contains(string(out), test) {
				t.Fatalf("redis-benchmark %v: no %s result\n%s", args, test, out)
			}
		}
		if strings.Contains(strings.ToLower(string(out)), "error") {
			t.Fatalf("redis-benchmark reported errors:\n%s", out)
		}
	}
}

// TestLMCacheSequence replays what LMCache's redis:// remote connector does
// with a chunk: EXISTS key+"metadata"; SET key+"kv_bytes" then
// key+"metadata"; GET metadata then kv_bytes; DEL. Values are binary.
func TestLMCacheSequence(t *testing.T) {
	n := startNode(t, testConfig())
	rw := dialRESP(t, n.Addrs().RESP)
	r := rand.New(rand.NewPCG(1, 2))
	for chunk := range 8 {
		key := fmt.Sprintf("vllm@meta-llama/Llama-3-8B@1@0@%016x", r.Uint64())
		kvBytes := make([]byte, 1<<20+chunk*4099)
		for i := range kvBytes {
			kvBytes[i] = byte(r.Uint32())
		}
		meta := []byte{0, 0, 0, 1, 0, 0, 1, 0, '\r', '\n', 0xff, byte(chunk)}
		if got := respDo(t, rw, "EXISTS", key+"metadata"); got != ":0" {
			t.Fatalf("EXISTS before store: %s", got)
		}
		if got := respDo(t, rw, "SET", key+"kv_bytes", string(kvBytes)); got != "+OK" {
			t.Fatalf("SET kv_bytes: %s", got)
		}
		if got := respDo(t, rw, "SET", key+"metadata", string(meta)); got != "+OK" {
			t.Fatalf("SET metadata: %s", got)
		}
		if got := respDo(t, rw, "EXISTS", key+"metadata"); got != ":1" {
			t.Fatalf("EXISTS after store: %s", got)
		}
		if got := respDo(t, rw, "GET", key+"metadata"); got != string(meta) {
			t.Fatalf("GET metadata differs")
		}
		if got := respDo(t, rw, "GET", key+"kv_bytes"); got != string(kvBytes) {
			t.Fatalf("GET kv_bytes differs")
		}
		if got := respDo(t, rw, "DEL", key+"metadata", key+"kv_bytes"); got != ":2" {
			t.Fatalf("DEL: %s", got)
		}
		if got := respDo(t, rw, "GET", key+"kv_bytes"); got != "$-1" {
			t.Fatalf("GET after DEL: %s", got)
		}
	}
}

// TestGarbageDoesNotHarmTheNode throws 10,000 random and mutated inputs at
// both data ports of a live node, then checks that it still serves and
// that no artifact was half-written.
func TestGarbageDoesNotHarmTheNode(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.MaxPayloadMB = 1
	cfg.Limits.MaxRequestMB = 2
	cfg.Limits.IdleTimeoutS = 0.2 // stalled inputs (truncated frames) are cut quickly
	n := startNode(t, cfg)
	a := n.Addrs()
	r := rand.New(rand.NewPCG(7, 7))

	respSeeds := [][]byte{
		[]byte("*3\r\n$3\r\nSET\r\n$4\r\ngood\r\n$5\r\nvalue\r\n"),
		[]byte("*2\r\n$3\r\nGET\r\n$4\r\ngood\r\n"),
		[]byte("PING\r\n"),
		[]byte("*5\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"),
	}
	hello, _ := native.AppendFrameHead(nil, &messages.FrameHeader{Op: messages.Op_OP_HELLO, RequestId: 1}, 0)
	put, _ := native.AppendFrameHead(nil, &messages.FrameHeader{Op: messages.Op_OP_PUT, RequestId: 2, PayloadLength: 5,
		Ids: []*messages.ArtifactID{messages.IDToProto(artifact.MustID(artifact.NamespaceKV, "good"))}}, 5)
	put = append(put, "value"...)
	nativeSeeds := [][]byte{append(append([]byte{}, hello...), put...), hello}

	mutate := func(seed []byte) []byte {
		b := append([]byte(nil), seed...)
		switch r.IntN(4) {
		case 0: // random bytes
			b = make([]byte, r.IntN(64))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
		case 1: // flip bytes
			for range 1 + r.IntN(4) {
				if len(b) > 0 {
					b[r.IntN(len(b))] = byte(r.Uint32())
				}
			}
		case 2: // truncate
			if len(b) > 0 {
				b = b[:r.IntN(len(b))]
			}
		case 3: // splice two seeds
			b = append(b[:r.IntN(len(b)+1)], seed[r.IntN(len(seed)+1):]...)
		}
		return b
	}
	const inputs = 10000
	conns := 0
	for i := 0; i < inputs; {
		addr, seeds := a.RESP, respSeeds
		if conns%2 == 1 {
			addr, seeds = a.Native, nativeSeeds
		}
		conns++
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial after %d inputs: %v", i, err)
		}
		// Up to 50 inputs per connection (the node may close it earlier).
		var batch []byte
		for j := 0; j < 50 && i < inputs; j++ {
			batch = append(batch, mutate(seeds[r.IntN(len(seeds))])...)
			i++
		}
		go func() { _, _ = io.Copy(io.Discard, nc) }()
		_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = nc.Write(batch)
		_ = nc.Close()
	}
	// Wait until the node has read (and dropped) every garbage connection.
	deadline := time.Now().Add(20 * time.Second)
	for n.resp.Stats().ConnsCurrent+n.native.Stats().ConnsCurrent > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("garbage connections still open: resp %d native %d",
				n.resp.Stats().ConnsCurrent, n.native.Stats().ConnsCurrent)
		}
		runtime.Gosched()
	}
	if n.resp.Stats().ProtocolErrors == 0 || n.native.Stats().ProtocolErrors == 0 {
		t.Fatalf("no protocol errors seen: resp %+v native %+v", n.resp.Stats(), n.native.Stats())
	}
	// The node still serves, on both ports.
	rw := dialRESP(t, a.RESP)
	if got := respDo(t, rw, "SET", "after", "ok"); got != "+OK" {
		t.Fatalf("RESP after garbage: %s", got)
	}
	if got := respDo(t, rw, "GET", "after"); got != "ok" {
		t.Fatalf("RESP after garbage: %s", got)
	}
	c, err := native.Dial(context.Background(), a.Native, native.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Whatever was stored under "good" is whole: one of the values sent.
	if v, _, err := c.Get(context.Background(), nil, artifact.MustID(artifact.NamespaceKV, "good")); err == nil {
		if len(v) != 5 {
			t.Fatalf("half-written artifact: %q", v)
		}
	}
}

// TestRedisCLIOverTLSWithAuth: a real client against the TLS + auth port.
func TestRedisCLIOverTLSWithAuth(t *testing.T) {
	cli := needTool(t, "redis-cli")
	cfg := testConfig()
	cfg.TLS.Cert, cfg.TLS.Key, _ = writeCert(t)
	cfg.Auth.Token = "s3cret"
	n := startNode(t, cfg)
	host, port, _ := net.SplitHostPort(n.Addrs().RESP)
	out, err := exec.Command(cli, "-h", host, "-p", port, "--tls", "--cacert", cfg.TLS.Cert,
		"--no-auth-warning", "-a", "s3cret", "SET", "k", "over-tls").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "OK" {
		t.Fatalf("redis-cli --tls SET: %v %q", err, out)
	}
	out, err = exec.Command(cli, "-h", host, "-p", port, "--tls", "--cacert", cfg.TLS.Cert, "GET", "k").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "NOAUTH") {
		t.Fatalf("redis-cli --tls without a password: %v %q", err, out)
	}
}

// TestRedisPyLMCacheSequence runs the LMCache connector's calls through
// redis-py, the client LMCache uses (Debian: python3-redis), sync and
// asyncio, including a MULTI/EXEC pipeline and scan_iter.
func TestRedisPyLMCacheSequence(t *testing.T) {
	var python string
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import redis, redis.asyncio").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		t.Skip("redis-py not installed (apt-get install -y python3-redis): skipping")
	}
	n := startNode(t, testConfig())
	host, port, _ := net.SplitHostPort(n.Addrs().RESP)
	out, err := exec.Command(python, "testdata/lmcache_redis.py", host, port).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("redis-py LMCache sequence: %v\n%s", err, out)
	}
}
