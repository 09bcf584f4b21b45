package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// sigkillCycles is how many SIGKILLs TestSIGKILLNeverServesOlderValue sends
// per link policy; docs/BENCHMARKS.md records a run with -sigkill-cycles 30.
var sigkillCycles = flag.Int("sigkill-cycles", 2, "SIGKILL cycles per link policy of TestSIGKILLNeverServesOlderValue")

// The issue 11 crash workload, through real serve processes: writers SET 400
// keys of 16 KiB (each key has one writer, and every value names its key
// and sequence number) on a node whose 4 MiB CPU tier is far smaller than
// the working set, over a disk tier with durability sync. The node is
// SIGKILLed at a seeded moment (after a seeded number of acknowledged SETs,
// while the writers keep writing) and restarted on the same data directory;
// then every key is read back. A key may hold its last acknowledged value or
// the one whose SET was in flight at the kill; in write-back it may also
// hold nothing (its newest value lived only in the CPU tier). It must never
// hold an older value than its last acknowledged SET (write-back used to
// serve the superseded copy the disk kept), and in write-through it must
// never be missing.
func TestSIGKILLNeverServesOlderValue(t *testing.T) {
	if testing.Short() {
		t.Skip("starts serve processes; skipped in -short")
	}
	for _, wb := range []bool{true, false} {
		name := "write-through"
		if wb {
			name = "write-back"
		}
		t.Run(name, func(t *testing.T) { runSIGKILLCycles(t, wb, *sigkillCycles) })
	}
}

const (
	killKeys    = 400
	killWriters = 4
	killSize    = 16 << 10
)

// killValue is the 16 KiB value of (key, seq): the pair repeated.
func killValue(k int, seq uint64) []byte {
	unit := fmt.Sprintf("k%03d=%012d;", k, seq)
	return []byte(strings.Repeat(unit, killSize/len(unit)+1)[:killSize])
}

// parseKillValue returns the sequence of a value read for key k, or an error
// when it is not a whole value of k.
func parseKillValue(k int, b []byte) (uint64, error) {
	prefix := fmt.Sprintf("k%03d=", k)
	if len(b) != killSize || !strings.HasPrefix(string(b), prefix) {
		return 0, fmt.Errorf("key %d: foreign or short value (%d bytes) %.24q", k, len(b), b)
	}
	seq, err := strconv.ParseUint(string(b[len(prefix):len(prefix)+12]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("key %d: %w", k, err)
	}
	if string(b) != string(killValue(k, seq)) {
		return 0, fmt.Errorf("key %d: torn value (seq %d)", k, seq)
	}
	return seq, nil
}

// killModel is what the client knows about each key: the last acknowledged
// sequence (0: nothing acknowledged since the last check) and the sequence
// of a SET in flight when the node died (0: none).
type killModel struct {
	acked    [killKeys]atomic.Uint64
	inflight [killKeys]atomic.Uint64
	held     [killKeys]uint64 // what the key held at the last check (0: nothing)
}

func runSIGKILLCycles(t *testing.T, writeBack bool, cycles int) {
	data := filepath.Join(t.TempDir(), "data")
	env := []string{"STRATACACHE_CPU_CAPACITY_MB=4", "STRATACACHE_DISK_CAPACITY_MB=64",
		"STRATACACHE_DISK_DURABILITY=sync", "STRATACACHE_WRITEBACK=" + strconv.FormatBool(writeBack)}
	rng := rand.New(rand.NewPCG(11, uint64(cycles)))
	m := &killModel{}
	var seq atomic.Uint64
	var totalAcked, older, lost, empty, newer, current int
	for cycle := 0; cycle <= cycles; cycle++ {
		sn := startServe(t, data, env...)
		o, l, e, n, c := checkKilled(t, sn.resp, m, writeBack)
		older, lost, empty, newer, current = older+o, lost+l, empty+e, newer+n, current+c
		if o+l > 0 {
			t.Errorf("after kill %d: %d keys older than their last acknowledged SET, %d acknowledged keys missing", cycle, o, l)
		}
		if cycle == cycles {
			break
		}
		// Kill after a seeded number of acknowledged SETs, while the
		// writers are busy: SETs in flight, flushes and demotions running.
		killAfter := int64(200 + rng.IntN(1800))
		acks := make(chan struct{}, 1)
		var nacked atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < killWriters; w++ {
			nc, err := net.Dial("tcp", sn.resp)
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func(w int, nc net.Conn) {
				defer wg.Done()
				defer nc.Close()
				r := rand.New(rand.NewPCG(uint64(cycle), uint64(w)))
				br := bufio.NewReader(nc)
				// Bounded: the kill comes first; 20,000 SETs per writer is
				// far more than any kill point needs.
				for range 20000 {
					k := w + killWriters*r.IntN(killKeys/killWriters)
					s := seq.Add(1)
					m.inflight[k].Store(s)
					if _, err := nc.Write(respCmd("SET", fmt.Sprintf("key%03d", k), string(killValue(k, s)))); err != nil {
						return
					}
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line != "+OK\r\n" {
						t.Errorf("SET key %d: %q", k, line)
						return
					}
					m.acked[k].Store(s)
					m.inflight[k].Store(0)
					if nacked.Add(1) == killAfter {
						acks <- struct{}{}
					}
				}
			}(w, nc)
		}
		select {
		case <-acks:
		case <-time.After(2 * time.Minute):
			t.Fatalf("cycle %d: %d SETs acknowledged in 2 minutes, want %d:\n%s", cycle, nacked.Load(), killAfter, sn.out.String())
		}
		if err := sn.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-sn.exited:
			sn.exited <- err // for the cleanup
		case <-time.After(time.Minute):
			t.Fatalf("cycle %d: serve did not die of SIGKILL", cycle)
		}
		wg.Wait()
		totalAcked += int(nacked.Load())
	}
	t.Logf("%d SIGKILL cycles (%d SETs acknowledged): after the restarts %d key checks found the last acknowledged value, %d the value in flight at the kill, %d nothing (lost %d acknowledged), %d an older value",
		cycles, totalAcked, current, newer, empty, lost, older)
}

