package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/stratacache/stratacache/actors"
)

// DrainPath is where POST asks the node to drain (Config.Drain).
const DrainPath = "/v1/drain"

// Bounds of a drain request's ?timeout=.
const (
	DefaultDrainTimeout = 60 * time.Second
	MaxDrainTimeout     = 10 * time.Minute
)

// DrainResult is the JSON answer of POST /v1/drain.
type DrainResult struct {
	Drained bool `json:"drained"`
	// DirtyBytes is what the write-back links still hold afterwards (0
	// when drained).
	DirtyBytes int64   `json:"dirty_bytes"`
	Seconds    float64 `json:"seconds"`
	Error      string  `json:"error,omitempty"`
}

// serveDrain answers POST /v1/drain[?timeout=60s]: Config.Drain runs
// within the timeout (the node stops reporting ready and flushes its
// write-back links), then the answer says what is left dirty. Like every
// endpoint but the probes, it sits behind Config.Token.
func (s *Server) serveDrain(w http.ResponseWriter, r *http.Request) {
	timeout := DefaultDrainTimeout
	if q := r.URL.Query().Get("timeout"); q != "" {
		d, err := time.ParseDuration(q)
		if err != nil || d <= 0 || d > MaxDrainTimeout {
			http.Error(w, "timeout: want a duration in (0, "+MaxDrainTimeout.String()+"]\n", http.StatusBadRequest)
			return
		}
		timeout = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	start := time.Now()
	err := s.cfg.Drain(ctx)
	res := DrainResult{Drained: err == nil, Seconds: time.Since(start).Seconds()}
	var es actors.EngineStats
	s.cfg.Engine.Stats(&es)
	for _, l := range es.Links {
		res.DirtyBytes += l.DirtyBytes
	}
	code := http.StatusOK
	if err != nil {
		res.Error = err.Error()
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(res)
}
