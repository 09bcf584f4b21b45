package getbench

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/clientsdk"
	"github.com/stratacache/stratacache/node/native"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/memory"
)

// startServer runs a real native server over an engine with a 256 MiB
// memory tier on a loopback port.
func startServer(tb testing.TB) string {
	tb.Helper()
	mem, err := memory.New(memory.DefaultConfig(256 << 20))
	if err != nil {
		tb.Fatal(err)
	}
	eng, err := actors.NewEngine(actors.Config{Tiers: []tiers.Tier{mem}, PromoteOnHit: true, RequestTimeout: 10 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := native.NewServer(native.ServerConfig{Engine: eng})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = eng.Close()
	})
	return ln.Addr().String()
}

func TestSDKReadsWhatNativeWrote(t *testing.T) {
	addr := startServer(t)
	ctx := context.Background()
	raw, err := native.Dial(ctx, addr, native.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c, err := clientsdk.New(clientsdk.WithNodes(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := artifact.MustID(artifact.NamespaceKV, "m@0000000000000001/all")
	if err := raw.Put(ctx, id, []byte("from native"), artifact.Meta{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, nil, id)
	if err != nil || string(got) != "from native" {
		t.Fatalf("sdk get = %q, %v", got, err)
	}
	missing := artifact.MustID(artifact.NamespaceKV, "m@0000000000000002/all")
	if _, err := c.Get(ctx, nil, missing); !errorsIsNotFound(err) {
		t.Fatalf("missing: %v", err)
	}
	mg, err := c.MGet(ctx, []artifact.ID{id, missing})
	if err != nil || string(mg[0]) != "from native" || mg[1] != nil {
		t.Fatalf("mget = %q, %v", mg, err)
	}
	ok, err := c.MExists(ctx, []artifact.ID{missing, id})
	if err != nil || ok[0] || !ok[1] {
		t.Fatalf("mexists = %v, %v", ok, err)
	}
	// The real node's client port has no prefetch op: ParamStore falls back
	// to reads.
	ps := c.ParamStore("m")
	if err := ps.PutChunk(ctx, "w", 0, []byte("p")); err != nil {
		t.Fatal(err)
	}
	if n, err := ps.Prefetch(ctx, "w"); n != 1 || err != nil {
		t.Fatalf("prefetch = %d, %v", n, err)
	}
}

// BenchmarkGet4MiB alternates raw native and SDK reads of the same 4 MiB
// artifact from the same server, each into a reused buffer on one
// connection (which goes first alternates), and reports both throughputs
// and their ratio (SDK / native throughput: the median of per-round ratios
// over rounds of 8 reads each).
func BenchmarkGet4MiB(b *testing.B) {
	addr := startServer(b)
	ctx := context.Background()
	raw, err := native.Dial(ctx, addr, native.DialOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	c, err := clientsdk.New(clientsdk.WithNodes(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const size = 4 << 20
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	id := artifact.MustID(artifact.NamespaceKV, "bench@00000000000000aa/all")
	if err := c.Put(ctx, id, payload); err != nil {
		b.Fatal(err)
	}
	bufN, bufS := make([]byte, size), make([]byte, size)
	const round = 8
	var tn, ts time.Duration
	var ratios []float64
	b.SetBytes(size * 2)
	b.ReportAllocs()
	b.ResetTimer()
	readN := func() time.Duration {
		t0 := time.Now()
		for j := 0; j < round; j++ {
			if bufN, _, err = raw.Get(ctx, bufN, id); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	readS := func() time.Duration {
		t0 := time.Now()
		for j := 0; j < round; j++ {
			if bufS, err = c.Get(ctx, bufS, id); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	for i := 0; i < b.N; i += round {
		var dn, ds time.Duration
		if (i/round)%2 == 0 { // alternate which goes first
			dn, ds = readN(), readS()
		} else {
			ds, dn = readS(), readN()
		}
		tn += dn
		ts += ds
		ratios = append(ratios, float64(dn)/float64(ds))
	}
	b.StopTimer()
	reads := float64(len(ratios) * round * size)
	slices.Sort(ratios)
	b.ReportMetric(reads/tn.Seconds()/1e9, "native-GB/s")
	b.ReportMetric(reads/ts.Seconds()/1e9, "sdk-GB/s")
	b.ReportMetric(ratios[len(ratios)/2], "sdk/native")
}
