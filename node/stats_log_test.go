package node

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// signalHandler is a slog.Handler that hands every record whose message is
// msg to a channel.
type signalHandler struct {
	msg string
	ch  chan slog.Record
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h signalHandler) WithGroup(string) slog.Handler            { return h }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- r:
		default:
		}
	}
	return nil
}

func TestStatsLogging(t *testing.T) {
	cfg := testConfig()
	cfg.LogStats = true
	cfg.LogEvery = 3
	cfg.LogMinIntervalS = 0.01
	h := signalHandler{msg: "stats", ch: make(chan slog.Record, 1)}
	n, err := New(cfg, slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	defer n.Shutdown(context.Background())
	rw := dialRESP(t, n.Addrs().RESP)
	respDo(t, rw, "SET", "a", "1")
	respDo(t, rw, "GET", "a")
	select {
	case <-h.ch:
		t.Fatal("stats logged before log_every requests")
	default:
	}
	respDo(t, rw, "GET", "a")
	select {
	case r := <-h.ch:
		found := false
		r.Attrs(func(a slog.Attr) bool {
			found = found || a.Key == "tier_cpu"
			return true
		})
		if !found {
			t.Fatal("stats line lacks the cpu tier")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no stats line after log_every requests")
	}
}
