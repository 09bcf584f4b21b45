package kvevents

import (
	"context"
	"errors"
	"math"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func randBatch(rng *rand.Rand) *Batch {
	b := &Batch{TS: rng.Float64() * 2e9, HasDPRank: rng.Intn(2) == 0}
	if b.HasDPRank {
		b.DPRank = int64(rng.Intn(8))
	}
	for i := rng.Intn(5); i > 0; i-- {
		ev := Event{Kind: Kind(1 + rng.Intn(3))}
		if ev.Kind != AllBlocksCleared {
			for j := rng.Intn(4); j >= 0; j-- {
				ev.BlockHashes = append(ev.BlockHashes, rng.Uint64())
			}
			ev.Medium = []string{"GPU", "CPU", "CXL", "DISK"}[rng.Intn(4)]
		}
		if ev.Kind == BlockStored {
			ev.HasParent = rng.Intn(2) == 0
			if ev.HasParent {
				ev.ParentBlockHash = rng.Uint64()
			}
			ev.BlockSize = 16
			for j := 0; j < 16*len(ev.BlockHashes); j++ {
				ev.TokenIDs = append(ev.TokenIDs, uint32(rng.Intn(200000)))
			}
			ev.HasLoRAID = rng.Intn(2) == 0
			if ev.HasLoRAID {
				ev.LoRAID, ev.LoRAName = 3, "sql"
			}
		}
		b.Events = append(b.Events, ev)
	}
	return b
}

func norm(b *Batch) *Batch {
	c := *b
	c.Events = nil
	for _, ev := range b.Events {
		if len(ev.BlockHashes) == 0 {
			ev.BlockHashes = nil
		}
		if len(ev.TokenIDs) == 0 {
			ev.TokenIDs = nil
		}
		c.Events = append(c.Events, ev)
	}
	return &c
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	dec := NewDecoder()
	for i := 0; i < 500; i++ {
		b := randBatch(rng)
		for _, enc := range []Encoding{EncodingMap, EncodingArray} {
			payload, err := Encode(nil, b, enc)
			if err != nil {
				t.Fatal(err)
			}
			got, unknown, err := dec.Decode(payload)
			if err != nil || unknown != 0 {
				t.Fatalf("%v %d", err, unknown)
			}
			if !reflect.DeepEqual(norm(got), norm(b)) {
				t.Fatalf("encoding %d:\n got  %+v\n want %+v", enc, norm(got), norm(b))
			}
		}
	}
}

// vLLM's msgspec output as a generic msgpack encoder writes it: digests as
// 32-byte bin, medium None, newer fields (extra_keys, group_idx,
// kv_cache_spec_kind) this decoder skips, and the older array form without
// medium or lora_name.
func TestDecodeVLLMShapes(t *testing.T) {
	digest := make([]byte, 32)
	for i := range digest {
		digest[i] = byte(i)
	}
	want := uint64(0x18191a1b1c1d1e1f)
	mapForm, _ := msgpack.Marshal(map[string]any{
		"ts": 1.25, "data_parallel_rank": nil,
		"events": []any{
			map[string]any{"type": "BlockStored", "block_hashes": []any{digest}, "parent_block_hash": digest,
				"token_ids": []int{1, 2}, "block_size": 16, "lora_id": nil, "medium": nil, "lora_name": "sql",
				"extra_keys": []any{nil}, "group_idx": 0, "kv_cache_spec_kind": "full_attention"},
			map[string]any{"type": "BlockRemoved", "block_hashes": []any{uint64(1) << 63}, "medium": "cpu", "group_idx": 1},
			map[string]any{"type": "AllBlocksCleared"},
		}})
	oldArray, _ := msgpack.Marshal([]any{1.25, []any{
		[]any{"BlockStored", []any{digest}, nil, []int{1, 2}, 16, nil},
		[]any{"BlockRemoved", []any{int64(-1)}},
	}})
	dec := NewDecoder()
	b, _, err := dec.Decode(mapForm)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Events) != 3 || b.Events[0].BlockHashes[0] != want || b.Events[0].ParentBlockHash != want || !b.Events[0].HasParent ||
		b.Events[0].Medium != "GPU" || b.Events[0].LoRAName != "sql" || b.Events[1].Medium != "CPU" ||
		b.Events[1].BlockHashes[0] != 1<<63 || b.Events[2].Kind != AllBlocksCleared || b.HasDPRank {
		t.Fatalf("%+v", b)
	}
	b, _, err = dec.Decode(oldArray)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Events) != 2 || b.Events[0].BlockHashes[0] != want || b.Events[0].HasParent || b.Events[0].Medium != "GPU" ||
		b.Events[1].BlockHashes[0] != ^uint64(0) {
		t.Fatalf("%+v", b)
	}
}

