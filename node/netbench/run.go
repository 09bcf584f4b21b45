package netbench

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Case is one measurement: Concurrency connections doing Op on values of
// Size bytes for Duration.
type Case struct {
	Target      string // label for the output ("native", "resp", "redis", ...)
	Kind        string // protocol: native, resp, redis, memcached, raw
	Addr        string
	Token       string
	Op          string // "set" or "get"
	Size        int
	Concurrency int
	Duration    time.Duration
	// Pipeline > 1 sends that many requests in one write and then reads
	// their replies (redis-benchmark's -P); native, resp and redis only.
	Pipeline int
	// NativeClient is the client of a native target: "plain" (default),
	// frames written and read in line like the other targets' minimal
	// clients; "sdk", native.Client over messages/frame's Conn (the
	// framed client clientsdk uses: requests from many goroutines
	// pipeline on one connection, which costs hand-offs per request).
	NativeClient string
	// Keys is the number of distinct keys per connection (cycled); for get
	// they are stored before the clock starts. Default: as many as fit in
	// 256 MiB per case, between 1 and 64.
	Keys int
}

// Result is one JSON line of `bench net`.
type Result struct {
	Target      string  `json:"target"`
	Addr        string  `json:"addr"`
	Op          string  `json:"op"`
	Size        int     `json:"size"`
	Concurrency int     `json:"concurrency"`
	Pipeline    int     `json:"pipeline,omitempty"`
	Ops         int64   `json:"ops"`
	Seconds     float64 `json:"seconds"`
	OpsPerS     float64 `json:"ops_per_s"`
	GBps        float64 `json:"gbps"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
}

// Run measures one case.
func Run(c Case) (Result, error) {
	if c.Concurrency <= 0 || c.Size < 0 || c.Duration <= 0 {
		return Result{}, errors.New("netbench: concurrency and duration must be positive")
	}
	if c.Op != "set" && c.Op != "get" {
		return Result{}, fmt.Errorf("netbench: op %q (want set or get)", c.Op)
	}
	if c.Keys <= 0 {
		c.Keys = min(max((256<<20)/max(c.Size*c.Concurrency, 1), 1), 64)
	}
	conns := make([]Conn, c.Concurrency)
	defer func() {
		for _, cn := range conns {
			if cn != nil {
				_ = cn.Close()
			}
		}
	}()
	value := make([]byte, c.Size)
	for i := range value {
		value[i] = byte(i*31 + 7)
	}
	key := func(w, i int) string { return fmt.Sprintf("bench:%d:%d:%d", c.Size, w, i) }
	if c.Pipeline > 1 && c.Kind != "native" && c.Kind != "resp" && c.Kind != "redis" {
		return Result{}, errNoPipeline
	}
	if c.Pipeline > 1 {
		c.Keys = max(c.Keys, c.Pipeline)
	}
	if c.NativeClient != "" && c.NativeClient != "plain" && c.NativeClient != "sdk" {
		return Result{}, fmt.Errorf("netbench: native client %q (want plain or sdk)", c.NativeClient)
	}
	for w := range conns {
		var cn Conn
		var err error
		if c.Kind == "native" && (c.Pipeline > 1 || c.NativeClient != "sdk") {
			cn, err = dialPipe(c.Addr, c.Token)
		} else {
			cn, err = Dial(c.Kind, c.Addr, c.Token)
		}
		if err != nil {
			return Result{}, fmt.Errorf("netbench: dial %s %s: %w", c.Kind, c.Addr, err)
		}
		conns[w] = cn
		if c.Op == "get" && c.Kind != "raw" {
			for i := range c.Keys {
				if err := cn.Set(key(w, i), value); err != nil {
					return Result{}, fmt.Errorf("netbench: preload %s: %w", c.Kind, err)
				}
			}
		}
	}
	type worker struct {
		lat   []time.Duration
		ops   int64
		errs  int64
		first error
	}
	workers := make([]worker, c.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(c.Duration)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := &workers[w]
			cn := conns[w]
			buf := make([]byte, c.Size)
			st.lat = make([]time.Duration, 0, 1<<12)
			if c.Pipeline > 1 {
				pl := cn.(Pipeliner)
				keys := make([]string, c.Pipeline)
				for i := 0; ; i++ {
					t0 := time.Now()
					if t0.After(deadline) {
						return
					}
					for j := range keys {
						keys[j] = key(w, (i*c.Pipeline+j)%c.Keys)
					}
					var err error
					if c.Op == "set" {
						err = pl.SetBatch(keys, value)
					} else {
						err = pl.GetBatch(keys, buf)
					}
					if err != nil {
						st.errs++
						if st.first == nil {
							st.first = err
						}
						return // a batch's replies are out of step now
					}
					st.lat = append(st.lat, time.Since(t0))
					st.ops += int64(c.Pipeline)
				}
			}
			for i := 0; ; i++ {
				t0 := time.Now()
				if t0.After(deadline) {
					return
				}
				k := key(w, i%c.Keys)
				var err error
				if c.Op == "set" {
					err = cn.Set(k, value)
				} else {
					var n int
					n, err = cn.Get(k, buf)
					if err == nil && n != c.Size {
						err = fmt.Errorf("netbench: got %d bytes, want %d", n, c.Size)
					}
				}
				if err != nil {
					st.errs++
					if st.first == nil {
						st.first = err
					}
					if st.errs > 100 {
						return // the connection is likely broken
					}
					continue
				}
				st.lat = append(st.lat, time.Since(t0))
				st.ops++
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	r := Result{Target: c.Target, Addr: c.Addr, Op: c.Op, Size: c.Size, Concurrency: c.Concurrency, Seconds: elapsed}
	if c.Pipeline > 1 {
		r.Pipeline = c.Pipeline // latencies are per batch then
	}
	var all []time.Duration
	for _, st := range workers {
		r.Ops += st.ops
		r.Errors += st.errs
		if st.first != nil && r.FirstError == "" {
			r.FirstError = st.first.Error()
		}
		all = append(all, st.lat...)
	}
	r.OpsPerS = float64(r.Ops) / elapsed
	r.GBps = float64(r.Ops) * float64(c.Size) / elapsed / 1e9
	if len(all) > 0 {
		slices.Sort(all)
		r.P50us = float64(all[len(all)/2].Nanoseconds()) / 1e3
		r.P99us = float64(all[min(len(all)*99/100, len(all)-1)].Nanoseconds()) / 1e3
	}
	return r, nil
}
