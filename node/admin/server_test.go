package admin

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/tiertest"
)

func newEngine(t *testing.T) *actors.Engine {
	t.Helper()
	eng, err := actors.NewEngine(actors.Config{Tiers: []tiers.Tier{tiertest.New("top", 1<<20), tiertest.New("bottom", 4<<20)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	return eng
}

func get(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// A degraded engine (here: a tier that failed for good) makes the node not
// ready, and says why; the metrics show it.
func TestReadyzReportsADegradedEngine(t *testing.T) {
	bottom := tiertest.New("bottom", 4<<20)
	eng, err := actors.NewEngine(actors.Config{Tiers: []tiers.Tier{tiertest.New("top", 1<<20), bottom}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	s, err := New(Config{Engine: eng, Ready: func() bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	bottom.SetFailed(errors.New("sync: input/output error"), true)
	code, body := get(t, s, "/readyz")
	if code != 503 || !strings.Contains(body, "bottom: sync: input/output error") {
		t.Fatalf("readyz of a degraded engine: %d %q", code, body)
	}
	_, body = get(t, s, "/metrics")
	for _, want := range []string{"stratacache_engine_degraded 1\n", `stratacache_tier_failed{kind="memory",tier="bottom"} 1`, "stratacache_ready 0\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestEndpoints(t *testing.T) {
	eng := newEngine(t)
	if err := eng.Store(context.Background(), artifact.MustID(artifact.NamespaceBlob, "k"), make([]byte, 1000), actors.StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	var ready atomic.Bool
	s, err := New(Config{Engine: eng, Ready: ready.Load, Page: func(w io.Writer) { io.WriteString(w, "extra-line\n") }})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, s, "/readyz"); code != 503 {
		t.Fatalf("readyz while not ready: %d", code)
	}
	ready.Store(true)
	if code, _ := get(t, s, "/readyz"); code != 200 {
		t.Fatalf("readyz while ready: %d", code)
	}
	if code, body := get(t, s, "/metrics"); code != 200 || !strings.Contains(body, "stratacache_engine_degraded 0\n") || !strings.Contains(body, "stratacache_ready 1\n") {
		t.Fatalf("metrics of a healthy engine: %d", code)
	}
	obs := s.RequestObserver("resp")
	obs("GET", 30*time.Microsecond)
	obs("GET", 50*time.Microsecond)
	code, body := get(t, s, "/metrics")
	for _, want := range []string{
		`stratacache_tier_puts_total{kind="memory",tier="top"} 1`,
		`stratacache_link_dirty_artifacts{lower="bottom",policy="write-back",upper="top"} `, // 1 or 0: the link flushes every 100 ms
		`stratacache_link_flush_lag_seconds{lower="bottom",policy="write-back",upper="top"}`,
		`stratacache_request_duration_seconds_count{op="GET",protocol="resp"} 2`,
		`stratacache_engine_stores_total 1`,
		`stratacache_engine_stored_bytes_total 1000`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	code, body = get(t, s, "/stats.txt")
	if code != 200 || !strings.Contains(body, "top->bottom") || !strings.Contains(body, "resp GET") || !strings.Contains(body, "extra-line") {
		t.Fatalf("stats page %d:\n%s", code, body)
	}
	quiet, err := New(Config{Engine: eng, NoMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, quiet, "/metrics"); code != 404 {
		t.Fatalf("/metrics with NoMetrics: %d", code)
	}
}
