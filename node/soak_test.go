package node

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The soak and the pre-auth RSS measure run only when asked (docs/node.md):
//
//	go test ./node -run 'TestSoak|TestPreAuthRSS' -soak 60s -soak-conns 1000 -v
var (
	soakFor   = flag.Duration("soak", 0, "run TestSoak (and TestPreAuthRSS) for this long; 0 skips them")
	soakConns = flag.Int("soak-conns", 1000, "connections of TestSoak and TestPreAuthRSS")
)

// helperNode is a node in a child process (runHelper "serve"), so that its
// RSS is its own.
type helperNode struct {
	cmd          *exec.Cmd
	stdin        io.WriteCloser
	resp, native string
	stderr       *syncBuffer
	exited       chan error
}

func startHelperNode(t *testing.T, env ...string) *helperNode {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"=serve"), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h := &helperNode{cmd: cmd, stdin: stdin, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = h.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper node did not start: %v\n%s", err, h.stderr.String())
	}
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		if k == "resp" {
			h.resp = v
		} else if k == "native" {
			h.native = v
		}
	}
	go func() { h.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-h.exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-h.exited
		}
	})
	return h
}

// rssBytes is the child's resident set (VmRSS).
func (h *helperNode) rssBytes(t *testing.T) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("node process gone: %v\n%s", err, h.stderr.String())
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestPreAuthRSS measures the node's RSS with -soak-conns idle
// unauthenticated connections, each of which sent the largest request the
// pre-auth limits allow (10 arguments of 16 KiB: answered NOAUTH, the
// connection stays open).
func TestPreAuthRSS(t *testing.T) {
	if *soakFor == 0 {
		t.Skip("a measure: run with -soak (see docs/node.md)")
	}
	h := startHelperNode(t, "STRATACACHE_AUTH_TOKEN=tok")
	base := h.rssBytes(t)
	arg := strings.Repeat("a", 16<<10)
	req := respCmdArgs(append([]string{"SET"}, repeat(arg, 9)...))
	conns := make([]net.Conn, 0, *soakConns)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := range *soakConns {
		nc, err := net.Dial("tcp", h.resp)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, nc)
		if _, err := nc.Write(req); err != nil {
			t.Fatal(err)
		}
	}
	for i, nc := range conns {
		_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := bufio.NewReader(nc).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "-NOAUTH") {
			t.Fatalf("connection %d: %q %v", i, line, err)
		}
	}
	rss := h.rssBytes(t)
	t.Logf("node RSS: %.1f MiB idle, %.1f MiB with %d unauthenticated connections that each sent a %d KiB request (%.1f KiB per connection)",
		float64(base)/(1<<20), float64(rss)/(1<<20), len(conns), len(req)>>10, float64(rss-base)/1024/float64(len(conns)))
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func respCmdArgs(args []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.Bytes()
}

