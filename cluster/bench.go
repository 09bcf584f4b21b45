package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/memory"
)

// BenchOptions size RunBench's measurements.
type BenchOptions struct {
	// Nodes and Entries of the propagation measurement.
	Nodes   int
	Entries int
	// FetchSizes are the payload sizes of the remote-fetch measurement and
	// FetchBytes how many bytes each trial moves.
	FetchSizes []int
	FetchBytes int64
	Trials     int
	// DirectoryEntries for the bytes-per-entry measurement.
	DirectoryEntries int
	// PropagationTimeout fails the run when an entry has not reached every
	// node by then.
	PropagationTimeout time.Duration
	// SkipFailure skips the failure-detection measurement (~5-10 s).
	SkipFailure bool
	// SkipGossip skips propagation and failure detection.
	SkipGossip bool
}

// DefaultBenchOptions are the figures: 16 nodes, 1,000 entries,
// 4 and 16 MiB fetches, a 1,000,000-entry directory.
func DefaultBenchOptions() BenchOptions {
	return BenchOptions{
		Nodes: 16, Entries: 1000, PropagationTimeout: 60 * time.Second,
		FetchSizes: []int{4 << 20, 16 << 20}, FetchBytes: 512 << 20, Trials: 9,
		DirectoryEntries: 1_000_000,
	}
}

// BenchResult is what RunBench prints (the JSON field names are the
// issue's).
type BenchResult struct {
	Propagation      Propagation       `json:"propagation"`
	FailureDetection *FailureDetection `json:"failure_detection,omitempty"`
	RemoteFetch      []RemoteFetch     `json:"remote_fetch"`
	Directory        DirectoryFigure   `json:"directory"`
}

// Propagation is how long until every directory replica of a new entry
// lists its holder (what any node's lookup then finds).
type Propagation struct {
	Nodes   int     `json:"nodes"`
	Entries int     `json:"entries"`
	P50     float64 `json:"p50_s"`
	P99     float64 `json:"p99_s"`
	Max     float64 `json:"max_s"`
	Preset  string  `json:"preset"`
}

// FailureDetection is how long until every survivor dropped a killed
// node's entries.
type FailureDetection struct {
	Nodes   int     `json:"nodes"`
	Seconds float64 `json:"seconds"`
}

// RemoteFetch compares a peer fetch with raw loopback TCP of the same bytes.
type RemoteFetch struct {
	SizeMiB  int     `json:"size_mib"`
	GBps     float64 `json:"gbps"`      // peer transport, payload into a reused buffer, checksum verified
	TierGBps float64 `json:"tier_gbps"` // RemoteTier.Get: singleflight, pooled buffer, copy to the caller
	// NoCheckGBps is gbps with Config.SkipFetchChecksum.
	NoCheckGBps float64 `json:"nocheck_gbps"`
	RawGBps     float64 `json:"raw_gbps"` // one TCP connection, request byte then the payload
	Ratio       float64 `json:"ratio"`    // gbps / raw_gbps
}

// DirectoryFigure is the directory's memory cost.
type DirectoryFigure struct {
	Entries       int     `json:"entries"`
	BytesPerEntry float64 `json:"bytes_per_entry"`
}

// RunBench measures the cluster (DefaultBenchOptions) and prints a table,
// or JSON when jsonOut is set. `stratacache bench cluster [-json]` calls it.
func RunBench(w io.Writer, jsonOut bool) error {
	return RunBenchWith(w, jsonOut, DefaultBenchOptions())
}

