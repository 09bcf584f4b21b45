package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/clientsdk"
	"github.com/stratacache/stratacache/node"
	"github.com/stratacache/stratacache/node/netbench"
)

// attachResult is one JSON line of `bench attach`: one target at one size,
// medians over the rounds, and the ratio to memcached's GET measured in
// the same rounds.
type attachResult struct {
	Target        string    `json:"target"`
	Size          int       `json:"size"`
	Concurrency   int       `json:"concurrency"`
	Rounds        int       `json:"rounds"`
	GBps          float64   `json:"gbps"`
	RoundsGBps    []float64 `json:"rounds_gbps"`
	VsMemcached   float64   `json:"vs_memcached,omitempty"`
	LoadAvgBefore string    `json:"loadavg_before,omitempty"`
	LoadAvgAfter  string    `json:"loadavg_after,omitempty"`
	Stats         string    `json:"stats,omitempty"`
}

// runBenchAttach is `stratacache bench attach`: GET GB/s of clientsdk's
// local-attach mode (reads from a read-only mapping of the node's CXL
// pool) against memcached's GET and the node's own native GET, in
// alternating rounds of one run.
func runBenchAttach(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench attach", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizes := fs.String("sizes", "4MiB,16MiB", "value sizes")
	conc := fs.Int("c", 4, "concurrent readers (connections for the socket targets)")
	dur := fs.Duration("duration", 2*time.Second, "time per target per round")
	rounds := fs.Int("rounds", 3, "alternating rounds (medians are reported)")
	memcachedAddr := fs.String("memcached", "", "a running memcached (-I 32m); empty: start one from PATH on a loopback port")
	noMemcached := fs.Bool("no-memcached", false, "skip memcached")
	view := fs.Bool("view", true, "also measure the zero-copy View (consumed by one pass of reading)")
	shm := fs.String("pool-dir", "/dev/shm", "directory of the node's CXL pool file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sz, err := parseSizes(*sizes)
	if err != nil {
		return err
	}
	if *conc <= 0 || *rounds <= 0 || *dur <= 0 {
		return errors.New("bench attach: -c, -rounds and -duration must be positive")
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	keys := func(size int) int { return min(max((256<<20)/max(size**conc, 1), 1), 64) }
	var need int64
	for _, s := range sz {
		need = max(need, int64(s)*int64(keys(s)**conc))
	}
	dir, err := os.MkdirTemp(*shm, "stratacache-bench-attach-")
	if err != nil {
		return fmt.Errorf("bench attach: pool directory: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg := node.Defaults()
	cfg.CPUCapacityMB = need>>20 + 64
	cfg.UseCXL = true
	cfg.Writeback = false // locations are cached: the fast path (docs/clientsdk.md)
	cfg.CXLPath = filepath.Join(dir, "pool")
	cfg.CXLCapacityMB = 2*need>>20 + 64
	cfg.CXLResetMetadata = true
	cfg.Disk.CapacityMB = 0
	cfg.Limits.MaxPayloadMB = max(cfg.Limits.MaxPayloadMB, int64(slices.Max(sz)>>20)+1)
	cfg.Limits.MaxRequestMB = max(cfg.Limits.MaxRequestMB, cfg.Limits.MaxPayloadMB+1)
	cfg.Listen = node.ListenConfig{Native: "127.0.0.1:0"}
	cfg.Telemetry.Export = false
	n, err := node.New(cfg, nil)
	if err != nil {
		return err
	}
	n.Start()
	defer n.Shutdown(context.Background())
	addr := n.Addrs().Native
	c, err := clientsdk.New(clientsdk.WithNodes(addr), clientsdk.WithMaxConnsPerNode(*conc))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	a, err := c.Attach(ctx, addr)
	if err != nil {
		return err
	}
	defer a.Close()

	mcAddr := *memcachedAddr
	if mcAddr == "" && !*noMemcached {
		stop, addr, err := startMemcached(slices.Max(sz))
		if err != nil {
			return err
		}
		defer stop()
		mcAddr = addr
	}

	enc := json.NewEncoder(stdout)
	for _, size := range sz {
		k := keys(size)
		value := make([]byte, size)
		for i := range value {
			value[i] = byte(i*31 + 7)
		}
		id := func(w, i int) artifact.ID {
			return artifact.MustID(artifact.NamespaceBlob, fmt.Sprintf("bench:%d:%d:%d", size, w, i))
		}
		for w := range *conc {
			for i := range k {
				if err := c.Put(ctx, id(w, i), value); err != nil {
					return fmt.Errorf("bench attach: preload: %w", err)
				}
			}
		}
		// Warm-up, outside the clock: the first read of each location maps
		// its pages into this process and verifies the payload's checksum
		// (a one-time cost per location for a long-lived reader).
		warm := make([]byte, size)
		for w := range *conc {
			for i := range k {
				if _, err := a.Get(ctx, warm, id(w, i)); err != nil {
					return fmt.Errorf("bench attach: warm-up: %w", err)
				}
			}
		}
		type tgt struct {
			name string
			run  func() (float64, error)
		}
		attachRun := func(useView bool) func() (float64, error) {
			return func() (float64, error) {
				return attachRound(ctx, a, *conc, k, size, *dur, id, useView)
			}
		}
		targets := []tgt{{"attach-get", attachRun(false)}}
		if *view {
			targets = append(targets, tgt{"attach-view", attachRun(true)})
		}
		if mcAddr != "" {
			targets = append(targets, tgt{"memcached-get", socketRound("memcached", mcAddr, size, *conc, *dur)})
		}
		targets = append(targets, tgt{"native-get", socketRound("native", addr, size, *conc, *dur)})
		res := make([]attachResult, len(targets))
		before := loadAvg()
		for r := 0; r < *rounds; r++ {
			for i, t := range targets {
				g, err := t.run()
				if err != nil {
					return fmt.Errorf("bench attach: %s %d B: %w", t.name, size, err)
				}
				res[i].RoundsGBps = append(res[i].RoundsGBps, g)
			}
		}
		after := loadAvg()
		var mc float64
		for i, t := range targets {
			res[i].Target, res[i].Size, res[i].Concurrency, res[i].Rounds = t.name, size, *conc, *rounds
			res[i].GBps = median(res[i].RoundsGBps)
			if t.name == "memcached-get" {
				mc = res[i].GBps
			}
		}
		var st clientsdk.AttachStats
		a.Stats(&st)
		for i := range res {
			if mc > 0 {
				res[i].VsMemcached = res[i].GBps / mc
			}
			res[i].LoadAvgBefore, res[i].LoadAvgAfter = before, after
			if res[i].Target == "attach-get" {
				res[i].Stats = fmt.Sprintf("%+v", st)
			}
			if err := enc.Encode(res[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// attachRound reads for d with conc goroutines through the mapping and
// returns GB/s. Every payload's length is checked; a View is consumed by
// summing one byte per cache line (a reader that uses the bytes in place).
func attachRound(ctx context.Context, a *clientsdk.Attached, conc, keys, size int, d time.Duration,
	id func(w, i int) artifact.ID, useView bool) (float64, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total int64
	var firstErr error
	start := time.Now()
	deadline := start.Add(d)
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, size)
			var n int64
			var sink byte
			var err error
			for i := 0; time.Now().Before(deadline); i++ {
				if useView {
					var v *clientsdk.PoolView
					if v, err = a.View(ctx, id(w, i%keys)); err != nil {
						break
					}
					b := v.Bytes()
					for j := 0; j < len(b); j += 64 {
						sink += b[j]
					}
					if !v.Valid() || len(b) != size {
						err = fmt.Errorf("view of %d bytes, valid %v", len(b), v.Valid())
					}
					v.Release()
				} else {
					var got []byte
					got, err = a.Get(ctx, buf, id(w, i%keys))
					if err == nil && len(got) != size {
						err = fmt.Errorf("got %d bytes, want %d", len(got), size)
					}
				}
				if err != nil {
					break
				}
				n += int64(size)
			}
			_ = sink
			mu.Lock()
			total += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(total) / time.Since(start).Seconds() / 1e9, nil
}

// socketRound measures GET GB/s of a socket target with netbench (the same
// load generator as `bench net`).
func socketRound(kind, addr string, size, conc int, d time.Duration) func() (float64, error) {
	return func() (float64, error) {
		r, err := netbench.Run(netbench.Case{Target: kind, Kind: kind, Addr: addr, Op: "get", Size: size, Concurrency: conc, Duration: d})
		if err != nil {
			return 0, err
		}
		if r.Errors > 0 {
			return 0, fmt.Errorf("%d errors, first: %s", r.Errors, r.FirstError)
		}
		return r.GBps, nil
	}
}

// startMemcached runs memcached from PATH on a free loopback port, sized
// for values of maxValue bytes; stop kills it (this process started it).
func startMemcached(maxValue int) (stop func(), addr string, err error) {
	bin, err := exec.LookPath("memcached")
	if err != nil {
		return nil, "", fmt.Errorf("bench attach: no memcached in PATH (apt-get install memcached, or -no-memcached): %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	item := max(32, (maxValue>>20)*2)
	cmd := exec.Command(bin, "-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "1024",
		"-I", strconv.Itoa(item)+"m", "-t", "4", "-u", "root")
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("bench attach: start memcached: %w", err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return stop, addr, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, "", fmt.Errorf("bench attach: memcached did not listen on %s: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a child's port: no event to wait on
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil || len(b) < 14 {
		return ""
	}
	return string(b[:14])
}
