package resp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/node/internal/inflight"
)

// waitFor polls cond (a condition on the server's state, not a sleep to
// let something happen) until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A client that asks for a 16 MiB value and never reads the reply is
// disconnected after the write timeout, and the view it held is released:
// a deleted value's memory comes back.
func TestStalledReaderIsDisconnected(t *testing.T) {
	eng := newEngine(t, 32<<20)
	s, addr := startServer(t, Config{Engine: eng, WriteTimeout: 100 * time.Millisecond})
	c := dial(t, addr)
	big := make([]byte, 16<<20)
	expect(t, c.do("SET", "big", big), "OK")
	// A reader that takes nothing: a tiny receive window on a new
	// connection, so the kernel's buffers cannot swallow the reply.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	stalled, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := stalled.Write(encode("GET", "big")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stalled reader to be cut off", func() bool { return s.cs.WriteStall.Load() == 1 })
	waitFor(t, "the connection to close", func() bool { return s.Stats().ConnsCurrent == 1 })
	expect(t, c.do("DEL", "big"), int64(1))
	var es actors.EngineStats
	waitFor(t, "the view to be released", func() bool {
		eng.Stats(&es)
		return es.Tiers[0].UsedBytes+es.Tiers[0].PendingBytes == 0
	})
}

// A slow reader is not a stalled one: each chunk of the reply arrives
// within the write timeout, so the whole value is delivered.
func TestSlowReaderIsServed(t *testing.T) {
	_, addr := startServer(t, Config{WriteTimeout: 10 * time.Second})
	c := dial(t, addr)
	big := bytes.Repeat([]byte("slow reader "), (16<<20)/12)
	expect(t, c.do("SET", "big", big), "OK")
	c.send("GET", "big")
	// Read with a pause per 4 MiB: 16 MiB over ~12 s, longer than the
	// write timeout, each 4 MiB well within it (margins for a loaded
	// machine and the race detector: with a 2 s timeout and 0.6 s pauses,
	// CI's race run at load ~20 cut the reader off after 7.7 MB; with 6 s
	// and 2 s pauses, at load ~30 after 9.7 MB).
	var got bytes.Buffer
	buf := make([]byte, 1<<20)
	for got.Len() < len(big)+len("$25165824\r\n\r\n") {
		n, err := c.r.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("slow reader cut off after %d bytes: %v", got.Len(), err)
		}
		if got.Len()%(4<<20) < n {
			time.Sleep(3 * time.Second) // the client being slow is the test
		}
	}
	if !bytes.Contains(got.Bytes(), big[:100]) || got.Len() != len(big)+len(fmt.Sprintf("$%d\r\n\r\n", len(big))) {
		t.Fatalf("reply of %d bytes", got.Len())
	}
}

// A panic while serving one connection closes that connection only: it is
// counted, and the server keeps serving others.
func TestPanicClosesOnlyThatConnection(t *testing.T) {
	var s *Server
	s, addr := startServer(t, Config{Observe: func(cmd string, _ time.Duration) {
		if cmd == "ECHO" {
			panic("injected fault")
		}
	}})
	a, b := dial(t, addr), dial(t, addr)
	expect(t, a.do("SET", "k", "v"), "OK")
	a.send("ECHO", "boom")
	if _, err := readReply(a.r); err == nil {
		// The reply may have been buffered: the connection still closes.
		if _, err := a.r.ReadByte(); err != io.EOF {
			t.Fatalf("connection open after a panic: %v", err)
		}
	}
	expect(t, b.do("GET", "k"), []byte("v"))
	expect(t, dial(t, addr).do("PING"), "PONG")
	if s.cs.Panics.Load() != 1 {
		t.Fatalf("panics counted: %d", s.cs.Panics.Load())
	}
}

// TestShutdownLosesNoReplies: a client pipelines SETs of unique keys while
// the server shuts down after a random number of them has been executed;
// the SETs are slowed a little (as a disk tier with durability sync does),
// so the shutdown lands in the middle of a batch. Whatever the moment,
// every SET the engine applied has its +OK delivered (the client reads
// replies up to EOF, with no reset), and every +OK is for an applied SET.
func TestShutdownLosesNoReplies(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 1))
	for round := range 10 {
		eng := newEngine(t, 256<<20)
		s, addr := startServer(t, Config{Engine: eng, Observe: func(string, time.Duration) {
			for start := time.Now(); time.Since(start) < 20*time.Microsecond; { // a slow store
			}
		}})
		after := int64(1 + rng.IntN(1500))
		oks, sent := pipelineUntilShutdown(t, addr, fmt.Sprintf("r%d:", round), 3000, 16+rng.IntN(1<<10), func() {
			waitFor(t, "commands to execute", func() bool { return s.Stats().Commands >= after })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
		applied := 0
		for i := range sent {
			id := artifact.MustID(artifact.NamespaceBlob, fmt.Sprintf("r%d:%d", round, i))
			ok, err := eng.Contains(context.Background(), id, actors.Chain())
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				applied++
			}
			if acked := i < len(oks) && oks[i]; ok != acked {
				t.Fatalf("round %d: SET %d applied=%v but acknowledged=%v (%d replies for %d sent, %d applied so far)",
					round, i, ok, acked, len(oks), sent, applied)
			}
		}
		if applied == sent {
			t.Logf("round %d: the shutdown came after every SET (%d)", round, sent)
		}
	}
}

