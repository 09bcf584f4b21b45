package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/node/internal/authtoken"
)

// Config configures the admin server.
type Config struct {
	// Engine is the node's engine (read-only use: Stats).
	Engine *actors.Engine
	// Ready reports whether the node serves requests (/readyz); nil: ready
	// while the admin server runs.
	Ready func() bool
	// Page, when set, writes extra lines (addresses, effective config) at
	// the end of the stats page.
	Page func(w io.Writer)
	// Logger receives HTTP server errors; nil discards them.
	Logger *slog.Logger
	// NoMetrics leaves /metrics out (telemetry.export: false); request
	// latencies are still recorded for the stats page.
	NoMetrics bool
	// Status, when set, adds what only the node knows (its name,
	// addresses, protocol servers, cluster, configuration) to each
	// /v1/stats snapshot. It runs on the request's goroutine and must not
	// block for long.
	Status func(*Stats)
	// Errors, when set, is the log the web view shows recent warnings and
	// errors from (wrap the node's log handler with Errors.Handler).
	Errors *ErrorLog
	// SampleInterval and HistoryLen shape the charts' history: one sample
	// of the engine's rates every SampleInterval, the last HistoryLen kept
	// (defaults DefaultSampleInterval, DefaultHistoryLen).
	SampleInterval time.Duration
	HistoryLen     int
	// Token, when it holds a token, protects every endpoint but /healthz
	// and /readyz (the probes): a request must carry it as
	// "Authorization: Bearer <token>" or as the password of HTTP basic
	// auth (any user name: a browser asks for it). nil: no auth.
	Token *authtoken.Token
	// Pprof serves /debug/pprof/ (behind Token like the rest); off by
	// default: profiles and the command line are not for anyone who can
	// reach the port.
	Pprof bool
	// Drain, when set, serves POST /v1/drain (Kubernetes' preStop hook
	// calls it through `stratacache drain`, behind Token like the rest):
	// the node stops reporting ready and flushes its write-back links,
	// within ctx.
	Drain func(ctx context.Context) error
}

// Server is the admin HTTP server.
type Server struct {
	cfg     Config
	reg     *prometheus.Registry
	latency *prometheus.HistogramVec
	mux     *http.ServeMux
	http    *http.Server
	web     *webView
	started time.Time

	// The history sampler runs from Serve to Shutdown.
	hist        *history
	sampleOnce  sync.Once
	stopOnce    sync.Once
	stopSampler chan struct{}
	samplerDone chan struct{}
}

// New builds the admin server and its metrics registry.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil {
		return nil, errors.New("admin: Config.Engine is nil")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.SampleInterval <= 0 {
		cfg.SampleInterval = DefaultSampleInterval
	}
	if cfg.HistoryLen <= 0 {
		cfg.HistoryLen = DefaultHistoryLen
	}
	s := &Server{cfg: cfg, reg: prometheus.NewRegistry(), mux: http.NewServeMux(), started: time.Now(),
		hist: newHistory(cfg.HistoryLen), stopSampler: make(chan struct{}), samplerDone: make(chan struct{})}
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "stratacache_request_duration_seconds",
		Help: "Time to serve one request, by protocol and operation.",
		// 10 µs to ~20 s: a PING on loopback up to a 64 MiB value on a slow link.
		Buckets: prometheus.ExponentialBuckets(10e-6, 2.5, 16),
	}, []string{"protocol", "op"})
	s.reg.MustRegister(newEngineCollector(cfg.Engine), s.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ready := func() bool {
		return (cfg.Ready == nil || cfg.Ready()) && !cfg.Engine.Degraded()
	}
	s.reg.MustRegister(readyAndBuild(ready, buildVersion())...)
	protect := s.protect
	if !cfg.NoMetrics {
		s.mux.Handle("/metrics", protect(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)})))
	}
	// The probes stay open: a kubelet or load balancer carries no token.
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	s.mux.HandleFunc("/readyz", s.readyz)
	if cfg.Pprof {
		s.mux.Handle("/debug/pprof/", protect(http.HandlerFunc(pprof.Index)))
		s.mux.Handle("/debug/pprof/cmdline", protect(http.HandlerFunc(pprof.Cmdline)))
		s.mux.Handle("/debug/pprof/profile", protect(http.HandlerFunc(pprof.Profile)))
		s.mux.Handle("/debug/pprof/symbol", protect(http.HandlerFunc(pprof.Symbol)))
		s.mux.Handle("/debug/pprof/trace", protect(http.HandlerFunc(pprof.Trace)))
	}
	s.mux.Handle("/stats.txt", protect(http.HandlerFunc(s.page)))
	web, err := newWebView(s)
	if err != nil {
		return nil, fmt.Errorf("admin: web view: %w", err)
	}
	s.web = web
	web.register(s.mux, protect)
	if cfg.Drain != nil {
		s.mux.Handle("POST "+DrainPath, protect(http.HandlerFunc(s.serveDrain)))
	}
	s.http = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// protect is the admin port's access rule (Config.Token) around h.
