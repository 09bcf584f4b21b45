package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/cluster"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/node/admin"
	"github.com/stratacache/stratacache/node/internal/authtoken"
	"github.com/stratacache/stratacache/node/internal/inflight"
	"github.com/stratacache/stratacache/node/internal/keylock"
	"github.com/stratacache/stratacache/node/native"
	"github.com/stratacache/stratacache/node/resp"
)

// Addrs are the addresses a node listens on ("" for a disabled port).
type Addrs struct {
	RESP, Native, Admin string
}

// Node is one running StrataCache node.
type Node struct {
	cfg    Config
	log    *slog.Logger
	eng    *actors.Engine
	resp   *resp.Server
	native *native.Server
	admin  *admin.Server

	respLn, nativeLn, adminLn net.Listener

	ready    atomic.Bool
	errc     chan error
	wg       sync.WaitGroup
	stopLog  chan struct{}
	shutOnce sync.Once
	shutErr  error
	cluster  *cluster.Node // nil unless cfg.Cluster.Enabled()
	budget   *inflight.Budget
	token    *authtoken.Token // auth.token, live (CONFIG SET requirepass)
	locks    keylock.Table    // every writer of a key, on either port
	feed     *eventFeed       // KV event publishing (kv_events), nil when off
}

// New validates cfg, builds the engine (BuildEngine) and binds the
// listeners (so that Addrs is known, also for port 0), but serves nothing
// until Start.
func New(cfg Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log, errs := withErrorLog(log)
	var feed *eventFeed
	if cfg.KVEvents.Endpoint != "" {
		var err error
		if feed, err = newEventFeed(cfg, log); err != nil {
			return nil, err
		}
	}
	if !cfg.Cluster.Enabled() {
		eng, pa, err := buildEngine(cfg, log, feed)
		if err != nil {
			closeFeed(feed)
			return nil, err
		}
		n, err := newWithEngine(cfg, eng, pa, log, errs)
		if err != nil {
			closeFeed(feed)
			return nil, err
		}
		n.setFeed(feed)
		return n, nil
	}
	cc, err := ClusterSettings(cfg, log)
	if err != nil {
		closeFeed(feed)
		return nil, err
	}
	eng, cn, pa, err := buildClustered(cfg, cc, log, feed)
	if err != nil {
		closeFeed(feed)
		return nil, err
	}
	n, err := newWithEngine(cfg, eng, pa, log, errs)
	if err != nil {
		_ = cn.Close()
		closeFeed(feed)
		return nil, err
	}
	n.setFeed(feed)
	n.cluster = cn
	if n.admin != nil {
		n.admin.Registry().MustRegister(newClusterCollector(cn))
	}
	// The listeners are bound now (port 0 resolved): tell the cluster, so
	// that clients following it can route to this node's client ports.
	a := n.Addrs()
	cn.SetClientAddrs(a.Native, a.RESP)
	return n, nil
}

// members answers the native port's OP_MEMBERS from the cluster's gossip
// view (none for a node that runs alone). n.cluster is set before Start,
// so connections, which exist only after it, see it.
func (n *Node) members() []*messages.MemberInfo {
	if n.cluster == nil {
		return nil
	}
	return n.cluster.MemberInfos()
}

// Cluster is the node's cluster membership, nil for a node that runs alone.
func (n *Node) Cluster() *cluster.Node { return n.cluster }

// NewWithEngine is New around an engine built elsewhere (tests, embedding,
// the cluster's own chains). The node owns eng from now on: Shutdown closes
// it, and so does a failing NewWithEngine.
func NewWithEngine(cfg Config, eng *actors.Engine, log *slog.Logger) (*Node, error) {
	log, errs := withErrorLog(log)
	return newWithEngine(cfg, eng, nil, log, errs)
}