// pipelineUntilShutdown writes up to n SETs (keys prefix+i, values of size
// bytes) as fast as the connection takes them while stop runs, and reads
// replies until EOF. It returns, per reply in order, whether it was +OK,
// and how many SETs were written; it fails the test on a connection reset
// (which would have destroyed replies).
func pipelineUntilShutdown(t *testing.T, addr, prefix string, n, size int, stop func()) (oks []bool, sent int) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	val := bytes.Repeat([]byte{'v'}, size)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		bw := bufio.NewWriterSize(nc, 16<<10)
		for i := range n {
			if _, err := bw.Write(encode("SET", prefix+fmt.Sprint(i), val)); err != nil {
				return
			}
			sent = i + 1
		}
		_ = bw.Flush()
	}()
	go func() { defer wg.Done(); stop() }()
	br := bufio.NewReader(nc)
	for {
		v, err := readReply(br)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Errorf("after %d replies: %v (a reset loses replies)", len(oks), err)
			}
			break
		}
		if e, ok := v.(error); ok && strings.Contains(e.Error(), "shutting down") {
			oks = append(oks, false) // refused, not applied
		} else if v != "OK" {
			t.Fatalf("reply %d: %#v", len(oks), v)
		} else {
			oks = append(oks, true)
		}
	}
	_ = nc.Close() // unblocks the writer if the server stopped reading
	wg.Wait()
	return oks, sent
}

// Before AUTH a client may send only small commands: a declared 60 MB
// value or an 11-argument command is refused on its header line, before
// any byte of it is buffered, and the connection is closed.
func TestPreAuthLimits(t *testing.T) {
	s, addr := startServer(t, Config{AuthToken: "tok"})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 10 {
		c := dial(t, addr)
		if _, err := io.WriteString(c.nc, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$60000000\r\n"); err != nil {
			t.Fatal(err)
		}
		expectErr(t, c.reply(), "ERR Protocol error: unauthenticated bulk length")
		if _, err := c.r.ReadByte(); err != io.EOF {
			t.Fatalf("connection %d not closed: %v", i, err)
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
		t.Fatalf("heap grew by %d bytes for 10 refused pre-auth values", grew)
	}
	c := dial(t, addr)
	c.send("ECHO", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10")
	expectErr(t, c.reply(), "ERR Protocol error: unauthenticated multibulk length")
	// Small commands get NOAUTH as before; AUTH lifts the limits, also
	// for a large value pipelined right behind it.
	c = dial(t, addr)
	expectErr(t, c.do("GET", "k"), "NOAUTH")
	big := bytes.Repeat([]byte("x"), 1<<20)
	if _, err := c.nc.Write(append(encode("AUTH", "tok"), encode("SET", "k", big)...)); err != nil {
		t.Fatal(err)
	}
	expect(t, c.reply(), "OK")
	expect(t, c.reply(), "OK")
	expect(t, c.do("STRLEN", "k"), int64(1<<20))
	if s.Stats().ProtocolErrors != 11 {
		t.Fatalf("protocol errors %d", s.Stats().ProtocolErrors)
	}
}

// TestInflightBudget: values arriving and replies leaving share one budget.
// A request that does not fit waits, then gets -BUSY with its value
// skipped (nothing stored, nothing allocated), and the connection goes on.
func TestInflightBudget(t *testing.T) {
	budget := inflight.New(1<<20, 50*time.Millisecond)
	s, addr := startServer(t, Config{Budget: budget})
	// A holds 900 KiB: a streamed SET whose value is half sent.
	a := dial(t, addr)
	val := bytes.Repeat([]byte("a"), 900<<10)
	req := encode("SET", "a", val)
	if _, err := a.nc.Write(req[:len(req)/2]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A's value to hold its bytes", func() bool { return budget.Stats().Used == 900<<10 })
	b := dial(t, addr)
	expectErr(t, b.do("SET", "b", bytes.Repeat([]byte("b"), 200<<10)), "BUSY")
	expectErr(t, b.do("SET", "b", bytes.Repeat([]byte("b"), 200<<10), "NX"), "BUSY") // the pooled-buffer path
	expect(t, b.do("EXISTS", "b"), int64(0))
	expect(t, b.do("PING"), "PONG")
	if _, err := a.nc.Write(req[len(req)/2:]); err != nil {
		t.Fatal(err)
	}
	expect(t, a.reply(), "OK")
	expect(t, b.do("SET", "b", bytes.Repeat([]byte("b"), 200<<10)), "OK")
	// Replies: two large GETs fit one after the other; the budget is back
	// to zero when they are done.
	expect(t, b.do("GET", "a"), val)
	if r, ok := b.do("MGET", "a", "none").([]any); !ok || len(r) != 2 || r[1] != nil {
		t.Fatalf("MGET: %v", r)
	}
	// An MGET whose values together exceed the budget is refused whole.
	expectErr(t, b.do("MGET", "a", "b"), "BUSY")
	if st := budget.Stats(); st.Used != 0 || st.Peak > st.Size || st.Refusals != 3 {
		t.Fatalf("budget after the run: %+v", st)
	}
	_ = s
}
