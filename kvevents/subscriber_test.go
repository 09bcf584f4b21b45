package kvevents

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
)

// sendRaw sends frames as the publisher's next message (tests: garbage).
func sendRaw(t *testing.T, p *Publisher, payload []byte, frames int) int64 {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	seq := p.seq
	p.seq++
	var sb [8]byte
	binary.BigEndian.PutUint64(sb[:], uint64(seq))
	fr := [][]byte{[]byte(p.cfg.Topic), sb[:], payload}
	if frames < 3 {
		fr = fr[:frames]
	}
	if err := p.pub.SendMulti(zmq4.NewMsgFrom(fr...)); err != nil {
		t.Fatal(err)
	}
	return seq
}

// A gap (a batch that never reached the SUB socket) is repaired through
// the ROUTER replay socket; without a replay socket it is counted as
// unrecovered and the subscriber goes on.
func TestGapReplay(t *testing.T) {
	for _, withReplay := range []bool{true, false} {
		p := newPub(t, EncodingMap, withReplay)
		ix := NewIndex(0)
		s := newSub(t, ix, Source{Pod: "p", Endpoint: p.Endpoint(), Replay: p.ReplayEndpoint()})
		publishUntilSeen(t, p, s, "p")
		p.Publish(&Batch{Events: []Event{stored("GPU", 1)}})
		p.publish(&Batch{Events: []Event{stored("GPU", 2)}}, false) // lost
		p.publish(&Batch{Events: []Event{stored("GPU", 3)}}, false) // lost
		last, _ := p.Publish(&Batch{Events: []Event{stored("GPU", 4)}})
		waitFor(t, "the last batch", 5*time.Second, settled(s, "p", last))
		st := stats(s, "p")
		run := ix.Run("p", []uint64{1, 2, 3, 4}, nil)
		if withReplay {
			if run != 4 || st.Gaps != 1 || st.Replayed != 1 || st.Unrecovered != 0 {
				t.Fatalf("with replay: run %d, %+v", run, st)
			}
		} else {
			if run != 1 || ix.Holds("p", 4) == 0 || st.Gaps != 1 || st.Unrecovered != 1 {
				t.Fatalf("without replay: run %d, %+v", run, st)
			}
		}
	}
}

