package router

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTP paths (docs/router.md).
const (
	PathScore   = "/v1/score"
	PathPods    = "/v1/pods"
	PathMetrics = "/metrics"
	PathHealthz = "/healthz"
)

// maxBody bounds a score request: 1M tokens of up to 10 digits and a
// comma each, plus the rest.
const maxBody = 12 << 20

type scoreStats struct {
	n, nanos atomic.Uint64
	hist     prometheus.Histogram
}

func newScoreHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "stratacache_router_score_seconds", Help: "Time to answer one POST /v1/score (hashing, lookups, ordering).",
		Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16)})
}

func (s *scoreStats) observe(d time.Duration) {
	s.n.Add(1)
	s.nanos.Add(uint64(d))
	s.hist.Observe(d.Seconds())
}

// Handler serves the router's HTTP API on its own mux (no default mux).
func (r *Router) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(r.stats.hist, &podCollector{r: r})
	mux := http.NewServeMux()
	mux.HandleFunc(PathScore, r.serveScore)
	mux.HandleFunc(PathPods, r.servePods)
	mux.Handle(PathMetrics, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc(PathHealthz, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	return mux
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (r *Router) serveScore(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, apiError{"POST a JSON body: {\"tokens\": [...], \"model\": \"...\", \"lora_name\": null, \"pods\": [...]}"})
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxBody))
	dec.DisallowUnknownFields()
	var sr ScoreRequest
	if err := dec.Decode(&sr); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, apiError{fmt.Sprintf("body over %d bytes", maxBody)})
			return
		}
		writeJSON(w, http.StatusBadRequest, apiError{"bad JSON body: " + err.Error()})
		return
	}
	if dec.More() {
		writeJSON(w, http.StatusBadRequest, apiError{"trailing data after the JSON body"})
		return
	}
	if sr.Tokens == nil {
		writeJSON(w, http.StatusBadRequest, apiError{`"tokens" is required: a JSON array of token ids`})
		return
	}
	resp, err := r.Score(&sr)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (r *Router) servePods(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", http.MethodGet)
		writeJSON(w, http.StatusMethodNotAllowed, apiError{"GET"})
		return
	}
	out := struct {
		Pods  []PodInfo  `json:"pods"`
		Nodes []NodeInfo `json:"nodes,omitempty"`
	}{Pods: r.Pods()}
	if out.Pods == nil {
		out.Pods = []PodInfo{}
	}
	out.Nodes = r.NodeInfos()
	writeJSON(w, http.StatusOK, out)
}

// NodeInfo is a followed StrataCache node in GET /v1/pods (with Join).
type NodeInfo struct {
	Node string `json:"node"`
	Addr string `json:"addr"`
}

// NodeInfos lists the cluster's members as the router follows them.
func (r *Router) NodeInfos() []NodeInfo {
	if r.nodes == nil {
		return nil
	}
	var out []NodeInfo
	for _, m := range r.nodes.Members() {
		out = append(out, NodeInfo{Node: m.Name, Addr: m.Addr})
	}
	return out
}

// podCollector exports the subscriber's per-pod counters at scrape time.
type podCollector struct{ r *Router }

var (
	descBlocks   = prometheus.NewDesc("stratacache_router_pod_blocks", "Blocks indexed for the pod.", []string{"pod"}, nil)
	descSeq      = prometheus.NewDesc("stratacache_router_pod_last_seq", "Last KV event sequence number applied.", []string{"pod"}, nil)
	descUp       = prometheus.NewDesc("stratacache_router_pod_connected", "1 while the pod's event socket is connected.", []string{"pod"}, nil)
	descEvents   = prometheus.NewDesc("stratacache_router_pod_events_total", "KV events applied.", []string{"pod"}, nil)
	descBatches  = prometheus.NewDesc("stratacache_router_pod_batches_total", "Event batches applied.", []string{"pod"}, nil)
	descBad      = prometheus.NewDesc("stratacache_router_pod_malformed_total", "Malformed payloads or frames skipped.", []string{"pod"}, nil)
	descGaps     = prometheus.NewDesc("stratacache_router_pod_gaps_total", "Sequence gaps, by outcome.", []string{"pod", "outcome"}, nil)
	descRestarts = prometheus.NewDesc("stratacache_router_pod_restarts_total", "Pod restarts detected.", []string{"pod"}, nil)
	descClears   = prometheus.NewDesc("stratacache_router_pod_clears_total", "Times the pod's blocks were cleared.", []string{"pod"}, nil)
	descNodes    = prometheus.NewDesc("stratacache_router_cluster_entries", "Directory entries followed from the StrataCache cluster.", nil, nil)
)

func (c *podCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBlocks, descSeq, descUp, descEvents, descBatches, descBad, descGaps, descRestarts, descClears, descNodes} {
		ch <- d
	}
}

func (c *podCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.r.Pods() {
		up := 0.0
		if p.Connected {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descBlocks, prometheus.GaugeValue, float64(p.Blocks), p.Pod)
		ch <- prometheus.MustNewConstMetric(descSeq, prometheus.GaugeValue, float64(p.LastSeq), p.Pod)
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, p.Pod)
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(p.Events), p.Pod)
		ch <- prometheus.MustNewConstMetric(descBatches, prometheus.CounterValue, float64(p.Batches), p.Pod)
		ch <- prometheus.MustNewConstMetric(descBad, prometheus.CounterValue, float64(p.Malformed), p.Pod)
		ch <- prometheus.MustNewConstMetric(descGaps, prometheus.CounterValue, float64(p.Replayed), p.Pod, "replayed")
		ch <- prometheus.MustNewConstMetric(descGaps, prometheus.CounterValue, float64(p.Unrecovered), p.Pod, "unrecovered")
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(p.Restarts), p.Pod)
		ch <- prometheus.MustNewConstMetric(descClears, prometheus.CounterValue, float64(p.Clears), p.Pod)
	}
	if c.r.nodes != nil {
		ch <- prometheus.MustNewConstMetric(descNodes, prometheus.GaugeValue, float64(c.r.nodes.Len()))
	}
}
