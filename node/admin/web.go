package admin

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/stratacache/stratacache/actors"
)

// web holds the live web view: index.html, its script and style, and the
// vendored chart library (web/vendor/uplot/SOURCE.md). Everything is in
// the binary: the page needs no network and no build step.
//
//go:embed web
var web embed.FS

// The web view's routes. Relative links inside the page keep it working
// behind a proxy that mounts the admin port under a path prefix.
const (
	statsPath  = "/v1/stats"
	staticPath = "/static/"
)

// webView serves the live web view and its JSON.
type webView struct {
	s       *Server
	index   []byte
	static  http.Handler
	version string

	bufMu sync.Mutex
	es    actors.EngineStats // reused by snapshots
}

func newWebView(s *Server) (*webView, error) {
	index, err := web.ReadFile("web/index.html")
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(web, "web")
	if err != nil {
		return nil, err
	}
	return &webView{
		s:       s,
		index:   index,
		static:  http.StripPrefix(staticPath, http.FileServerFS(sub)),
		version: buildVersion(),
	}, nil
}

// register adds the web view's routes to mux, each through wrap (the
// admin port's access rule).
func (v *webView) register(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	mux.Handle("GET /{$}", wrap(http.HandlerFunc(v.serveIndex)))
	mux.Handle("GET "+staticPath, wrap(v.static))
	mux.Handle("GET "+statsPath, wrap(http.HandlerFunc(v.serveStats)))
}

func (v *webView) serveIndex(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// The page loads only its own script and style and talks only to its
	// own origin.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(v.index)
}

// serveStats answers GET /v1/stats[?since=<unix ms>]: the snapshot, with
// only the history samples newer than since when it is given.
func (v *webView) serveStats(w http.ResponseWriter, r *http.Request) {
	var since int64
	if q := r.URL.Query().Get("since"); q != "" {
		n, err := strconv.ParseInt(q, 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "since: want unix milliseconds\n", http.StatusBadRequest)
			return
		}
		since = n
	}
	st := v.Snapshot(since)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	_ = enc.Encode(st)
}

// Snapshot builds the /v1/stats document.
func (v *webView) Snapshot(sinceMS int64) *Stats {
	s := v.s
	st := &Stats{
		Version:          v.version,
		Time:             time.Now().UTC(),
		Started:          s.started.UTC(),
		Ready:            (s.cfg.Ready == nil || s.cfg.Ready()) && !s.cfg.Engine.Degraded(), // as /readyz
		Servers:          []ServerStats{},
		Errors:           []LogRecord{},
		History:          []Sample{},
		SampleIntervalMS: s.cfg.SampleInterval.Milliseconds(),
	}
	v.bufMu.Lock()
	s.cfg.Engine.Stats(&v.es)
	fillEngine(st, &v.es)
	v.bufMu.Unlock()
	st.History = s.hist.since(st.History, sinceMS)
	if s.cfg.Errors != nil {
		st.Errors = s.cfg.Errors.Records(st.Errors)
	}
	if s.cfg.Status != nil {
		s.cfg.Status(st)
	}
	return st
}

// Version is the release the binary reports on the web view, /v1/stats and
// stratacache_build_info. Release builds set it with -ldflags "-X
// github.com/stratacache/stratacache/node/admin.Version=..." (the
// Dockerfile does); otherwise the Go toolchain's build information says
// what it can (module version, VCS revision).
var Version string

// buildVersion is Version, else the module version and VCS revision the
// binary was built from, as far as the Go toolchain recorded them.
func buildVersion() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " " + rev + dirty
	}
	return v
}