// A replay buffer that no longer reaches back to the gap: the gap is
// unrecovered, what the buffer still has is applied.
func TestGapPastReplayBuffer(t *testing.T) {
	p, err := NewPublisher(PublisherConfig{Endpoint: "tcp://127.0.0.1:0", ReplayEndpoint: "tcp://127.0.0.1:0", BufferSteps: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ix := NewIndex(0)
	s := newSub(t, ix, Source{Pod: "p", Endpoint: p.Endpoint(), Replay: p.ReplayEndpoint()})
	publishUntilSeen(t, p, s, "p")
	for h := uint64(1); h <= 4; h++ {
		p.publish(&Batch{Events: []Event{stored("GPU", h)}}, false)
	}
	last, _ := p.Publish(&Batch{Events: []Event{stored("GPU", 5)}})
	waitFor(t, "the last batch", 5*time.Second, settled(s, "p", last))
	if ix.Holds("p", 4) == 0 || ix.Holds("p", 5) == 0 || ix.Holds("p", 1) != 0 {
		t.Fatal("want blocks 4 (replayed) and 5, not 1 (gone from the buffer)")
	}
	if st := stats(s, "p"); st.Unrecovered != 1 {
		t.Fatalf("%+v", st)
	}
}

// A pod that restarts numbers its batches from 0 again: the subscriber
// reconnects (with backoff), sees the sequence go back, clears the pod's
// old blocks and follows the new incarnation.
func TestPodRestart(t *testing.T) {
	p := newPub(t, EncodingArray, false)
	ep := p.Endpoint()
	ix := NewIndex(0)
	s := newSub(t, ix, Source{Pod: "p", Endpoint: ep})
	publishUntilSeen(t, p, s, "p")
	for i := 0; i < 5; i++ {
		p.Publish(&Batch{Events: []Event{stored("GPU", 10+uint64(i))}})
	}
	waitFor(t, "the first incarnation", 5*time.Second, func() bool { return ix.Holds("p", 14) != 0 })
	p.Close()
	waitFor(t, "the disconnect", 10*time.Second, func() bool { return !stats(s, "p").Connected })
	var p2 *Publisher
	waitFor(t, "the port to bind again", 10*time.Second, func() bool {
		var err error
		p2, err = NewPublisher(PublisherConfig{Endpoint: ep})
		return err == nil
	})
	defer p2.Close()
	waitFor(t, "the new incarnation's first batch", 10*time.Second, func() bool {
		p2.Publish(&Batch{Events: []Event{stored("GPU", 99)}})
		time.Sleep(5 * time.Millisecond)
		return ix.Holds("p", 99) != 0
	})
	if ix.Holds("p", 10) != 0 || ix.Holds("p", 14) != 0 {
		t.Fatal("the old incarnation's blocks survived its restart")
	}
	st := stats(s, "p")
	if st.Restarts != 1 || st.Connects < 2 {
		t.Fatalf("%+v", st)
	}
}

// Malformed payloads and frames are counted and skipped; the stream goes on.
func TestMalformedSkipped(t *testing.T) {
	p := newPub(t, EncodingMap, false)
	ix := NewIndex(0)
	s := newSub(t, ix, Source{Pod: "p", Endpoint: p.Endpoint()})
	publishUntilSeen(t, p, s, "p")
	sendRaw(t, p, []byte{0xc1}, 3)                   // never-used msgpack code
	sendRaw(t, p, []byte("not msgpack at all"), 3)   //
	sendRaw(t, p, []byte{0x92, 0xcb}, 3)             // truncated
	sendRaw(t, p, []byte{0x93, 0x01, 0xdd, 0xff}, 3) // huge array header
	sendRaw(t, p, nil, 2)                            // two frames
	// An event type from the future is skipped, not malformed.
	good, _ := Encode(nil, &Batch{TS: 1, Events: []Event{stored("GPU", 7)}}, EncodingMap)
	future := append([]byte{0x82, 0xa2, 't', 's', 0x01, 0xa6, 'e', 'v', 'e', 'n', 't', 's', 0x91, 0x81, 0xa4, 't', 'y', 'p', 'e', 0xa3, 'N', 'e', 'w'}, []byte{}...)
	sendRaw(t, p, future, 3)
	last := sendRaw(t, p, good, 3)
	waitFor(t, "the good batch after the garbage", 5*time.Second, settled(s, "p", last))
	st := stats(s, "p")
	if st.Malformed != 5 || st.Unknown != 1 || ix.Holds("p", 7) == 0 {
		t.Fatalf("%+v", st)
	}
}

// A pod unreachable past SilenceTimeout is cleared; one idle past
// IdleTimeout too, when that is set.
func TestSilenceAndIdleClear(t *testing.T) {
	p := newPub(t, EncodingMap, false)
	ix := NewIndex(0)
	s, err := NewSubscriber(SubscriberConfig{Sources: []Source{{Pod: "p", Endpoint: p.Endpoint()}}, Index: ix,
		SilenceTimeout: 100 * time.Millisecond, BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	defer s.Close()
	publishUntilSeen(t, p, s, "p")
	p.Publish(&Batch{Events: []Event{stored("GPU", 1)}})
	waitFor(t, "block 1", 5*time.Second, func() bool { return ix.Holds("p", 1) != 0 })
	p.Close()
	waitFor(t, "the silent pod to be cleared", 10*time.Second, func() bool { return ix.Holds("p", 1) == 0 })
	if st := stats(s, "p"); st.Clears != 1 || st.Connected {
		t.Fatalf("%+v", st)
	}

	p2 := newPub(t, EncodingMap, false)
	ix2 := NewIndex(0)
	s2, _ := NewSubscriber(SubscriberConfig{Sources: []Source{{Pod: "q", Endpoint: p2.Endpoint()}}, Index: ix2,
		IdleTimeout: 150 * time.Millisecond})
	s2.Start(context.Background())
	defer s2.Close()
	publishUntilSeen(t, p2, s2, "q")
	p2.Publish(&Batch{Events: []Event{stored("GPU", 1)}})
	waitFor(t, "the idle pod to be cleared", 10*time.Second, func() bool {
		return stats(s2, "q").Clears >= 1 && ix2.Holds("q", 1) == 0
	})
}

// Follows N pods at once, each in its own index entry.
func TestManyPods(t *testing.T) {
	ix := NewIndex(0)
	var srcs []Source
	var pubs []*Publisher
	for i := 0; i < 4; i++ {
		p := newPub(t, Encoding(i%2), true)
		pubs = append(pubs, p)
		srcs = append(srcs, Source{Pod: string(rune('a' + i)), Endpoint: p.Endpoint(), Replay: p.ReplayEndpoint()})
	}
	s := newSub(t, ix, srcs...)
	for i, p := range pubs {
		publishUntilSeen(t, p, s, srcs[i].Pod)
		p.Publish(&Batch{Events: []Event{stored("GPU", uint64(i))}})
	}
	for i := range pubs {
		waitFor(t, "every pod's block", 5*time.Second, func() bool { return ix.Holds(srcs[i].Pod, uint64(i)) != 0 })
		if ix.Holds(srcs[i].Pod, uint64((i+1)%4)) != 0 {
			t.Fatal("a pod got another's block")
		}
	}
	if got := len(ix.Pods()); got != 4 {
		t.Fatalf("%d pods", got)
	}
}

func TestParseSources(t *testing.T) {
	srcs, err := ParseSources("a=tcp://127.0.0.1:5557, b=tcp://127.0.0.1:5558", "b=tcp://127.0.0.1:5567")
	if err != nil || len(srcs) != 2 || srcs[1].Replay != "tcp://127.0.0.1:5567" || srcs[0].Replay != "" {
		t.Fatalf("%+v %v", srcs, err)
	}
	for _, bad := range [][2]string{{"a", ""}, {"a=http://x:1", ""}, {"a=tcp://x:1,a=tcp://x:2", ""}, {"a=tcp://x:1", "b=tcp://x:2"}, {"=tcp://x:1", ""}} {
		if _, err := ParseSources(bad[0], bad[1]); !errors.Is(err, ErrConfig) {
			t.Errorf("%q %q: %v", bad[0], bad[1], err)
		}
	}
}

// soakDuration: 2 s in every go test; STRATACACHE_KVEVENTS_SOAK=10s runs
// the 10 s.
func TestSoak10kEventsPerSecond(t *testing.T) {
	d := 2 * time.Second
	if v := getenv("STRATACACHE_KVEVENTS_SOAK"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	if testing.Short() || raceEnabled {
		d = time.Second
	}
	// A small replay buffer, so that the publisher's own memory (same
	// process) is at its bound early.
	p, err := NewPublisher(PublisherConfig{Endpoint: "tcp://127.0.0.1:0", ReplayEndpoint: "tcp://127.0.0.1:0", BufferSteps: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ix := NewIndex(0)
	s := newSub(t, ix, Source{Pod: "p", Endpoint: p.Endpoint(), Replay: p.ReplayEndpoint()})
	publishUntilSeen(t, p, s, "p")
	// 10k events/s: batches of 100 events, paced by the clock (a late tick
	// is caught up, so the total is 10k x duration), half of them storing
	// a new block and half removing the block stored 5,000 blocks earlier,
	// so the index holds 5,000 blocks in steady state.
	const perBatch, window = 100, 5000
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	var next uint64
	var events int
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	var heapWarm uint64
	var last int64
	for time.Since(start) < d {
		<-tick.C
		for float64(events) < 10000*time.Since(start).Seconds() {
			b := &Batch{Events: make([]Event, 0, perBatch)}
			for i := 0; i < perBatch/2; i++ {
				b.Events = append(b.Events, stored("GPU", next))
				if next >= window {
					b.Events = append(b.Events, removed("GPU", next-window))
				} else {
					b.Events = append(b.Events, removed("GPU", 1<<62+next))
				}
				next++
			}
			events += len(b.Events)
			last, _ = p.Publish(b)
		}
		if heapWarm == 0 && time.Since(start) > d/4 {
			heapWarm = heap()
		}
	}
	elapsed := time.Since(start)
	lag := stats(s, "p").LastSeq
	caught := time.Now()
	waitFor(t, "the subscriber to catch up", 30*time.Second, settled(s, "p", last))
	t.Logf("at the end the subscriber was %d batches behind, caught up in %v", last-lag, time.Since(caught).Round(time.Millisecond))
	heapEnd := heap()
	st := stats(s, "p")
	rate := float64(events) / elapsed.Seconds()
	t.Logf("%d events in %v (%.0f/s), index %d blocks, heap %d -> %d KiB, gaps %d (replayed %d)",
		events, elapsed.Round(time.Millisecond), rate, ix.Len(), heapWarm>>10, heapEnd>>10, st.Gaps, st.Replayed)
	if st.Unrecovered != 0 || st.Malformed != 0 {
		t.Fatalf("%+v", st)
	}
	if got := ix.Len(); got != window {
		t.Fatalf("index holds %d blocks, want %d (every removal applied)", got, window)
	}
	// No growth: the heap after the run stays within a few MiB of the
	// heap a quarter in (the index is at its steady size by then).
	if heapEnd > heapWarm+8<<20 {
		t.Fatalf("heap grew from %d to %d KiB", heapWarm>>10, heapEnd>>10)
	}
	if !strings.Contains(p.Endpoint(), "127.0.0.1") {
		t.Fatal(p.Endpoint())
	}
}