// newWithEngine is NewWithEngine with the log already wrapped by
// withErrorLog (errs is its recent-errors list, shown by the web view) and
// pa the CXL pool co-located clients may attach to (nil: none).
func newWithEngine(cfg Config, eng *actors.Engine, pa *poolAttach, log *slog.Logger, errs *admin.ErrorLog) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		_ = eng.Close()
		return nil, err
	}
	var tlsCfg *tls.Config
	if cfg.TLS.Enabled() {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			_ = eng.Close()
			return nil, fmt.Errorf("%w: tls: %w", ErrConfig, err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var err error
	n := &Node{cfg: cfg, log: log, eng: eng, errc: make(chan error, 3), stopLog: make(chan struct{})}
	fail := func(err error) (*Node, error) {
		n.closeListeners()
		_ = eng.Close()
		return nil, err
	}
	n.token = authtoken.New(cfg.Auth.Token)
	lim := cfg.Limits
	idle := seconds(lim.IdleTimeoutS)
	loops := 0 // the servers' default: one loop per port
	if cfg.Listen.DisableEventLoop {
		loops = -1
	}
	n.budget = inflight.New(lim.MaxInflightMB<<20, seconds(lim.InflightWaitS))
	if cfg.Listen.Admin != "" {
		n.admin, err = admin.New(admin.Config{Engine: eng, Ready: n.ready.Load, Page: n.page, Logger: log,
			NoMetrics: !cfg.Telemetry.Export, Status: n.adminStatus, Errors: errs,
			Token: n.token, Pprof: cfg.Telemetry.Pprof, Drain: n.Drain})
		if err != nil {
			return fail(err)
		}
	}
	observe := func(proto string) func(string, time.Duration) {
		if n.admin == nil {
			return nil
		}
		return n.admin.RequestObserver(proto)
	}
	if cfg.Listen.RESP != "" {
		n.resp, err = resp.New(resp.Config{
			Engine: eng,
			Token:  n.token,
			TLS:    tlsCfg,
			Limits: resp.Limits{
				MaxBulk:    lim.MaxPayloadMB << 20,
				MaxRequest: lim.MaxRequestMB << 20,
				MaxArgs:    2*lim.MaxBatch + 8,
			},
			MaxConns:     lim.MaxConnections,
			IdleTimeout:  idle,
			ReadTimeout:  seconds(lim.ReadTimeoutS),
			WriteTimeout: seconds(lim.WriteTimeoutS),
			Budget:       n.budget,
			Locks:        &n.locks,
			Params:       n.liveParams(),
			Policy:       redisPolicy(cfg.CPUPolicy),
			EventLoops:   loops,
			Logger:       log.With("component", "resp"),
			Observe:      observe("resp"),
			Info:         n.info,
		})
		if err != nil {
			return fail(err)
		}
		if n.respLn, err = net.Listen("tcp", cfg.Listen.RESP); err != nil {
			return fail(fmt.Errorf("node: listen resp: %w", err))
		}
	}
	if cfg.Listen.Native != "" {
		attrs := helloAttrs(cfg)
		var locate func(artifact.ID) (*messages.PoolLocation, error)
		if pa != nil {
			attrs["cxl_pool"] = pa.path
			attrs["cxl_pool_writeback"] = strconv.FormatBool(pa.writeback)
			locate = pa.locate
		}
		n.native, err = native.NewServer(native.ServerConfig{
			Engine:       eng,
			Token:        n.token,
			TLS:          tlsCfg,
			MaxPayload:   lim.MaxPayloadMB << 20,
			MaxRequest:   lim.MaxRequestMB << 20,
			MaxBatch:     lim.MaxBatch,
			MaxConns:     lim.MaxConnections,
			IdleTimeout:  idle,
			ReadTimeout:  seconds(lim.ReadTimeoutS),
			WriteTimeout: seconds(lim.WriteTimeoutS),
			Budget:       n.budget,
			Locks:        &n.locks,
			EventLoops:   loops,
			Logger:       log.With("component", "native"),
			Observe:      observe("native"),
			Attrs:        attrs,
			Members:      n.members,
			Locate:       locate,
		})
		if err != nil {
			return fail(err)
		}
		if n.nativeLn, err = net.Listen("tcp", cfg.Listen.Native); err != nil {
			return fail(fmt.Errorf("node: listen native: %w", err))
		}
	}
	if n.admin != nil && cfg.Listen.Admin != "" {
		n.registerServerMetrics()
		if n.adminLn, err = net.Listen("tcp", cfg.Listen.Admin); err != nil {
			return fail(fmt.Errorf("node: listen admin: %w", err))
		}
	}
	return n, nil
}

func (n *Node) closeListeners() {
	for _, ln := range []net.Listener{n.respLn, n.nativeLn, n.adminLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

// Engine is the node's storage engine.
func (n *Node) Engine() *actors.Engine { return n.eng }

// Config is the node's effective configuration.
func (n *Node) Config() Config { return n.cfg }

// Addrs are the bound addresses (the real port when configured with 0).
func (n *Node) Addrs() Addrs {
	var a Addrs
	if n.respLn != nil {
		a.RESP = n.respLn.Addr().String()
	}
	if n.nativeLn != nil {
		a.Native = n.nativeLn.Addr().String()
	}
	if n.adminLn != nil {
		a.Admin = n.adminLn.Addr().String()
	}
	return a
}

// Err delivers the error of a server that stopped on its own (not by
// Shutdown); the node should then be shut down.
func (n *Node) Err() <-chan error { return n.errc }

// Start serves every configured port and starts the stats logger.
func (n *Node) Start() {
	serve := func(name string, f func() error, closed error) {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := f(); err != nil && !errors.Is(err, closed) {
				n.errc <- fmt.Errorf("node: %s server: %w", name, err)
			}
		}()
	}
	if n.resp != nil {
		serve("resp", func() error { return n.resp.Serve(n.respLn) }, resp.ErrServerClosed)
	}
	if n.native != nil {
		serve("native", func() error { return n.native.Serve(n.nativeLn) }, native.ErrServerClosed)
	}
	if n.adminLn != nil {
		serve("admin", func() error { return n.admin.Serve(n.adminLn) }, http.ErrServerClosed)
	}
	if n.cfg.LogStats {
		n.wg.Add(1)
		go n.logStats()
	}
	n.ready.Store(true)
}

// Requests is the number of requests served on both data ports.
func (n *Node) Requests() int64 {
	var total int64
	if n.resp != nil {
		total += n.resp.Stats().Commands
	}
	if n.native != nil {
		total += n.native.Stats().Requests
	}
	return total
}

// Shutdown stops the node gracefully: readiness off, no new connections,
// in-flight requests finished, then the engine closed (which drains the
// write-back links and closes the tiers), then the admin port. If ctx ends
// first the data connections are cut, the engine is still closed, and ctx's
// error is part of the result. Safe to call twice.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shutOnce.Do(func() {
		n.ready.Store(false)
		// The data listeners close now (also those of a node that was never
		// started); the admin port keeps answering /readyz with 503 during
		// the drain and closes last.
		for _, ln := range []net.Listener{n.respLn, n.nativeLn} {
			if ln != nil {
				_ = ln.Close()
			}
		}
		var (
			errs []error
			mu   sync.Mutex
			wg   sync.WaitGroup
		)
		add := func(err error) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
		if n.resp != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := n.resp.Shutdown(ctx); err != nil {
					add(fmt.Errorf("resp: %w", err))
				}
			}()
		}
		if n.native != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := n.native.Shutdown(ctx); err != nil {
					add(fmt.Errorf("native: %w", err))
				}
			}()
		}
		wg.Wait()
		close(n.stopLog)
		if n.cluster != nil {
			// Leave the cluster before the engine closes the tiers the
			// peer server reads from.
			if err := n.cluster.Close(); err != nil {
				errs = append(errs, fmt.Errorf("cluster: %w", err))
			}
		}
		// The write-back drain shares the shutdown deadline.
		if err := n.eng.CloseContext(ctx); err != nil {
			errs = append(errs, err)
		}
		// After the engine: its last evictions and flushes are published.
		if n.feed != nil {
			if err := n.feed.Close(); err != nil {
				errs = append(errs, fmt.Errorf("kv_events: %w", err))
			}
		}
		if n.admin != nil {
			if err := n.admin.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("admin: %w", err))
			}
		}
		if n.adminLn != nil {
			_ = n.adminLn.Close()
		}
		n.wg.Wait()
		n.shutErr = errors.Join(errs...)
	})
	return n.shutErr
}

