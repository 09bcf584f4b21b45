package kvevents

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// pyZMQ returns a python3 that has pyzmq (libzmq, the ZeroMQ C library)
// and msgpack, or skips: .ci/run installs python3-zmq and python3-msgpack.
func pyZMQ(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import zmq, msgpack").Run() == nil {
			return path
		}
	}
	t.Skip("no python3 with pyzmq and msgpack (Debian: python3-zmq python3-msgpack): the libzmq interop tests do not run")
	return ""
}

// pyPub is the libzmq publisher of testdata/zmq_peer.py.
type pyPub struct {
	t        *testing.T
	in       io.WriteCloser
	out      *bufio.Scanner
	endpoint string
	replay   string
}

func startPyPub(t *testing.T) *pyPub {
	py := pyZMQ(t)
	cmd := exec.Command(py, "testdata/zmq_peer.py", "pub")
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	p := &pyPub{t: t, in: in, out: bufio.NewScanner(outp)}
	var hello struct{ Endpoint, Replay string }
	p.read(&hello)
	p.endpoint, p.replay = hello.Endpoint, hello.Replay
	return p
}

func (p *pyPub) read(v any) {
	p.t.Helper()
	if !p.out.Scan() {
		p.t.Fatalf("zmq_peer.py ended: %v", p.out.Err())
	}
	if err := json.Unmarshal(p.out.Bytes(), v); err != nil {
		p.t.Fatalf("zmq_peer.py said %q: %v", p.out.Text(), err)
	}
}

// send publishes events (vLLM field names) and returns the batch's seq.
func (p *pyPub) send(cmd map[string]any) int64 {
	p.t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := p.in.Write(append(b, '\n')); err != nil {
		p.t.Fatal(err)
	}
	var r struct{ Seq int64 }
	p.read(&r)
	return r.Seq
}

func pyStored(medium string, hashes ...uint64) map[string]any {
	return map[string]any{"type": "BlockStored", "block_hashes": hashes, "parent_block_hash": nil,
		"token_ids": make([]int, 16*len(hashes)), "block_size": 16, "lora_id": nil, "medium": medium, "lora_name": nil}
}

func pyRemoved(medium string, hashes ...uint64) map[string]any {
	return map[string]any{"type": "BlockRemoved", "block_hashes": hashes, "medium": medium}
}

// TestFollowsLibzmqPublisher: the Go subscriber (go-zeromq) follows a
// vLLM-format publisher on the ZeroMQ C library through both encodings,
// both hash forms, a lost message repaired over the ROUTER replay socket,
// an AllBlocksCleared and a restart.
func TestFollowsLibzmqPublisher(t *testing.T) {
	p := startPyPub(t)
	ix := NewIndex(0)
	s := newSub(t, ix, Source{Pod: "vllm-0", Endpoint: p.endpoint, Replay: p.replay})
	// The subscriber replays the buffer on connect; then live messages.
	first := p.send(map[string]any{"events": []any{pyStored("GPU", 100)}})
	waitFor(t, "the first batch (live or replayed)", 10*time.Second, func() bool {
		if stats(s, "vllm-0").LastSeq >= first {
			return true
		}
		return false
	})
	p.send(map[string]any{"events": []any{pyStored("GPU", 1, 2)}, "encoding": "array"})
	p.send(map[string]any{"events": []any{pyStored("CPU", 2)}, "encoding": "map", "hash_bytes": true})
	// A lost message: seq n is only in the replay buffer; seq n+1 reveals
	// the gap.
	p.send(map[string]any{"events": []any{pyStored("GPU", 3)}, "send": false})
	last := p.send(map[string]any{"events": []any{pyStored("GPU", 4), pyRemoved("GPU", 100)}, "encoding": "array", "hash_bytes": true})
	waitFor(t, "the batches and the replay", 10*time.Second, settled(s, "vllm-0", last))
	if n := ix.Run("vllm-0", []uint64{1, 2, 3, 4}, nil); n != 4 {
		t.Fatalf("leading run %d, want 4 (block 3 came by replay)", n)
	}
	if m := ix.Holds("vllm-0", 2); m != MediaGPU|MediaCPU {
		t.Fatalf("block 2: %b", m)
	}
	if ix.Holds("vllm-0", 100) != 0 {
		t.Fatal("block 100 was removed")
	}
	st := stats(s, "vllm-0")
	if st.Gaps != 1 || st.Replayed != 1 || st.Unrecovered != 0 || st.Malformed != 0 {
		t.Fatalf("%+v", st)
	}
	// AllBlocksCleared.
	last = p.send(map[string]any{"events": []any{map[string]any{"type": "AllBlocksCleared"}}})
	waitFor(t, "the clear", 10*time.Second, func() bool { return stats(s, "vllm-0").LastSeq == last })
	if ix.Holds("vllm-0", 1) != 0 {
		t.Fatal("AllBlocksCleared left blocks")
	}
	p.send(map[string]any{"events": []any{pyStored("GPU", 7)}})
	waitFor(t, "block 7", 10*time.Second, func() bool { return ix.Holds("vllm-0", 7) != 0 })
}

// TestLibzmqFollowsOurPublisher: a libzmq SUB and DEALER read what our
// Publisher (the node's, go-zeromq) sends, live and by replay.
func TestLibzmqFollowsOurPublisher(t *testing.T) {
	py := pyZMQ(t)
	for _, enc := range []Encoding{EncodingMap, EncodingArray} {
		pub := newPub(t, enc, true)
		cmd := exec.Command(py, "testdata/zmq_peer.py", "sub", pub.Endpoint(), pub.ReplayEndpoint(), "3")
		outp, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(outp)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		sc.Scan() // {"ready": true}
		// Publish until the slow-joining SUB sees three batches.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := uint64(0); ctx.Err() == nil; i++ {
				pub.Publish(&Batch{Events: []Event{stored("CXL", 1000+i), removed("DISK", 5)}})
				time.Sleep(20 * time.Millisecond)
			}
		}()
		if !sc.Scan() {
			t.Fatalf("zmq_peer.py sub: %v", sc.Err())
		}
		cancel()
		<-done
		cmd.Wait()
		var res struct {
			Live, Replay [][2]json.RawMessage
		}
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		if len(res.Live) != 3 || len(res.Replay) < 3 {
			t.Fatalf("live %d replayed %d", len(res.Live), len(res.Replay))
		}
		for _, b := range append(res.Live, res.Replay...) {
			s := strings.ReplaceAll(string(b[1]), " ", "")
			wantTag := `"type":"BlockStored"`
			if enc == EncodingArray {
				wantTag = `["BlockStored",`
			}
			if !strings.Contains(s, wantTag) || !strings.Contains(s, `"CXL"`) || !strings.Contains(s, `"DISK"`) {
				t.Fatalf("encoding %d: batch %s", enc, s)
			}
		}
		var first int64
		json.Unmarshal(res.Replay[0][0], &first)
		if first != 0 {
			t.Fatalf("replay from 0 started at %d", first)
		}
	}
}