// RunBenchWith is RunBench with explicit sizes.
func RunBenchWith(w io.Writer, jsonOut bool, o BenchOptions) error {
	var r BenchResult
	var err error
	if !o.SkipGossip {
		if r.Propagation, r.FailureDetection, err = benchGossip(o); err != nil {
			return fmt.Errorf("bench cluster: gossip: %w", err)
		}
	}
	if r.RemoteFetch, err = benchFetch(o); err != nil {
		return fmt.Errorf("bench cluster: remote fetch: %w", err)
	}
	r.Directory = DirectoryFigure{Entries: o.DirectoryEntries, BytesPerEntry: measureDirectoryBytes(o.DirectoryEntries)}
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := r.Propagation
	fmt.Fprintf(tw, "propagation\t%d nodes, %d entries, %s preset\tp50 %.3f s\tp99 %.3f s\tmax %.3f s\n", p.Nodes, p.Entries, p.Preset, p.P50, p.P99, p.Max)
	if f := r.FailureDetection; f != nil {
		fmt.Fprintf(tw, "failure_detection\t%d nodes\t%.2f s\t\t\n", f.Nodes, f.Seconds)
	}
	for _, f := range r.RemoteFetch {
		fmt.Fprintf(tw, "remote_fetch\t%d MiB\tpeer %.2f GB/s\traw TCP %.2f GB/s\tratio %.2f (tier %.2f, unchecked %.2f GB/s)\n", f.SizeMiB, f.GBps, f.RawGBps, f.Ratio, f.TierGBps, f.NoCheckGBps)
	}
	fmt.Fprintf(tw, "directory\t%d entries\t%.1f bytes/entry\t\t\n", r.Directory.Entries, r.Directory.BytesPerEntry)
	return tw.Flush()
}

// benchNode starts a node on real loopback sockets with a memory tier and
// no engine (the bench drives Observe and the peer transport directly).
func benchNode(name string, join []string, tier tiers.Tier, store LocalStore) (*Node, error) {
	cfg := DefaultLocalConfig(name)
	cfg.Join = join
	n, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := n.Tiers([]tiers.Tier{tier}); err != nil {
		return nil, err
	}
	if err := n.Start(store); err != nil {
		return nil, err
	}
	return n, nil
}

func benchTier(name string, capacity int64) (tiers.Tier, error) {
	return memory.New(memory.Config{Name: name, CapacityBytes: capacity, PolicyName: "lru"})
}