// logStats logs the engine's stats when at least log_every requests were
// served since the last line, at most once per log_min_interval_s.
func (n *Node) logStats() {
	defer n.wg.Done()
	interval := max(seconds(n.cfg.LogMinIntervalS), 100*time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	var last int64
	var es actors.EngineStats
	for {
		select {
		case <-n.stopLog:
			return
		case <-t.C:
		}
		reqs := n.Requests()
		if reqs-last < n.cfg.LogEvery {
			continue
		}
		last = reqs
		n.eng.Stats(&es)
		attrs := []any{"requests", reqs}
		for _, ts := range es.Tiers {
			attrs = append(attrs, slog.Group("tier_"+ts.Name,
				"used_mb", ts.UsedBytes>>20, "artifacts", ts.Artifacts, "hits", ts.Hits,
				"misses", ts.Misses, "evictions", ts.Evictions, "promotions", ts.Promotions))
		}
		for _, ls := range es.Links {
			attrs = append(attrs, slog.Group("link_"+ls.Upper+"_"+ls.Lower,
				"dirty_mb", ls.DirtyBytes>>20, "flushed", ls.Flushed, "flush_lag", ls.FlushLag))
		}
		n.log.Info("stats", attrs...)
	}
}

// info adds node-level lines to RESP INFO's stratacache section.
func (n *Node) info(b *bytes.Buffer) {
	fmt.Fprintf(b, "chunk_size:%d\r\nsave_partial_chunks:%d\r\nwriteback:%d\r\n",
		n.cfg.ChunkSize, b2i(n.cfg.SavePartialChunks), b2i(n.cfg.Writeback))
	bs := n.budget.Stats()
	fmt.Fprintf(b, "inflight_bytes:%d\r\ninflight_max_bytes:%d\r\ninflight_peak_bytes:%d\r\ninflight_waits:%d\r\ninflight_refusals:%d\r\n",
		bs.Used, bs.Size, bs.Peak, bs.Waits, bs.Refusals)
	if n.cluster == nil {
		b.WriteString("cluster_enabled:0\r\n")
		return
	}
	st := n.cluster.Stats()
	fmt.Fprintf(b, "cluster_enabled:1\r\ncluster_node:%s\r\ncluster_members:%d\r\ncluster_directory_entries:%d\r\n"+
		"cluster_remote_hits:%d\r\ncluster_remote_misses:%d\r\ncluster_peer_failures:%d\r\n",
		n.cluster.Name(), st.Members, st.DirectoryEntries, st.Remote.Hits, st.Remote.Misses, st.Remote.PeerFailures)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// page ends the admin stats page with the addresses and the config.
func (n *Node) page(w io.Writer) {
	a := n.Addrs()
	fmt.Fprintf(w, "resp %s  native %s  admin %s\n\n%s", a.RESP, a.Native, a.Admin, n.cfg.YAML())
}

// registerServerMetrics exports the protocol servers' counters.
func (n *Node) registerServerMetrics() {
	reg := n.admin.Registry()
	gauge := func(name, help, proto string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: name, Help: help, ConstLabels: prometheus.Labels{"protocol": proto},
		}, f))
	}
	counter := func(name, help, proto string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: name, Help: help, ConstLabels: prometheus.Labels{"protocol": proto},
		}, f))
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stratacache_inflight_bytes",
			Help: "Value bytes in flight on client connections (arriving values, large replies leaving)."},
			func() float64 { return float64(n.budget.Stats().Used) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stratacache_inflight_max_bytes",
			Help: "The bound on value bytes in flight (limits.max_inflight_mb)."},
			func() float64 { return float64(n.budget.Stats().Size) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stratacache_inflight_waits_total",
			Help: "Requests that waited for in-flight budget."},
			func() float64 { return float64(n.budget.Stats().Waits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stratacache_inflight_refusals_total",
			Help: "Requests refused (RESP -BUSY, native busy) because the in-flight budget stayed full."},
			func() float64 { return float64(n.budget.Stats().Refusals) }),
	)
	if n.resp != nil {
		st := func() resp.Stats { return n.resp.Stats() }
		gauge("stratacache_connections", "Open client connections.", "resp", func() float64 { return float64(st().ConnsCurrent) })
		counter("stratacache_connections_total", "Client connections accepted.", "resp", func() float64 { return float64(st().ConnsTotal) })
		counter("stratacache_connections_rejected_total", "Connections refused over the limit.", "resp", func() float64 { return float64(st().ConnsRejected) })
		counter("stratacache_requests_total", "Requests served.", "resp", func() float64 { return float64(st().Commands) })
		counter("stratacache_hits_total", "Reads that found their key.", "resp", func() float64 { return float64(st().Hits) })
		counter("stratacache_misses_total", "Reads that did not find their key.", "resp", func() float64 { return float64(st().Misses) })
		counter("stratacache_protocol_errors_total", "Connections closed for malformed input.", "resp", func() float64 { return float64(st().ProtocolErrors) })
		counter("stratacache_auth_failures_total", "Failed authentications.", "resp", func() float64 { return float64(st().AuthFailures) })
		counter("stratacache_accept_errors_total", "Accepts that failed (EMFILE and the like); the listener backs off and retries.", "resp", func() float64 { return float64(st().AcceptErrors) })
		counter("stratacache_connection_panics_total", "Connections closed by a recovered panic.", "resp", func() float64 { return float64(st().Panics) })
		counter("stratacache_write_stalls_total", "Clients disconnected for not reading their replies within limits.write_timeout_s.", "resp", func() float64 { return float64(st().WriteStalls) })
	}
	if n.native != nil {
		st := func() native.Stats { return n.native.Stats() }
		gauge("stratacache_connections", "Open client connections.", "native", func() float64 { return float64(st().ConnsCurrent) })
		counter("stratacache_connections_total", "Client connections accepted.", "native", func() float64 { return float64(st().ConnsTotal) })
		counter("stratacache_connections_rejected_total", "Connections refused over the limit.", "native", func() float64 { return float64(st().ConnsRejected) })
		counter("stratacache_requests_total", "Requests served.", "native", func() float64 { return float64(st().Requests) })
		counter("stratacache_hits_total", "Reads that found their key.", "native", func() float64 { return float64(st().Hits) })
		counter("stratacache_misses_total", "Reads that did not find their key.", "native", func() float64 { return float64(st().Misses) })
		counter("stratacache_protocol_errors_total", "Connections closed for malformed input.", "native", func() float64 { return float64(st().ProtocolErrors) })
		counter("stratacache_auth_failures_total", "Failed authentications.", "native", func() float64 { return float64(st().AuthFailures) })
		counter("stratacache_accept_errors_total", "Accepts that failed (EMFILE and the like); the listener backs off and retries.", "native", func() float64 { return float64(st().AcceptErrors) })
		counter("stratacache_connection_panics_total", "Connections closed by a recovered panic.", "native", func() float64 { return float64(st().Panics) })
		counter("stratacache_write_stalls_total", "Clients disconnected for not reading their replies within limits.write_timeout_s.", "native", func() float64 { return float64(st().WriteStalls) })
	}
}

