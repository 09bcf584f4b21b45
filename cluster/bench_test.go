package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

var (
	fullBench  = flag.Bool("cluster.bench", false, "run RunBench with the default (issue) sizes and print it")
	fetchBench = flag.Bool("cluster.fetchbench", false, "run RunBench's remote-fetch part only")
)

func TestRunBenchFetch(t *testing.T) {
	if !*fetchBench {
		t.Skip("needs -cluster.fetchbench")
	}
	o := DefaultBenchOptions()
	o.SkipGossip = true
	o.DirectoryEntries = 10
	if err := RunBenchWith(os.Stdout, false, o); err != nil {
		t.Fatal(err)
	}
}

func TestRunBenchSmall(t *testing.T) {
	o := BenchOptions{Nodes: 4, Entries: 50, FetchSizes: []int{1 << 20}, FetchBytes: 8 << 20, Trials: 1, DirectoryEntries: 10000, SkipFailure: true, PropagationTimeout: 30 * time.Second}
	var buf bytes.Buffer
	if err := RunBenchWith(&buf, true, o); err != nil {
		t.Fatal(err)
	}
	var r BenchResult
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		t.Fatalf("bench JSON: %v\n%s", err, buf.String())
	}
	if r.Propagation.Entries != 50 || r.Propagation.P99 <= 0 || len(r.RemoteFetch) != 1 || r.RemoteFetch[0].GBps <= 0 || r.Directory.BytesPerEntry <= 0 {
		t.Fatalf("bench result %+v", r)
	}
	buf.Reset()
	if err := RunBenchWith(&buf, false, o); err != nil || !bytes.Contains(buf.Bytes(), []byte("remote_fetch")) {
		t.Fatalf("table: %v\n%s", err, buf.String())
	}
}

// TestRunBenchFull prints the figures as a table: go test ./cluster -run 'RunBenchFull$' -cluster.bench -v
func TestRunBenchFull(t *testing.T) {
	if !*fullBench {
		t.Skip("needs -cluster.bench (~20 s)")
	}
	if err := RunBench(os.Stdout, false); err != nil {
		t.Fatal(err)
	}
}

func benchmarkPeerFetch(b *testing.B, size int) {
	src, err := benchTier("mem", int64(size)*2)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dst, err := benchTier("mem", 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Close()
	a, err := benchNode("bsrc", nil, src, nopLocalStore{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.shutdown(false)
	c, err := benchNode("bdst", nil, dst, nopLocalStore{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.shutdown(false)
	id := artifact.MustID(artifact.NamespaceKV, "bench")
	if err := a.local[0].Put(context.Background(), id, payloadOf(1, size), tiers.PutOptions{}); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, _, err := c.peers.fetch(context.Background(), a.PeerAddr(), id, func(int) []byte { return buf }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPeerFetch4MiB(b *testing.B)  { benchmarkPeerFetch(b, 4<<20) }
func BenchmarkPeerFetch16MiB(b *testing.B) { benchmarkPeerFetch(b, 16<<20) }

func BenchmarkRawTCP16MiB(b *testing.B) {
	payload := payloadOf(1, 16<<20)
	s, err := newRawServer(payload)
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	buf := make([]byte, len(payload))
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.fetch(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRunBenchFullJSON prints RunBench's JSON: go test ./cluster -run RunBenchFullJSON -cluster.bench -v
func TestRunBenchFullJSON(t *testing.T) {
	if !*fullBench {
		t.Skip("needs -cluster.bench (~40 s)")
	}
	if err := RunBench(os.Stdout, true); err != nil {
		t.Fatal(err)
	}
}