// benchGossip measures propagation (and failure detection) on an
// in-process cluster over loopback UDP/TCP with the local preset.
func benchGossip(o BenchOptions) (Propagation, *FailureDetection, error) {
	p := Propagation{Nodes: o.Nodes, Entries: o.Entries, Preset: "local"}
	var nodes []*Node
	var closers []io.Closer
	defer func() {
		for _, n := range nodes {
			_ = n.shutdown(false)
		}
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	for i := 0; i < o.Nodes; i++ {
		t, err := benchTier("mem", 1<<20)
		if err != nil {
			return p, nil, err
		}
		closers = append(closers, t)
		var join []string
		if i > 0 {
			join = []string{nodes[0].GossipAddr()}
		}
		n, err := benchNode(fmt.Sprintf("bench-%02d", i), join, t, nopLocalStore{})
		if err != nil {
			return p, nil, err
		}
		nodes = append(nodes, n)
	}
	if err := waitUntil(20*time.Second, func() bool {
		for _, n := range nodes {
			if len(n.Members()) != o.Nodes {
				return false
			}
		}
		return true
	}); err != nil {
		return p, nil, fmt.Errorf("membership: %w", err)
	}
	// Entries appear on random nodes, one every 2 ms; a poller notes when
	// each is visible on all nodes.
	rng := rand.New(rand.NewSource(1))
	type pend struct {
		hash  uint64
		owner string
		t0    time.Time
	}
	var mu sync.Mutex
	var pending []pend
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < o.Entries; i++ {
			n := nodes[rng.Intn(len(nodes))]
			id := artifact.MustID(artifact.NamespaceKV, "prop-"+strconv.Itoa(i))
			mu.Lock()
			pending = append(pending, pend{hash: id.Hash, owner: n.Name(), t0: time.Now()})
			mu.Unlock()
			n.Observe(Event{Kind: EventStored, ID: id, Tier: tiers.KindMemory})
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var lat []float64
	deadline := time.Now().Add(o.PropagationTimeout)
	for len(lat) < o.Entries {
		if time.Now().After(deadline) {
			mu.Lock()
			var detail []string
			for _, e := range pending {
				var miss []string
				for _, n := range replicaNodes(nodes, e.hash) {
					if !n.dir.Holds(e.owner, e.hash) {
						miss = append(miss, n.Name())
					}
				}
				detail = append(detail, fmt.Sprintf("%s->%v", e.owner, miss))
			}
			mu.Unlock()
			return p, nil, fmt.Errorf("%d of %d entries never reached every node (owner->nodes missing it: %v)", o.Entries-len(lat), o.Entries, detail)
		}
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		cur := pending
		pending = nil
		mu.Unlock()
		var keep []pend
		for _, e := range cur {
			all := true
			for _, n := range replicaNodes(nodes, e.hash) {
				if !n.dir.Holds(e.owner, e.hash) {
					all = false
					break
				}
			}
			if all {
				lat = append(lat, time.Since(e.t0).Seconds())
			} else {
				keep = append(keep, e)
			}
		}
		mu.Lock()
		pending = append(keep, pending...)
		mu.Unlock()
	}
	<-done
	sort.Float64s(lat)
	p.P50, p.P99, p.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	if o.SkipFailure {
		return p, nil, nil
	}
	victim := nodes[len(nodes)-1]
	survivors := nodes[:len(nodes)-1]
	t0 := time.Now()
	_ = victim.shutdown(false)
	if err := waitUntil(60*time.Second, func() bool {
		for _, n := range survivors {
			if n.dir.CountOwnedBy(victim.Name()) != 0 || len(n.Members()) != len(survivors) {
				return false
			}
		}
		return true
	}); err != nil {
		return p, nil, fmt.Errorf("failure detection: %w", err)
	}
	return p, &FailureDetection{Nodes: o.Nodes, Seconds: time.Since(t0).Seconds()}, nil
}

// replicaNodes are hash's directory replicas among nodes (as nodes[0]'s
// ring has them): where an entry must be for every lookup to find it.
func replicaNodes(nodes []*Node, hash uint64) []*Node {
	var out []*Node
	for _, name := range nodes[0].replicasOf(nil, hash) {
		for _, n := range nodes {
			if n.Name() == name {
				out = append(out, n)
			}
		}
	}
	return out
}

var errBenchTimeout = errors.New("condition not met in time")

func waitUntil(within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return errBenchTimeout
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// nopLocalStore refuses peers' demotes; the bench does not need them.
type nopLocalStore struct{}

func (nopLocalStore) Store(context.Context, artifact.ID, []byte, actors.StoreOptions) error {
	return tiers.ErrNoSpace
}
func (nopLocalStore) Delete(context.Context, artifact.ID) (bool, error) { return false, nil }

// benchFetch moves FetchBytes per trial from a peer through the peer
// transport and through raw TCP, alternating, and keeps each one's median.
func benchFetch(o BenchOptions) ([]RemoteFetch, error) {
	var out []RemoteFetch
	for _, size := range o.FetchSizes {
		r, err := benchFetchSize(o, size)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func benchFetchSize(o BenchOptions, size int) (RemoteFetch, error) {
	res := RemoteFetch{SizeMiB: size >> 20}
	srcTier, err := benchTier("mem", int64(size)*2)
	if err != nil {
		return res, err
	}
	defer srcTier.Close()
	dstTier, err := benchTier("mem", 1<<20)
	if err != nil {
		return res, err
	}
	defer dstTier.Close()
	src, err := benchNode("fetch-src", nil, srcTier, nopLocalStore{})
	if err != nil {
		return res, err
	}
	defer src.shutdown(false)
	dst, err := benchNode("fetch-dst", []string{src.GossipAddr()}, dstTier, nopLocalStore{})
	if err != nil {
		return res, err
	}
	defer dst.shutdown(false)
	payload := make([]byte, size)
	rand.New(rand.NewSource(int64(size))).Read(payload)
	id := artifact.MustID(artifact.NamespaceKV, "fetch-"+strconv.Itoa(size))
	if err := src.local[0].Put(context.Background(), id, payload, tiers.PutOptions{}); err != nil {
		return res, err
	}
	if err := waitUntil(10*time.Second, func() bool {
		return len(dst.LookupHolders(context.Background(), id)) > 0
	}); err != nil {
		return res, fmt.Errorf("owner not gossiped: %w", err)
	}
	raw, err := newRawServer(payload)
	if err != nil {
		return res, err
	}
	defer raw.close()
	iters := max(1, int(o.FetchBytes/int64(size)))
	buf := make([]byte, size)
	addr := src.PeerAddr()
	ctx := context.Background()
	peerFetch := func() error {
		_, _, _, err := dst.peers.fetch(ctx, addr, id, func(int) []byte { return buf })
		return err
	}
	noCheck := func() error {
		dst.peers.verify = false
		defer func() { dst.peers.verify = true }()
		return peerFetch()
	}
	tierFetch := func() error {
		_, err := dst.remote.Get(buf, id)
		return err
	}
	// Warm up connections and page in the buffers.
	for _, f := range []func() error{peerFetch, tierFetch, func() error { return raw.fetch(buf) }} {
		if err := f(); err != nil {
			return res, err
		}
	}
	var peer, tier, rawT, nocheck []float64
	for t := 0; t < o.Trials; t++ {
		for _, m := range []struct {
			f   func() error
			out *[]float64
		}{{peerFetch, &peer}, {func() error { return raw.fetch(buf) }, &rawT}, {tierFetch, &tier}, {noCheck, &nocheck}} {
			t0 := time.Now()
			for i := 0; i < iters; i++ {
				if err := m.f(); err != nil {
					return res, err
				}
			}
			*m.out = append(*m.out, float64(iters*size)/time.Since(t0).Seconds()/1e9)
		}
	}
	// The ratio is the median of per-trial ratios: each pair ran back to
	// back, under the same neighbours' load.
	ratios := make([]float64, len(peer))
	for i := range peer {
		ratios[i] = peer[i] / rawT[i]
	}
	res.GBps, res.TierGBps, res.RawGBps, res.NoCheckGBps = median(peer), median(tier), median(rawT), median(nocheck)
	res.Ratio = median(ratios)
	return res, nil
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

// rawServer answers every request byte with the payload on one loopback
// TCP connection: the ceiling the peer transport is compared with.
type rawServer struct {
	ln   net.Listener
	conn net.Conn
	wg   sync.WaitGroup
}

func newRawServer(payload []byte) (*rawServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &rawServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var req [1]byte
		for {
			if _, err := io.ReadFull(c, req[:]); err != nil {
				return
			}
			if _, err := c.Write(payload); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	s.conn = c
	return s, nil
}

func (s *rawServer) fetch(buf []byte) error {
	if _, err := s.conn.Write([]byte{1}); err != nil {
		return err
	}
	_, err := io.ReadFull(s.conn, buf)
	return err
}

func (s *rawServer) close() {
	_ = s.conn.Close()
	_ = s.ln.Close()
	s.wg.Wait()
}

// measureDirectoryBytes is the heap growth per entry of a directory of n
// entries.
func measureDirectoryBytes(n int) float64 {
	var before, after runtime.MemStats
	// Two collections: sync.Pool keeps a victim generation for one more GC,
	// and pooled fetch buffers freed during the measurement would be
	// subtracted from it.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	d := NewDirectory("self", 1, 0)
	d.SetNode("peer", 1, true)
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < n; i++ {
		d.Put("peer", 1, rng.Uint64(), tiers.KindCXL, uint64(i+1))
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(d)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}