// liveParams are the CONFIG SET parameters whose change reaches both data
// ports (the per-port limits.max_connections and limits.idle_timeout_s);
// requirepass changes the token the ports and the admin share.
func (n *Node) liveParams() []resp.Param {
	return []resp.Param{
		{Name: "maxclients", Get: func() string { return strconv.Itoa(n.resp.MaxConns()) },
			Set: func(v string) (func(), error) {
				c, err := resp.IntParam(v, 1)
				return func() {
					n.resp.SetMaxConns(int(c))
					if n.native != nil {
						n.native.SetMaxConns(int(c))
					}
				}, err
			}},
		{Name: "timeout", Get: func() string { return strconv.FormatInt(int64(n.resp.IdleTimeout()/time.Second), 10) },
			Set: func(v string) (func(), error) {
				secs, err := resp.IntParam(v, 1)
				return func() {
					n.resp.SetIdleTimeout(time.Duration(secs) * time.Second)
					if n.native != nil {
						n.native.SetIdleTimeout(time.Duration(secs) * time.Second)
					}
				}, err
			}},
		{Name: "requirepass", Get: n.token.Get, Set: func(v string) (func(), error) {
			return func() { n.token.Set(v) }, nil
		}},
	}
}

// redisPolicy names a cpu_policy as Redis's maxmemory-policy does where
// Redis has one, and by its own name otherwise.
func redisPolicy(p string) string {
	switch p {
	case "lru":
		return "allkeys-lru"
	case "lfu":
		return "allkeys-lfu"
	}
	return p
}
