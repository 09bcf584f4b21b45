package node

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/node/native"
)

// helperEnv makes the test binary run a node helper instead of the tests
// (see TestMain); the STRATACACHE_TEST_ prefix is reserved for tests.
const helperEnv = "STRATACACHE_TEST_NODE_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		if err := runHelper(h); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runHelper runs a node on loopback port 0 (testConfig, then the
// STRATACACHE_* variables of its environment), prints its RESP and native
// addresses and serves until stdin closes. "emfile:N" first lowers
// RLIMIT_NOFILE to N; "serve" runs it as it is (the soak's node).
func runHelper(h string) error {
	var limit uint64
	if _, err := fmt.Sscanf(h, "emfile:%d", &limit); err == nil {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
			return err
		}
	} else if h != "serve" {
		return fmt.Errorf("unknown helper %q", h)
	}
	cfg := testConfig()
	if err := cfg.ApplyEnv(os.LookupEnv); err != nil {
		return err
	}
	n, err := New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	n.Start()
	fmt.Printf("resp=%s native=%s\n", n.Addrs().RESP, n.Addrs().Native)
	_, _ = io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Shutdown(ctx)
}

// TestAcceptSurvivesEMFILE: a node limited to 64 file descriptors gets 100
// connections at once. Accepts past the limit fail with EMFILE; the node
// backs off and keeps running (it used to shut down), and serves again once
// the connections close.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=emfile:64")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	defer func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper did not start: %v\n%s", err, stderr.String())
	}
	go func() { exited <- cmd.Wait() }()
	addr := strings.TrimPrefix(strings.Fields(line)[0], "resp=")

	var conns []net.Conn
	for range 100 {
		nc, err := net.Dial("tcp", addr) // the kernel completes it; the node may fail to accept it
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
	}
	// Those the node accepted answer; wait until it has hit the limit.
	answered := 0
	for _, nc := range conns {
		_, _ = nc.Write([]byte("PING\r\n"))
	}
	deadline := time.Now().Add(time.Second) // one deadline for all: unaccepted ones time out together
	for _, nc := range conns {
		_ = nc.SetReadDeadline(deadline)
		if reply, err := bufio.NewReader(nc).ReadString('\n'); err == nil && reply == "+PONG\r\n" {
			answered++
		}
	}
	if answered == 100 {
		t.Fatal("all 100 connections were served under a limit of 64 descriptors: the test did not hit EMFILE")
	}
	select {
	case err := <-exited:
		t.Fatalf("node exited under EMFILE: %v\n%s", err, stderr.String())
	default:
	}
	for _, nc := range conns {
		_ = nc.Close()
	}
	// Descriptors free again: a new client is served.
	deadline = time.Now().Add(10 * time.Second)
	for {
		if reply, err := pingOnce(addr); err == nil && reply == "+PONG\r\n" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("node does not serve after the burst: %q %v\n%s", reply, err, stderr.String())
		}
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rw := bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriter(nc))
	info := respDo(t, rw, "INFO", "stats")
	if !strings.Contains(info, "accept_errors:") || strings.Contains(info, "accept_errors:0\r") {
		t.Errorf("accept errors not counted:\n%s", info)
	}
	if n := strings.Count(stderr.String(), "accept failing"); n < 1 {
		t.Errorf("no warning logged for the burst")
	}
}

func pingOnce(addr string) (string, error) {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(time.Second))
	if _, err := nc.Write([]byte("PING\r\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(nc).ReadString('\n')
}

// stalledDial connects with a 4 KiB receive buffer: a client that then
// reads nothing stalls the server's reply writes at once.
func stalledDial(t testing.TB, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return nc
}

// TestShutdownWithStalledReaders: clients that asked for a 16 MiB value on
// each port and read nothing do not hold the shutdown: their writes get the
// shutdown write grace, and Shutdown returns without hitting its deadline.
func TestShutdownWithStalledReaders(t *testing.T) {
	cfg := testConfig()
	cfg.CPUCapacityMB = 64
	n, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	a := n.Addrs()
	id := artifact.MustID(artifact.NamespaceBlob, "big")
	if err := n.Engine().Store(context.Background(), id, make([]byte, 16<<20), storeOpts()); err != nil {
		t.Fatal(err)
	}
	r := stalledDial(t, a.RESP)
	if _, err := io.WriteString(r, "GET big\r\n"); err != nil {
		t.Fatal(err)
	}
	nat := stalledDial(t, a.Native)
	var req []byte
	req, _ = native.AppendFrameHead(req, &messages.FrameHeader{Op: messages.Op_OP_HELLO, RequestId: 1}, 0)
	req, _ = native.AppendFrameHead(req, &messages.FrameHeader{Op: messages.Op_OP_GET, RequestId: 2,
		Ids: []*messages.ArtifactID{messages.IDToProto(id)}}, 0)
	if _, err := nat.Write(req); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "both GETs to be in flight", func() bool { return n.Requests() >= 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with stalled readers: %v", err)
	}
	t.Logf("shutdown with 2 stalled readers took %v", time.Since(start))
	if st := n.resp.Stats().WriteStalls + n.native.Stats().WriteStalls; st != 2 {
		t.Errorf("%d stalled readers counted, want 2", st)
	}
}

func storeOpts() actors.StoreOptions { return actors.StoreOptions{} }

// syncBuffer is a strings.Builder a child's output copier may write while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAdminExposure: with a token, the admin port answers the probes to
// anyone and everything else (metrics, stats, the web view, pprof) only
// with the token; pprof exists only when telemetry.pprof is set.
func TestAdminExposure(t *testing.T) {
	cfg := testConfig()
	cfg.Auth.Token = "s3cret"
	cfg.Telemetry.Pprof = true
	n := startNode(t, cfg)
	base := "http://" + n.Addrs().Admin
	get := func(path string, auth func(*http.Request)) int {
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != nil {
			auth(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	basic := func(r *http.Request) { r.SetBasicAuth("admin", "s3cret") }
	for _, p := range []string{"/healthz", "/readyz"} {
		if code := get(p, nil); code != 200 {
			t.Errorf("%s without token: %d, want 200 (probes stay open)", p, code)
		}
	}
	for _, p := range []string{"/metrics", "/stats.txt", "/", "/v1/stats", "/debug/pprof/", "/debug/pprof/cmdline"} {
		if code := get(p, nil); code != 401 {
			t.Errorf("%s without token: %d, want 401", p, code)
		}
		if code := get(p, bearer("wrong")); code != 401 {
			t.Errorf("%s with a wrong token: %d, want 401", p, code)
		}
		if code := get(p, bearer("s3cret")); code != 200 {
			t.Errorf("%s with the token: %d, want 200", p, code)
		}
		if code := get(p, basic); code != 200 {
			t.Errorf("%s with basic auth: %d, want 200", p, code)
		}
	}
	// Without telemetry.pprof there is no profiler, token or not.
	cfg.Telemetry.Pprof = false
	n2 := startNode(t, cfg)
	base = "http://" + n2.Addrs().Admin
	if code := get("/debug/pprof/cmdline", bearer("s3cret")); code != 404 {
		t.Errorf("pprof off: %d, want 404", code)
	}
}