// TestSoak: -soak-conns connections against a node in a child process for
// -soak: most are well-behaved clients (SET, GET and DEL of their own keys,
// values of 1 KiB to 256 KiB, every GET checked against the client's model
// and every key checked at the end), the rest misbehave — stalled readers
// of a 4 MiB value, values half sent and then held, disconnects in the
// middle of a value, unauthenticated clients sending the largest pre-auth
// request. The node's RSS is sampled throughout and must stay under the
// CPU tier plus the in-flight budget plus 256 MiB.
func TestSoak(t *testing.T) {
	if *soakFor == 0 {
		t.Skip("a soak: run with -soak (see docs/node.md)")
	}
	const cpuMB, inflightMB = 512, 256
	h := startHelperNode(t, "STRATACACHE_AUTH_TOKEN=tok", fmt.Sprintf("STRATACACHE_CPU_CAPACITY_MB=%d", cpuMB),
		fmt.Sprintf("STRATACACHE_LIMITS_MAX_INFLIGHT_MB=%d", inflightMB), "STRATACACHE_LIMITS_MAX_CONNECTIONS=4096",
		"STRATACACHE_LIMITS_WRITE_TIMEOUT_S=2", "STRATACACHE_LIMITS_READ_TIMEOUT_S=2")
	auth := respCmdArgs([]string{"AUTH", "tok"})
	// A 4 MiB value the stalled readers ask for.
	{
		nc, err := net.Dial("tcp", h.resp)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(nc)
		_, _ = nc.Write(append(auth, respCmdArgs([]string{"SET", "big", strings.Repeat("b", 4<<20)})...))
		for range 2 {
			if line, err := br.ReadString('\n'); err != nil || line != "+OK\r\n" {
				t.Fatalf("setup: %q %v", line, err)
			}
		}
		_ = nc.Close()
	}
	deadline := time.Now().Add(*soakFor)
	var (
		wg                   sync.WaitGroup
		ops, checked, busy   atomic.Int64
		misbehaved, failures atomic.Int64
		maxRSS               atomic.Int64
		firstErr             sync.Once
		errText              string
	)
	fail := func(format string, args ...any) {
		failures.Add(1)
		firstErr.Do(func() { errText = fmt.Sprintf(format, args...) })
	}
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tk := time.NewTicker(250 * time.Millisecond)
		defer tk.Stop()
		for {
			if r := h.rssBytes(t); r > maxRSS.Load() {
				maxRSS.Store(r)
			}
			select {
			case <-stopSampling:
				return
			case <-tk.C:
			}
		}
	}()
	for c := range *soakConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 99))
			switch kind := c % 20; {
			case kind < 16:
				soakClient(h.resp, auth, c, rng, deadline, &ops, &checked, &busy, fail)
			case kind == 16:
				misbehaved.Add(soakStalledReader(h.resp, auth, deadline))
			case kind == 17:
				misbehaved.Add(soakHalfSent(h.resp, auth, rng, deadline))
			case kind == 18:
				misbehaved.Add(soakDisconnectMidValue(h.resp, auth, rng, deadline))
			default:
				misbehaved.Add(soakPreAuth(h.resp, deadline))
			}
		}()
	}
	wg.Wait()
	close(stopSampling)
	<-sampled
	select {
	case err := <-h.exited:
		t.Fatalf("node exited during the soak: %v\n%s", err, h.stderr.String())
	default:
	}
	bound := int64(cpuMB+inflightMB+256) << 20
	t.Logf("soak %v, %d connections: %d operations by well-behaved clients (%d values checked, %d -BUSY retried), %d misbehaving sessions, %d failures; node RSS max %.0f MiB (bound %d MiB)",
		*soakFor, *soakConns, ops.Load(), checked.Load(), busy.Load(), misbehaved.Load(), failures.Load(),
		float64(maxRSS.Load())/(1<<20), bound>>20)
	if failures.Load() > 0 {
		t.Fatalf("%d failures, first: %s", failures.Load(), errText)
	}
	if maxRSS.Load() > bound {
		t.Fatalf("node RSS reached %d MiB, over the bound of %d MiB", maxRSS.Load()>>20, bound>>20)
	}
}

// soakClient is a well-behaved client: its own keys, a model of their
// values, every GET compared, every key checked at the end. -BUSY (the
// in-flight budget full) is retried; anything else is a failure.
func soakClient(addr string, auth []byte, c int, rng *rand.Rand, deadline time.Time,
	ops, checked, busy *atomic.Int64, fail func(string, ...any)) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		fail("client %d: dial: %v", c, err)
		return
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	do := func(args ...string) (string, []byte, error) {
		for {
			_ = nc.SetDeadline(time.Now().Add(60 * time.Second))
			if _, err := nc.Write(respCmdArgs(args)); err != nil {
				return "", nil, err
			}
			line, err := br.ReadString('\n')
			if err != nil {
				return "", nil, err
			}
			if strings.HasPrefix(line, "-BUSY") {
				busy.Add(1)
				continue
			}
			if line[0] != '$' || line == "$-1\r\n" {
				return line, nil, nil
			}
			n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
			b := make([]byte, n+2)
			if _, err := io.ReadFull(br, b); err != nil {
				return "", nil, err
			}
			return line, b[:n], nil
		}
	}
	if line, _, err := do("AUTH", "tok"); err != nil || line != "+OK\r\n" {
		fail("client %d: AUTH %q %v", c, line, err)
		return
	}
	_ = auth
	model := map[string][]byte{}
	for i := 0; time.Now().Before(deadline); i++ {
		key := fmt.Sprintf("soak:%d:%d", c, rng.IntN(4))
		switch r := rng.IntN(10); {
		case r < 4:
			v := make([]byte, 1<<10+rng.IntN(255<<10))
			for j := range v {
				v[j] = byte(c + i + j)
			}
			line, _, err := do("SET", key, string(v))
			if err != nil || line != "+OK\r\n" {
				fail("client %d: SET %s: %q %v", c, key, line, err)
				return
			}
			model[key] = v
		case r < 9:
			line, got, err := do("GET", key)
			if err != nil {
				fail("client %d: GET %s: %v", c, key, err)
				return
			}
			want, ok := model[key]
			if (line == "$-1\r\n") == ok || (ok && !bytes.Equal(got, want)) {
				fail("client %d: GET %s: %d bytes (%q), model has %v/%d bytes", c, key, len(got), line, ok, len(want))
				return
			}
			checked.Add(1)
		default:
			line, _, err := do("DEL", key)
			if err != nil || !strings.HasPrefix(line, ":") {
				fail("client %d: DEL %s: %q %v", c, key, line, err)
				return
			}
			delete(model, key)
		}
		ops.Add(1)
	}
	for key, want := range model {
		line, got, err := do("GET", key)
		if err != nil || !bytes.Equal(got, want) {
			fail("client %d: final GET %s: %q %d bytes %v", c, key, line, len(got), err)
			return
		}
		checked.Add(1)
	}
}

