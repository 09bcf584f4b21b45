package node

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/node/native"
)

// TestIncrAtomicAgainstPutFromTheOtherPort: two RESP clients INCR a key
// while a native client PUTs ever larger bases into it. Checked in real
// time: an INCR that starts after a PUT of base b was acknowledged must
// return more than b (the PUT cannot be lost to an INCR that read the
// value before it and stored after it), and no two INCRs return the same
// value (no lost increment).
func TestIncrAtomicAgainstPutFromTheOtherPort(t *testing.T) {
	n := startNode(t, testConfig())
	a := n.Addrs()
	ctx := context.Background()
	id := artifact.MustID(artifact.NamespaceBlob, "counter")
	nc, err := native.Dial(ctx, a.Native, native.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const base = 1_000_000_000
	var mu sync.Mutex
	acked := []time.Time{} // acked[k] is when the PUT of (k+1)*base was acknowledged
	type incr struct {
		start time.Time
		val   int64
	}
	var incrs []incr
	var wg sync.WaitGroup
	for c := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rw := dialRESP(t, a.RESP)
			for i := range 400 {
				start := time.Now()
				reply := respDo(t, rw, "INCR", "counter")
				v, err := strconv.ParseInt(strings.TrimPrefix(reply, ":"), 10, 64)
				if err != nil {
					t.Errorf("client %d INCR %d: %q", c, i, reply)
					return
				}
				mu.Lock()
				incrs = append(incrs, incr{start, v})
				mu.Unlock()
			}
		}()
	}
	for k := 1; k <= 300; k++ {
		if err := nc.Put(ctx, id, []byte(strconv.Itoa(k*base)), artifact.Meta{}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		acked = append(acked, time.Now())
		mu.Unlock()
	}
	wg.Wait()
	seen := map[int64]bool{}
	for _, in := range incrs {
		if seen[in.val] {
			t.Fatalf("two INCRs returned %d: an increment was lost", in.val)
		}
		seen[in.val] = true
		// The latest PUT acknowledged before this INCR started.
		k := 0
		for k < len(acked) && acked[k].Before(in.start) {
			k++
		}
		if k > 0 && in.val <= int64(k)*base {
			t.Fatalf("INCR started after the PUT of %d was acknowledged returned %d: the PUT was lost", k*base, in.val)
		}
	}
	t.Logf("%d INCRs against 300 PUTs", len(incrs))
}

// TestExpireCannotUndoDelete: EXPIRE changes the TTL in place, so an
// EXPIRE racing a DEL never brings the key back (it used to re-store the
// value it had read).
func TestExpireCannotUndoDelete(t *testing.T) {
	n := startNode(t, testConfig())
	a := n.Addrs()
	rw := dialRESP(t, a.RESP)
	val := strings.Repeat("v", 64<<10)
	for round := range 200 {
		key := fmt.Sprintf("k%d", round%7)
		if r := respDo(t, rw, "SET", key, val); r != "+OK" {
			t.Fatal(r)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			ex := dialRESP(t, a.RESP)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := respDo(t, ex, "EXPIRE", key, "100"); r != ":1" && r != ":0" {
					t.Errorf("EXPIRE: %q", r)
					return
				}
			}
		}()
		if r := respDo(t, rw, "DEL", key); r != ":1" {
			t.Fatalf("DEL: %q", r)
		}
		close(stop)
		<-done
		if r := respDo(t, rw, "EXISTS", key); r != ":0" {
			t.Fatalf("round %d: %s exists after an acknowledged DEL (an EXPIRE brought it back)", round, key)
		}
	}
}

// TestConfigSetAppliesOrRefuses: CONFIG SET changes what it names, on
// both data ports and the admin port, or answers an error naming the
// parameter; never OK for nothing.
func TestConfigSetAppliesOrRefuses(t *testing.T) {
	n := startNode(t, testConfig())
	a := n.Addrs()
	rw := dialRESP(t, a.RESP)
	for cmd, want := range map[string]string{
		"maxmemory 1":                   "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - can't set immutable config",
		"nonsense-param 123":            "-ERR Unknown option or number of arguments for CONFIG SET - 'nonsense-param'",
		"maxclients many":               "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed",
		"timeout 60 maxmemory-policy x": "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy')",
	} {
		if got := respDo(t, rw, append([]string{"CONFIG", "SET"}, strings.Fields(cmd)...)...); !strings.HasPrefix(got, want) {
			t.Errorf("CONFIG SET %s: %q, want %q...", cmd, got, want)
		}
	}
	// The refused pair above left timeout as it was: all or nothing.
	if got := respDo(t, rw, "CONFIG", "GET", "timeout"); got != "*2" {
		t.Fatalf("CONFIG GET timeout: %q", got)
	}
	if v := readBulk(t, rw); v != "timeout" {
		t.Fatal(v)
	}
	if v := readBulk(t, rw); v != "300" {
		t.Fatalf("timeout changed by a refused CONFIG SET: %s", v)
	}
	if got := respDo(t, rw, "CONFIG", "SET", "timeout", "60", "maxclients", "1000"); got != "+OK" {
		t.Fatal(got)
	}
	if n.resp.IdleTimeout() != time.Minute || n.native.IdleTimeout() != time.Minute || n.native.MaxConns() != 1000 {
		t.Fatalf("not applied to both ports: %v %v %d", n.resp.IdleTimeout(), n.native.IdleTimeout(), n.native.MaxConns())
	}
	if got := respDo(t, rw, "INFO", "clients"); !strings.Contains(got, "maxclients:1000") {
		t.Fatalf("INFO does not show the live maxclients:\n%s", got)
	}
	// requirepass: new connections on every port need the new token; this
	// one stays authenticated, as in Redis.
	if got := respDo(t, rw, "CONFIG", "SET", "requirepass", "foo"); got != "+OK" {
		t.Fatal(got)
	}
	if got := respDo(t, rw, "PING"); got != "+PONG" {
		t.Fatalf("existing connection: %q", got)
	}
	rw2 := dialRESP(t, a.RESP)
	if got := respDo(t, rw2, "PING"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Fatalf("new connection without the token: %q", got)
	}
	if got := respDo(t, rw2, "AUTH", "foo"); got != "+OK" {
		t.Fatalf("AUTH with the new token: %q", got)
	}
	ctx := context.Background()
	if _, err := native.Dial(ctx, a.Native, native.DialOptions{}); err == nil {
		t.Fatal("native HELLO without the new token accepted")
	}
	c, err := native.Dial(ctx, a.Native, native.DialOptions{Token: "foo"})
	if err != nil {
		t.Fatalf("native HELLO with the new token: %v", err)
	}
	_ = c.Close()
	if code, _ := httpGet(t, "http://"+a.Admin+"/metrics"); code != 401 {
		t.Fatalf("admin without the new token: %d", code)
	}
	// maxclients 1 on both ports: this connection is the one.
	if got := respDo(t, rw, "CONFIG", "SET", "maxclients", "1"); got != "+OK" {
		t.Fatal(got)
	}
	rw3 := dialRESP(t, a.RESP)
	if line, err := rw3.ReadString('\n'); err != nil || !strings.HasPrefix(line, "-ERR max number of clients") {
		t.Fatalf("over the new cap: %q %v", line, err)
	}
}

func readBulk(t *testing.T, rw *bufio.ReadWriter) string {
	t.Helper()
	line, err := rw.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscanf(line, "$%d", &n)
	b := make([]byte, n+2)
	if _, err := io.ReadFull(rw, b); err != nil {
		t.Fatal(err)
	}
	return string(b[:n])
}
