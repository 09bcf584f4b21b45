package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/node/internal/authtoken"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/tiertest"
)

func getStats(t *testing.T, s *Server, path string) *Stats {
	t.Helper()
	code, body := get(t, s, path)
	if code != 200 {
		t.Fatalf("%s: %d %s", path, code, body)
	}
	var st Stats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, body)
	}
	return &st
}

func TestWebViewPageAndAssets(t *testing.T) {
	s, err := New(Config{Engine: newEngine(t)})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("/: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	for _, want := range []string{`id="members-table"`, `id="chart-hitrate"`, `id="chart-bytes"`, `id="chart-ops"`, `id="tiers-table"`, `id="links-table"`, `id="errors-table"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// Every script and stylesheet the page names is served from the
	// binary, and nothing is loaded from elsewhere (the page works offline).
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(body, -1)
	assets := 0
	for _, m := range refs {
		ref := m[1]
		if strings.Contains(ref, "//") {
			t.Errorf("page loads %s from elsewhere", ref)
			continue
		}
		if !strings.HasPrefix(ref, "static/") {
			continue // links to the other admin endpoints
		}
		assets++
		code, _ := get(t, s, "/"+ref)
		if code != 200 {
			t.Errorf("%s: %d", ref, code)
		}
	}
	if assets < 4 {
		t.Errorf("only %d assets referenced", assets)
	}
	if code, _ := get(t, s, "/nothing-here"); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
}

// The vendored chart library is the file its SOURCE.md names.
func TestVendoredChartLibraryMatchesItsSource(t *testing.T) {
	note, err := os.ReadFile("web/vendor/uplot/SOURCE.md")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("web/vendor/uplot/LICENSE"); err != nil {
		t.Fatal("the chart library's licence is missing:", err)
	}
	for _, f := range []string{"uPlot.iife.min.js", "uPlot.min.css"} {
		b, err := web.ReadFile("web/vendor/uplot/" + f)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if !bytes.Contains(note, []byte(hex.EncodeToString(sum[:]))) {
			t.Errorf("%s: sha256 %x is not the one SOURCE.md records", f, sum)
		}
	}
}

func TestStatsJSON(t *testing.T) {
	eng := newEngine(t)
	ctx := context.Background()
	id := artifact.MustID(artifact.NamespaceBlob, "k")
	if err := eng.Store(ctx, id, make([]byte, 1000), actors.StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Load(ctx, nil, id, actors.Chain()); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Load(ctx, nil, artifact.MustID(artifact.NamespaceBlob, "absent"), actors.Chain()); err == nil {
		t.Fatal("absent artifact loaded")
	}
	el := NewErrorLog(4)
	log := slog.New(el.Handler(slog.DiscardHandler))
	log.Warn("disk almost full", "tier", "disk")
	s, err := New(Config{Engine: eng, Errors: el, Status: func(st *Stats) {
		st.Node = "n1"
		st.Cluster = &ClusterStats{Self: "n1", Members: []MemberStatus{{Name: "n1", State: "alive", Self: true}}}
	}})
	if err != nil {
		t.Fatal(err)
	}
	st := getStats(t, s, "/v1/stats")
	if st.Node != "n1" || st.Cluster == nil || len(st.Cluster.Members) != 1 || !st.Ready {
		t.Fatalf("node part: %+v", st)
	}
	if st.Ops.Stores != 1 || st.Ops.StoredBytes != 1000 || st.Ops.Loads != 2 || st.Ops.LoadMisses != 1 || st.Ops.LoadedBytes != 1000 {
		t.Errorf("ops %+v", st.Ops)
	}
	if len(st.Tiers) != 2 || st.Tiers[0].Name != "top" || st.Tiers[0].UsedBytes < 1000 ||
		st.Tiers[0].FreeBytes != st.Tiers[0].CapacityBytes-st.Tiers[0].UsedBytes || st.Tiers[0].HitRate == nil {
		t.Errorf("tiers %+v", st.Tiers)
	}
	if len(st.Links) != 1 || st.Links[0].Policy != "write-back" || st.Links[0].MaxDirtyBytes <= 0 {
		t.Errorf("links %+v", st.Links)
	}
	if len(st.Errors) != 1 || st.Errors[0].Message != "disk almost full" || st.Errors[0].Attrs != "tier=disk" || st.Errors[0].Level != "WARN" {
		t.Errorf("errors %+v", st.Errors)
	}
	if st.SampleIntervalMS != DefaultSampleInterval.Milliseconds() || st.History == nil || st.Servers == nil {
		t.Errorf("defaults: %+v", st)
	}
	if code, _ := get(t, s, "/v1/stats?since=yesterday"); code != 400 {
		t.Errorf("bad since: %d", code)
	}
}

// The history records rates between samples, and since= returns only the
// newer ones, oldest first, from a ring that keeps the last HistoryLen.
func TestHistoryRates(t *testing.T) {
	link := actors.DefaultLinkConfig()
	link.FlushInterval = time.Hour // the dirty bytes stay until the test is done
	eng, err := actors.NewEngine(actors.Config{Tiers: []tiers.Tier{tiertest.New("top", 1<<20), tiertest.New("bottom", 4<<20)},
		Links: []actors.LinkConfig{link}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	ctx := context.Background()
	s, err := New(Config{Engine: eng, HistoryLen: 3})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	s.hist.sample(eng, t0) // baseline: no sample
	if h := getStats(t, s, "/v1/stats").History; len(h) != 0 {
		t.Fatalf("baseline made samples: %+v", h)
	}
	for i := 0; i < 4; i++ {
		if err := eng.Store(ctx, artifact.MustID(artifact.NamespaceBlob, string(rune('a'+i))), make([]byte, 500), actors.StoreOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		if _, err := eng.Load(ctx, nil, artifact.MustID(artifact.NamespaceBlob, "a"), actors.Chain()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eng.Load(ctx, nil, artifact.MustID(artifact.NamespaceBlob, "zz"), actors.Chain()); err == nil {
		t.Fatal("absent artifact loaded")
	}
	s.hist.sample(eng, t0.Add(2*time.Second))
	h := getStats(t, s, "/v1/stats").History
	if len(h) != 1 {
		t.Fatalf("history %+v", h)
	}
	got := h[0]
	if got.T != t0.Add(2*time.Second).UnixMilli() || got.StoresPerSec != 2 || got.WriteBytesPerSec != 1000 ||
		got.LoadsPerSec != 2 || got.ReadBytesPerSec != 750 || got.HitRate == nil || *got.HitRate != 0.75 {
		t.Errorf("sample %+v (hit rate %v)", got, got.HitRate)
	}
	if got.DirtyBytes <= 0 {
		t.Errorf("write-back link has dirty bytes, sample says %d", got.DirtyBytes)
	}
	for i := 2; i <= 5; i++ { // an idle interval has no hit rate, and the ring wraps
		s.hist.sample(eng, t0.Add(time.Duration(2*i)*time.Second))
	}
	h = getStats(t, s, "/v1/stats").History
	if len(h) != 3 || h[0].T != t0.Add(6*time.Second).UnixMilli() || h[2].T != t0.Add(10*time.Second).UnixMilli() {
		t.Fatalf("ring: %+v", h)
	}
	if h[2].HitRate != nil || h[2].LoadsPerSec != 0 {
		t.Errorf("idle sample %+v", h[2])
	}
	h = getStats(t, s, "/v1/stats?since="+itoa(t0.Add(8*time.Second).UnixMilli())).History
	if len(h) != 1 || h[0].T != t0.Add(10*time.Second).UnixMilli() {
		t.Errorf("since: %+v", h)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The sampler runs while the server serves and stops with Shutdown; a
// server that never served shuts down at once.
func TestSamplerLifecycle(t *testing.T) {
	eng := newEngine(t)
	s, err := New(Config{Engine: eng, SampleInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Snapshot(0).History) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no samples after 10 s")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition: the sampler's ticks
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !json.Valid(b) {
		t.Fatalf("served /v1/stats: %d %s", resp.StatusCode, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != http.ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
	select {
	case <-s.samplerDone:
	default:
		t.Fatal("sampler still running after Shutdown")
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	idle, err := New(Config{Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown without Serve: %v", err)
	}
}

func TestErrorLog(t *testing.T) {
	el := NewErrorLog(3)
	var out bytes.Buffer
	log := slog.New(el.Handler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError})))
	log.Info("hello")
	log.With("component", "cluster").WithGroup("peer").Warn("slow", "addr", "10.0.0.1:7947", slog.Group("g", "k", 1))
	log.Error("boom", "err", io.ErrUnexpectedEOF)
	recs := el.Records(nil)
	if len(recs) != 2 {
		t.Fatalf("records %+v", recs)
	}
	if recs[0].Message != "slow" || recs[0].Attrs != "component=cluster peer.addr=10.0.0.1:7947 peer.g.k=1" {
		t.Errorf("first %+v", recs[0])
	}
	if recs[1].Level != "ERROR" || recs[1].Attrs != "err=unexpected EOF" || recs[1].Time.IsZero() {
		t.Errorf("second %+v", recs[1])
	}
	// The wrapped handler still decides what it prints (errors only here).
	if s := out.String(); strings.Contains(s, "hello") || strings.Contains(s, "slow") || !strings.Contains(s, "boom") {
		t.Errorf("wrapped handler printed %q", s)
	}
	for i := 0; i < 5; i++ {
		log.Error("e" + string(rune('0'+i)))
	}
	recs = el.Records(nil)
	if len(recs) != 3 || recs[0].Message != "e2" || recs[2].Message != "e4" {
		t.Errorf("ring %+v", recs)
	}
}

func TestDrainEndpoint(t *testing.T) {
	eng := newEngine(t)
	var drained int
	s, err := New(Config{Engine: eng, Token: authtoken.New("tok"), Drain: func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("drain without a deadline")
		}
		drained++
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, auth string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		s.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	for _, c := range []struct {
		method, path, auth string
		want               int
	}{
		{"POST", "/v1/drain", "", 401},
		{"POST", "/v1/drain", "Bearer nope", 401},
		{"POST", "/v1/drain", "tok", 401},
		{"GET", "/v1/drain", "Bearer tok", 405},
		{"POST", "/v1/drain?timeout=forever", "Bearer tok", 400},
		{"POST", "/v1/drain?timeout=11m", "Bearer tok", 400},
		{"POST", "/v1/drain?timeout=5s", "Bearer tok", 200},
	} {
		if got := do(c.method, c.path, c.auth); got != c.want {
			t.Errorf("%s %s (%q): %d, want %d", c.method, c.path, c.auth, got, c.want)
		}
	}
	if drained != 1 {
		t.Errorf("drained %d times", drained)
	}
	none, err := New(Config{Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, none, "/v1/drain"); code != 404 {
		t.Errorf("drain without Config.Drain: %d", code)
	}
}

// failingTier is a fake tier that reports a failed fsync (tiers.Failer).
type failingTier struct {
	*tiertest.Tier
	err error
}

func (f failingTier) Failed() (error, bool) { return f.err, false }

// A tier that failed for good (a failed fsync) shows on /metrics (the
// alert's stratacache_tier_failed), in /v1/stats and as a degraded engine.
func TestFailedTierIsVisible(t *testing.T) {
	bad := failingTier{Tier: tiertest.New("disk", 4<<20), err: errors.New("fsync: input/output error")}
	eng, err := actors.NewEngine(actors.Config{Tiers: []tiers.Tier{tiertest.New("cpu", 1<<20), bad}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	s, err := New(Config{Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	_, body := get(t, s, "/metrics")
	for _, want := range []string{
		`stratacache_tier_failed{kind="memory",tier="disk"} 1`,
		`stratacache_tier_failed{kind="memory",tier="cpu"} 0`,
		`stratacache_tier_actor_down{kind="memory",tier="cpu"} 0`,
		`stratacache_engine_degraded 1`,
		`stratacache_link_actor_down{lower="disk",policy="write-back",upper="cpu"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	st := getStats(t, s, "/v1/stats")
	if !st.Degraded || st.Ready || len(st.Tiers) != 2 || st.Tiers[0].Failed || !st.Tiers[1].Failed {
		t.Errorf("/v1/stats: degraded %v, tiers %+v", st.Degraded, st.Tiers)
	}
}
