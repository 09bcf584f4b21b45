package kvevents

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// waitFor polls cond until it holds or the deadline passes (no sleeps to
// synchronise: the poll interval only bounds the latency of noticing).
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func newPub(t *testing.T, enc Encoding, replay bool) *Publisher {
	t.Helper()
	cfg := PublisherConfig{Endpoint: "tcp://127.0.0.1:0", Encoding: enc}
	if replay {
		cfg.ReplayEndpoint = "tcp://127.0.0.1:0"
	}
	p, err := NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func newSub(t *testing.T, ix *Index, srcs ...Source) *Subscriber {
	t.Helper()
	s, err := NewSubscriber(SubscriberConfig{Sources: srcs, Index: ix, BackoffMin: 5 * time.Millisecond,
		BackoffMax: 50 * time.Millisecond, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	t.Cleanup(func() { s.Close() })
	return s
}

func stats(s *Subscriber, pod string) PodStats {
	for _, st := range s.Stats() {
		if st.Pod == pod {
			return st
		}
	}
	return PodStats{}
}

func stored(medium string, hashes ...uint64) Event {
	return Event{Kind: BlockStored, BlockHashes: hashes, BlockSize: 16, Medium: medium, TokenIDs: make([]uint32, 16*len(hashes))}
}

func removed(medium string, hashes ...uint64) Event {
	return Event{Kind: BlockRemoved, BlockHashes: hashes, Medium: medium}
}

// publishUntilSeen publishes marker batches until the subscriber applied
// one (PUB/SUB drops what is sent before the subscription arrives: ZeroMQ's
// slow joiner). The markers store and then remove block 0xfeed.
func publishUntilSeen(t *testing.T, p *Publisher, s *Subscriber, pod string) {
	t.Helper()
	waitFor(t, "the subscription to reach the publisher", 10*time.Second, func() bool {
		if stats(s, pod).Batches > 0 {
			return true
		}
		if _, err := p.Publish(&Batch{Events: []Event{stored("GPU", 0xfeed), removed("GPU", 0xfeed)}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		return stats(s, pod).Batches > 0
	})
}

func TestPublishSubscribeBothEncodings(t *testing.T) {
	for _, enc := range []Encoding{EncodingMap, EncodingArray} {
		t.Run(fmt.Sprint(enc), func(t *testing.T) {
			p := newPub(t, enc, false)
			ix := NewIndex(0)
			s := newSub(t, ix, Source{Pod: "pod-a", Endpoint: p.Endpoint()})
			publishUntilSeen(t, p, s, "pod-a")
			p.Publish(&Batch{Events: []Event{stored("GPU", 1, 2, 3), stored("CPU", 3, 4)}})
			p.Publish(&Batch{Events: []Event{removed("GPU", 2)}})
			last, _ := p.Publish(&Batch{Events: []Event{removed("CPU", 4)}})
			waitFor(t, "the batches", 5*time.Second, func() bool { return stats(s, "pod-a").LastSeq == last })
			media := make([]Media, 4)
			if n := ix.Run("pod-a", []uint64{1, 2, 3}, media); n != 1 {
				t.Fatalf("run %d, want 1 (block 2 removed)", n)
			}
			if m := ix.Holds("pod-a", 3); m != MediaGPU|MediaCPU {
				t.Fatalf("block 3 media %b", m)
			}
			if ix.Holds("pod-a", 4) != 0 || ix.Holds("pod-a", 0xfeed) != 0 {
				t.Fatal("removed blocks still held")
			}
			if st := stats(s, "pod-a"); st.Malformed != 0 || st.Gaps != 0 {
				t.Fatalf("%+v", st)
			}
		})
	}
}

// settled: the pod applied seq last and accounted for every gap it saw.
func settled(s *Subscriber, pod string, last int64) func() bool {
	return func() bool {
		st := stats(s, pod)
		return st.LastSeq == last && st.Replayed+st.Unrecovered == st.Gaps
	}
}
