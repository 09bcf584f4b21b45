package admin

import (
	"sync"
	"time"

	"github.com/stratacache/stratacache/actors"
)

// Default history: one sample a second for five minutes (~60 B a sample).
const (
	DefaultSampleInterval = time.Second
	DefaultHistoryLen     = 300
)

// history is a ring of the last samples of the engine's rates, so that a
// page opened now shows the last minutes at once. Safe for concurrent use.
type history struct {
	mu      sync.Mutex
	ring    []Sample
	next    int  // where the next sample goes
	full    bool // the ring has wrapped
	prev    actors.OpStats
	prevT   time.Time
	started bool
	es      actors.EngineStats // reused between samples
}

func newHistory(n int) *history { return &history{ring: make([]Sample, n)} }

// sample reads the engine's counters at now and records the rates since
// the previous call (the first call only sets the baseline).
func (h *history) sample(eng *actors.Engine, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	eng.Stats(&h.es)
	cur := h.es.Ops
	prev, prevT, started := h.prev, h.prevT, h.started
	h.prev, h.prevT, h.started = cur, now, true
	dt := now.Sub(prevT).Seconds()
	if !started || dt <= 0 {
		return
	}
	delta := func(a, b uint64) uint64 {
		if a < b { // counters only grow; never report a negative rate
			return 0
		}
		return a - b
	}
	loads := delta(cur.Loads, prev.Loads)
	s := Sample{
		T:                now.UnixMilli(),
		HitRate:          ratio(loads-min(loads, delta(cur.LoadMisses, prev.LoadMisses)), loads),
		LoadsPerSec:      float64(loads) / dt,
		StoresPerSec:     float64(delta(cur.Stores, prev.Stores)) / dt,
		ReadBytesPerSec:  float64(delta(cur.LoadedBytes, prev.LoadedBytes)) / dt,
		WriteBytesPerSec: float64(delta(cur.StoredBytes, prev.StoredBytes)) / dt,
	}
	for _, l := range h.es.Links {
		s.DirtyBytes += l.DirtyBytes
	}
	h.ring[h.next] = s
	h.next++
	if h.next == len(h.ring) {
		h.next, h.full = 0, true
	}
}

// since appends the samples newer than sinceMS (unix ms; 0: all) to dst,
// oldest first.
func (h *history) since(dst []Sample, sinceMS int64) []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	add := func(ss []Sample) {
		for _, s := range ss {
			if s.T > sinceMS {
				dst = append(dst, s)
			}
		}
	}
	if h.full {
		add(h.ring[h.next:])
	}
	add(h.ring[:h.next])
	return dst
}

// run samples every interval until stop is closed.
func (h *history) run(eng *actors.Engine, interval time.Duration, stop <-chan struct{}) {
	h.sample(eng, time.Now())
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			h.sample(eng, now)
		}
	}
}