func (s *Server) protect(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := s.cfg.Token; tok.Required() && !tok.Check(requestToken(r)) {
			w.Header().Set("WWW-Authenticate", `Basic realm="stratacache admin", charset="UTF-8"`)
			http.Error(w, "unauthorized: this node's auth token is required (Authorization: Bearer <token>)\n", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// requestToken is the token a request presents: a bearer token, or the
// password of basic auth.
func requestToken(r *http.Request) []byte {
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return []byte(strings.TrimSpace(a[7:]))
	}
	if _, pass, ok := r.BasicAuth(); ok {
		return []byte(pass)
	}
	return nil
}

// Registry is the server's metrics registry, for the node's own collectors.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Handler serves every admin endpoint (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.mux }

// RequestObserver returns the function a protocol server calls after every
// request with the op's name and duration. It is safe for concurrent use,
// does not block, and does not allocate once an op has been seen.
func (s *Server) RequestObserver(protocol string) func(op string, d time.Duration) {
	var byOp sync.Map // op -> prometheus.Observer
	return func(op string, d time.Duration) {
		o, ok := byOp.Load(op)
		if !ok {
			o, _ = byOp.LoadOrStore(op, s.latency.WithLabelValues(protocol, op))
		}
		o.(prometheus.Observer).Observe(d.Seconds())
	}
}

// Serve serves HTTP on ln until Shutdown; it returns http.ErrServerClosed
// then. The first Serve also starts the charts' history sampler.
func (s *Server) Serve(ln net.Listener) error {
	s.StartSampler()
	return s.http.Serve(ln)
}

// StartSampler starts sampling the engine's rates for the charts (Serve
// does it; call it when serving Handler on a listener of your own).
// Shutdown stops it. Safe to call more than once.
func (s *Server) StartSampler() {
	s.sampleOnce.Do(func() {
		go func() {
			defer close(s.samplerDone)
			s.hist.run(s.cfg.Engine, s.cfg.SampleInterval, s.stopSampler)
		}()
	})
}

// Shutdown stops the server gracefully, and the history sampler.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stopSampler) })
	s.sampleOnce.Do(func() { close(s.samplerDone) }) // never started
	select {
	case <-s.samplerDone: // the sampler sees stop at once: a sample takes microseconds
	case <-ctx.Done():
	}
	return s.http.Shutdown(ctx)
}

// Snapshot is the /v1/stats document now, with the history samples newer
// than sinceMS (unix ms; 0: all).
func (s *Server) Snapshot(sinceMS int64) *Stats { return s.web.Snapshot(sinceMS) }

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Ready != nil && !s.cfg.Ready() {
		http.Error(w, "not ready\n", http.StatusServiceUnavailable)
		return
	}
	// A degraded engine (an actor past its restart budget, a tier that
	// failed for good) serves some calls and fails others fast: not ready,
	// so that a load balancer routes around it.
	if h := s.cfg.Engine.Health(); h.Degraded {
		http.Error(w, h.String()+"\n", http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

// page is the human stats page: one table of tiers, one of links.
func (s *Server) page(w http.ResponseWriter, _ *http.Request) {
	var es actors.EngineStats
	s.cfg.Engine.Stats(&es)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "StrataCache node — %s\n\n", time.Now().UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tier\tkind\tused MiB\tcapacity MiB\tartifacts\thits\tmisses\thit %\tevictions\tpromotions\tdemotions\t")
	for _, t := range es.Tiers {
		hitPct := 0.0
		if n := t.Hits + t.Misses; n > 0 {
			hitPct = 100 * float64(t.Hits) / float64(n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%d\t%d\t%d\t%.1f\t%d\t%d\t%d\t\n", t.Name, t.Kind,
			float64(t.UsedBytes)/(1<<20), float64(t.CapacityBytes)/(1<<20), t.Artifacts,
			t.Hits, t.Misses, hitPct, t.Evictions, t.Promotions, t.Demotions)
	}
	_ = tw.Flush()
	if len(es.Links) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "link\tpolicy\tdirty\tdirty MiB\tflushed\tflush lag\t")
		for _, l := range es.Links {
			fmt.Fprintf(tw, "%s->%s\t%s\t%d\t%.1f\t%d\t%s\t\n", l.Upper, l.Lower, l.Policy,
				l.DirtyArtifacts, float64(l.DirtyBytes)/(1<<20), l.Flushed, l.FlushLag.Round(time.Millisecond))
		}
		_ = tw.Flush()
	}
	if mfs, err := s.reg.Gather(); err == nil {
		var names []string
		for _, mf := range mfs {
			if mf.GetName() == "stratacache_request_duration_seconds" {
				for _, m := range mf.GetMetric() {
					h := m.GetHistogram()
					var proto, op string
					for _, lp := range m.GetLabel() {
						switch lp.GetName() {
						case "protocol":
							proto = lp.GetValue()
						case "op":
							op = lp.GetValue()
						}
					}
					names = append(names, fmt.Sprintf("%s %s\t%d\t%.1f\t", proto, op, h.GetSampleCount(),
						1e6*h.GetSampleSum()/float64(max(h.GetSampleCount(), 1))))
				}
			}
		}
		if len(names) > 0 {
			sort.Strings(names)
			fmt.Fprintln(w)
			tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "requests\tcount\tmean µs\t")
			for _, n := range names {
				fmt.Fprintln(tw, n)
			}
			_ = tw.Flush()
		}
	}
	if s.cfg.Page != nil {
		fmt.Fprintln(w)
		s.cfg.Page(w)
	}
}