func TestDecodeRejects(t *testing.T) {
	bad := [][]byte{nil, {0xc0}, {0x91, 0x01}, {0x80}, {0x92, 0xa1, 'x', 0x90}, {0x92, 0x01, 0x91, 0x80},
		{0x92, 0x01, 0x91, 0x92, 0xa3, 'B', 'l', 'o'}, {0x92, 0x01, 0x90, 0x00}}
	dec := NewDecoder()
	for _, p := range bad {
		if _, _, err := dec.Decode(p); !errors.Is(err, ErrMalformed) {
			t.Errorf("% x: %v", p, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 8; i++ {
		p, _ := Encode(nil, randBatch(rng), Encoding(i%2))
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		dec := NewDecoder()
		b, _, err := dec.Decode(payload)
		if err != nil {
			return
		}
		// What decodes re-encodes and decodes to the same batch.
		again, err := Encode(nil, b, EncodingMap)
		if err != nil {
			return // e.g. a kind this package only decodes
		}
		b2, _, err := NewDecoder().Decode(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		// A NaN timestamp is carried bit for bit, but NaN != NaN under
		// DeepEqual: compare the bits, then the rest.
		if math.Float64bits(b.TS) != math.Float64bits(b2.TS) {
			t.Fatalf("timestamp %x re-decoded as %x", math.Float64bits(b.TS), math.Float64bits(b2.TS))
		}
		n1, n2 := norm(b), norm(b2)
		n1.TS, n2.TS = 0, 0
		if !reflect.DeepEqual(n1, n2) {
			t.Fatalf("re-decode differs:\n got  %+v\n want %+v", n2, n1)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	batch := &Batch{TS: 1}
	for i := 0; i < 100; i++ {
		batch.Events = append(batch.Events, stored("GPU", uint64(i)))
	}
	payload, _ := Encode(nil, batch, EncodingMap)
	dec := NewDecoder()
	ix := NewIndex(0)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bb, _, err := dec.Decode(payload)
		if err != nil {
			b.Fatal(err)
		}
		ix.Apply("p", bb)
	}
	b.ReportMetric(float64(b.N*len(batch.Events))/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkIngestZMQ is the whole ingest path: our publisher to the
// subscriber over a loopback ZeroMQ socket, decoded and applied to the
// index, 100 events per batch. events/cpu-s divides by the process's CPU
// time (publisher and subscriber both run here, so it understates the
// subscriber's rate per core).
func BenchmarkIngestZMQ(b *testing.B) {
	p, err := NewPublisher(PublisherConfig{Endpoint: "tcp://127.0.0.1:0", BufferSteps: 16})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ix := NewIndex(0)
	s, err := NewSubscriber(SubscriberConfig{Sources: []Source{{Pod: "p", Endpoint: p.Endpoint()}}, Index: ix})
	if err != nil {
		b.Fatal(err)
	}
	s.Start(context.Background())
	defer s.Close()
	for stats(s, "p").Batches == 0 {
		p.Publish(&Batch{Events: []Event{stored("GPU", 1)}})
		time.Sleep(5 * time.Millisecond)
	}
	batch := &Batch{TS: 1}
	for i := 0; i < 50; i++ {
		batch.Events = append(batch.Events, stored("GPU", uint64(i)), removed("GPU", uint64(i)))
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	var last int64
	for i := 0; i < b.N; i++ {
		last, _ = p.Publish(batch)
		if i%64 == 63 { // let the subscriber keep up (PUB drops past its queue bound)
			for stats(s, "p").LastSeq < last-256 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	for stats(s, "p").LastSeq < last {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	events := float64(b.N * len(batch.Events))
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(events/(cpuTime()-cpu0).Seconds(), "events/cpu-s")
}