// soakStalledReader asks for the 4 MiB value and reads nothing, with a
// tiny receive window, until the node gives up on it; then again.
func soakStalledReader(addr string, auth []byte, deadline time.Time) int64 {
	var n int64
	for time.Now().Before(deadline) {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}
		nc, err := d.Dial("tcp", addr)
		if err != nil {
			return n
		}
		_, _ = nc.Write(append(append([]byte(nil), auth...), respCmdArgs([]string{"GET", "big"})...))
		// Wait (reading nothing) until the node closes it or the soak ends.
		waitClosedWithoutReading(nc, deadline)
		_ = nc.Close()
		n++
	}
	return n
}

// waitClosedWithoutReading polls the socket's state without taking bytes
// from it: a zero-length peek would consume nothing, so use MSG_PEEK.
func waitClosedWithoutReading(nc net.Conn, deadline time.Time) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 1)
	for time.Now().Before(deadline) {
		closed := false
		_ = rc.Control(func(fd uintptr) {
			n, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			closed = n == 0 && err == nil || (err != nil && !errors.Is(err, syscall.EAGAIN))
		})
		if closed {
			return
		}
		time.Sleep(100 * time.Millisecond) // polling a peer's state, bounded by the soak's deadline
	}
}

// soakHalfSent declares an 8 MiB value, sends half of it and holds the
// connection until the node cuts it off (read timeout); then again.
func soakHalfSent(addr string, auth []byte, rng *rand.Rand, deadline time.Time) int64 {
	var n int64
	for time.Now().Before(deadline) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return n
		}
		req := respCmdArgs([]string{"SET", fmt.Sprintf("half:%d", rng.IntN(1000)), strings.Repeat("h", 8<<20)})
		_, _ = nc.Write(append(append([]byte(nil), auth...), req[:len(req)/2]...))
		_ = nc.SetReadDeadline(deadline)
		_, _ = io.Copy(io.Discard, nc) // +OK of AUTH, then EOF when the node gives up
		_ = nc.Close()
		n++
	}
	return n
}

// soakDisconnectMidValue sends part of a 1 MiB value and closes.
func soakDisconnectMidValue(addr string, auth []byte, rng *rand.Rand, deadline time.Time) int64 {
	var n int64
	for time.Now().Before(deadline) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return n
		}
		req := respCmdArgs([]string{"SET", fmt.Sprintf("cut:%d", rng.IntN(1000)), strings.Repeat("c", 1<<20)})
		_, _ = nc.Write(append(append([]byte(nil), auth...), req[:rng.IntN(len(req)-2)+1]...))
		_ = nc.Close()
		n++
		time.Sleep(20 * time.Millisecond) // pacing this client's loop, not synchronisation
	}
	return n
}

// soakPreAuth sends the largest pre-auth request and then a declared
// 60 MB value (refused on its header line), reconnecting each time.
func soakPreAuth(addr string, deadline time.Time) int64 {
	var n int64
	arg := strings.Repeat("p", 16<<10)
	for time.Now().Before(deadline) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return n
		}
		_, _ = nc.Write(respCmdArgs(append([]string{"SET"}, repeat(arg, 9)...)))
		_, _ = nc.Write([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$60000000\r\n"))
		_ = nc.SetReadDeadline(deadline)
		_, _ = io.Copy(io.Discard, nc) // NOAUTH, the protocol error, EOF
		_ = nc.Close()
		n++
	}
	return n
}