// checkKilled reads every key from the restarted node and compares it with
// the model; it returns the keys holding an older value than acknowledged,
// acknowledged keys missing in write-through, keys holding nothing (allowed
// in write-back), keys holding the SET in flight at the kill, and keys
// holding their last acknowledged value. It then makes what the keys hold
// the model's new baseline.
func checkKilled(t *testing.T, addr string, m *killModel, writeBack bool) (older, lost, empty, newer, current int) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 64<<10)
	for k := 0; k < killKeys; k++ {
		if _, err := nc.Write(respCmd("GET", fmt.Sprintf("key%03d", k))); err != nil {
			t.Fatal(err)
		}
		b, err := readBulk(br)
		if err != nil {
			t.Fatalf("GET key %d: %v", k, err)
		}
		acked, inflight := m.acked[k].Load(), m.inflight[k].Load()
		want := max(acked, m.held[k]) // nothing acknowledged since: what it held
		var got uint64
		if b != nil {
			if got, err = parseKillValue(k, b); err != nil {
				t.Error(err)
				continue
			}
		}
		switch {
		case b == nil && want == 0:
		case b == nil && writeBack:
			empty++
		case b == nil:
			lost++
			t.Errorf("key %d: missing after the kill (last acknowledged seq %d)", k, want)
		case got == want:
			current++
		case inflight != 0 && got == inflight:
			newer++
		case got < want:
			older++
			t.Errorf("key %d: holds seq %d, older than its last acknowledged seq %d", k, got, want)
		default:
			t.Errorf("key %d: holds seq %d, never acknowledged nor in flight (acknowledged %d, in flight %d)", k, got, want, inflight)
		}
		m.held[k] = got
		m.acked[k].Store(0)
		m.inflight[k].Store(0)
	}
	return older, lost, empty, newer, current
}

// readBulk reads one RESP bulk string reply; nil for a nil reply.
func readBulk(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "$") || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("unexpected reply %q", line)
	}
	n, err := strconv.Atoi(line[1 : len(line)-2])
	if err != nil {
		return nil, fmt.Errorf("reply %q: %w", line, err)
	}
	if n < 0 {
		return nil, nil
	}
	b := make([]byte, n+2)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, err
	}
	if string(b[n:]) != "\r\n" {
		return nil, errors.New("bulk reply not terminated by CRLF")
	}
	return b[:n], nil
}
