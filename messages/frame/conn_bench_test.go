package frame

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/stratacache/stratacache/messages"
)

// BenchmarkConnVsRaw measures what Conn costs per request over the
// simplest synchronous client (write a frame, read the reply into a
// buffer, nothing else: no deadlines, no pipelining), each on its own
// connection to the same loopback echo server, alternating rounds of 64
// round trips so that both see the same machine. It reports both rates
// and the median per-round ratio (Conn / raw throughput).
func BenchmarkConnVsRaw(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		b.Run(map[int]string{4 << 10: "4KiB", 1 << 20: "1MiB"}[size], func(b *testing.B) { benchConnVsRaw(b, size) })
	}
}

func benchConnVsRaw(b *testing.B, size int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	payload := make([]byte, size)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				r := NewReader(nc, DefaultLimits())
				var scratch []byte
				var h messages.FrameHeader
				for {
					if _, err := r.Next(&h); err != nil {
						return
					}
					if scratch, err = Write(nc, scratch, &messages.FrameHeader{RequestId: h.RequestId, Op: messages.Op_OP_REPLY}, payload); err != nil {
						return
					}
				}
			}()
		}
	}()
	dial := func() net.Conn {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		return nc
	}
	c := NewConn(dial(), DefaultLimits())
	defer c.Close()
	raw := dial()
	defer raw.Close()
	rr := NewReader(raw, DefaultLimits())
	var scratch []byte
	var rh messages.FrameHeader
	var id uint64
	bufC, bufR := make([]byte, size), make([]byte, size)
	ctx := context.Background()
	const round = 64
	conn := func() time.Duration {
		t0 := time.Now()
		for j := 0; j < round; j++ {
			rep, err := c.RoundTrip(ctx, &messages.FrameHeader{Op: messages.Op_OP_GET})
			if err != nil {
				b.Fatal(err)
			}
			if err := rep.ReadPayload(bufC[:rep.Pending()]); err != nil {
				b.Fatal(err)
			}
			_ = rep.Close()
		}
		return time.Since(t0)
	}
	rawRT := func() time.Duration {
		t0 := time.Now()
		for j := 0; j < round; j++ {
			id++
			if scratch, err = Write(raw, scratch, &messages.FrameHeader{RequestId: id, Op: messages.Op_OP_GET}); err != nil {
				b.Fatal(err)
			}
			p, err := rr.Next(&rh)
			if err != nil {
				b.Fatal(err)
			}
			if err := rr.ReadPayload(bufR[:p.PayloadLen]); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	var tc, tr time.Duration
	var ratios []float64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += round {
		var dc, dr time.Duration
		if (i/round)%2 == 0 {
			dc, dr = conn(), rawRT()
		} else {
			dr, dc = rawRT(), conn()
		}
		tc += dc
		tr += dr
		ratios = append(ratios, float64(dr)/float64(dc))
	}
	b.StopTimer()
	n := float64(len(ratios) * round)
	slices.Sort(ratios)
	b.ReportMetric(n/tc.Seconds(), "conn-ops/s")
	b.ReportMetric(n/tr.Seconds(), "raw-ops/s")
	b.ReportMetric(ratios[len(ratios)/2], "conn/raw")
}
