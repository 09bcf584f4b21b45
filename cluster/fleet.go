package cluster

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/holdings"
	"github.com/stratacache/stratacache/tiers"
)

// FleetOptions size RunFleet (`stratacache bench fleet`).
type FleetOptions struct {
	Nodes, Replicas, Artifacts int
	// Trials of the lookup and visibility measurements.
	Trials int
	// Churn kills this many nodes and joins as many new ones.
	Churn int
	Seed  int64
	// Preset is "local" (default) or "lan": memberlist's timings and the
	// directory's AntiEntropyInterval of that preset (the transport is
	// MemNetwork either way).
	Preset string
}

// DefaultFleetOptions are the issue's: 64 nodes, R = 3, 1,000,000
// artifacts, 4 nodes replaced.
func DefaultFleetOptions() FleetOptions {
	return FleetOptions{Nodes: 64, Replicas: 3, Artifacts: 1_000_000, Trials: 200, Churn: 4, Seed: 1}
}

// FleetResult is what `bench fleet -json` prints (field names from issue 13).
type FleetResult struct {
	Nodes     int `json:"nodes"`
	Replicas  int `json:"replicas"`
	Artifacts int `json:"artifacts"`
	Directory struct {
		EntriesPerNodeMax   int     `json:"entries_per_node_max"`
		EntriesPerNodeIdeal int     `json:"entries_per_node_ideal"`
		BytesPerEntry       float64 `json:"bytes_per_entry"`
	} `json:"directory"`
	Lookup struct {
		P50 float64 `json:"p50_us"`
		P99 float64 `json:"p99_us"`
	} `json:"lookup"`
	Visible struct {
		P50 float64 `json:"p50_s"`
		P99 float64 `json:"p99_s"`
	} `json:"visible"`
	DeleteVisible struct {
		P99 float64 `json:"p99_s"`
	} `json:"delete_visible"`
	Churn struct {
		LostHolders  int     `json:"lost_holders"`
		StaleHolders int     `json:"stale_holders"`
		HandoffS     float64 `json:"handoff_s"`
	} `json:"churn"`
	// FailureDetection: the churn's kills, timed (fleet_failure.go).
	FailureDetection     FleetFailure `json:"failure_detection"`
	ControlBytesPerStore float64      `json:"control_bytes_per_store"`
	Summary              struct {
		BitsPerEntry      float64 `json:"bits_per_entry"`
		FalsePositiveRate float64 `json:"false_positive_rate"`
		Filter            string  `json:"filter"`
	} `json:"summary"`
	Model1000 struct {
		DirectoryBytesPerNode     float64 `json:"directory_bytes_per_node"`
		ControlBytesPerSPerNode   float64 `json:"control_bytes_per_s_per_node"`
		SchedulerSummaryBytes     float64 `json:"scheduler_summary_bytes"`
		ControlShareOf100GbitNIC  float64 `json:"control_share_of_100gbit_nic"`
		DirectoryEntriesPerNode   float64 `json:"directory_entries_per_node"`
		AntiEntropyBytesPerSPerNo float64 `json:"anti_entropy_bytes_per_s_per_node"`
	} `json:"model_1000"`
	Preset string  `json:"preset"`
	Load   float64 `json:"load_avg_1m"`
}

// countingDialer counts every byte of the peer connections it opens (the
// directory's traffic: the fleet bench moves no payloads).
type countingDialer struct {
	base  Dialer
	bytes *atomic.Uint64
}

func (d countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.base.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: c, bytes: d.bytes}, nil
}

type countingConn struct {
	net.Conn
	bytes *atomic.Uint64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.bytes.Add(uint64(n))
	return n, err
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.bytes.Add(uint64(n))
	return n, err
}

type fleet struct {
	o      FleetOptions
	mn     *MemNetwork
	nodes  []*Node
	tiers  []tiers.Tier
	bytes  atomic.Uint64
	serial int
}

func (f *fleet) start(name string, join []string) (*Node, error) {
	cfg := DefaultLocalConfig(name)
	if f.o.Preset == "lan" {
		cfg = DefaultLANConfig(name)
		cfg.GossipAddr, cfg.PeerAddr = "127.0.0.1:0", "127.0.0.1:0"
	}
	cfg.Transport = f.mn.NewTransport(name)
	cfg.Dialer = countingDialer{base: f.mn.PeerDialer(name, &net.Dialer{}), bytes: &f.bytes}
	cfg.Join = join
	cfg.DirectoryReplicas = f.o.Replicas
	cfg.DirectoryMaxEntries = 0
	cfg.StreamTimeout = 10 * time.Second
	cfg.FetchTimeout = 5 * time.Second
	if f.o.Preset != "lan" {
		// A holder's digest pass costs (own holdings x N) rendezvous
		// scores (docs/cluster.md, limits): every 5 s rather than the
		// local preset's 1 s, so 64 nodes in one process on 2 cores keep up.
		cfg.AntiEntropyInterval = 5 * time.Second
		cfg.ProbeInterval = 200 * time.Millisecond
		cfg.ProbeTimeout = 100 * time.Millisecond
		cfg.SuspicionMult = 3
	}
	n, err := New(cfg)
	if err != nil {
		return nil, err
	}
	t, err := benchTier("mem", 1<<20)
	if err != nil {
		return nil, err
	}
	f.tiers = append(f.tiers, t)
	if _, err := n.Tiers([]tiers.Tier{t}); err != nil {
		return nil, err
	}
	if err := n.Start(nopLocalStore{}); err != nil {
		return nil, err
	}
	f.mn.RegisterPeer(name, n.PeerAddr())
	return n, nil
}

func (f *fleet) close() {
	for _, n := range f.nodes {
		_ = n.shutdown(false)
	}
	for _, t := range f.tiers {
		_ = t.Close()
	}
}

func (f *fleet) settled(k int) bool {
	for _, n := range f.nodes {
		if len(n.Members()) != k || n.snd.pending() > 0 || len(n.ring.Load().names) != k {
			return false
		}
	}
	return true
}

func fleetID(i int) artifact.ID {
	return artifact.MustID(artifact.NamespaceKV, fmt.Sprintf("fleet-%d", i))
}

// RunFleet builds an in-process cluster of o.Nodes over MemNetwork (real
// loopback TCP for the peer transport, faults injectable) and measures the
// partitioned directory.
func RunFleet(o FleetOptions) (FleetResult, error) {
	var r FleetResult
	if o.Preset == "" {
		o.Preset = "local"
	}
	if o.Preset != "local" && o.Preset != "lan" {
		return r, fmt.Errorf("%w: preset %q (want local or lan)", ErrConfig, o.Preset)
	}
	r.Nodes, r.Replicas, r.Artifacts, r.Preset = o.Nodes, o.Replicas, o.Artifacts, o.Preset
	// Measured first, on a quiet heap.
	r.Directory.BytesPerEntry = measureDirectoryBytes(500_000)
	f := &fleet{o: o, mn: NewMemNetwork(o.Seed)}
	defer f.close()
	for i := 0; i < o.Nodes; i++ {
		var join []string
		if i > 0 {
			join = []string{f.nodes[0].GossipAddr()}
		}
		n, err := f.start(fmt.Sprintf("fleet-%03d", i), join)
		if err != nil {
			return r, err
		}
		f.nodes = append(f.nodes, n)
	}
	if err := waitUntil(600*time.Second, func() bool { return f.settled(o.Nodes) }); err != nil {
		var seen []int
		for _, n := range f.nodes {
			seen = append(seen, len(n.Members()))
		}
		return r, fmt.Errorf("membership (members seen per node %v): %w", seen, err)
	}
	rng := rand.New(rand.NewSource(o.Seed))
	// Load: every artifact stored on a random node.
	base := f.bytes.Load()
	stores := 0
	for i := 0; i < o.Artifacts; i++ {
		f.nodes[rng.Intn(len(f.nodes))].Observe(Event{Kind: EventStored, ID: fleetID(i), Tier: tiers.KindCXL})
		stores++
	}
	if err := waitUntil(300*time.Second, func() bool { return f.settled(o.Nodes) }); err != nil {
		return r, fmt.Errorf("load: %w", err)
	}
	r.ControlBytesPerStore = float64(f.bytes.Load()-base) / float64(stores)
	for _, n := range f.nodes {
		r.Directory.EntriesPerNodeMax = max(r.Directory.EntriesPerNodeMax, n.dir.Len())
	}
	r.Directory.EntriesPerNodeIdeal = o.Artifacts * o.Replicas / o.Nodes
	if err := r.measureSummary(f.nodes[0], rng); err != nil {
		return r, err
	}
	// Lookups: 64 random blocks from a random node, one batch.
	var lat []float64
	ctx := context.Background()
	for t := 0; t < o.Trials; t++ {
		ids := make([]artifact.ID, 64)
		for j := range ids {
			ids[j] = fleetID(rng.Intn(o.Artifacts))
		}
		n := f.nodes[rng.Intn(len(f.nodes))]
		t0 := time.Now()
		if _, err := n.Lookup(ctx, ids); err != nil {
			return r, fmt.Errorf("lookup: %w", err)
		}
		lat = append(lat, float64(time.Since(t0).Microseconds()))
	}
	r.Lookup.P50, r.Lookup.P99 = pct(lat, 50), pct(lat, 99)
	// Visibility: a store (then its delete) on a random node, until a
	// lookup from another random node lists the holder (then nobody).
	var vis, dvis []float64
	for t := 0; t < o.Trials; t++ {
		id := fleetID(o.Artifacts + t)
		a, b := f.nodes[rng.Intn(len(f.nodes))], f.nodes[rng.Intn(len(f.nodes))]
		t0 := time.Now()
		a.Observe(Event{Kind: EventStored, ID: id, Tier: tiers.KindCXL})
		if err := waitUntil(30*time.Second, func() bool { return holderListed(b, id, a.Name()) }); err != nil {
			return r, fmt.Errorf("visible: %w", err)
		}
		vis = append(vis, time.Since(t0).Seconds())
		t0 = time.Now()
		a.Observe(Event{Kind: EventDeleted, ID: id, Tier: tiers.KindCXL})
		if err := waitUntil(30*time.Second, func() bool { return !holderListed(b, id, a.Name()) }); err != nil {
			return r, fmt.Errorf("delete visible: %w", err)
		}
		dvis = append(dvis, time.Since(t0).Seconds())
	}
	r.Visible.P50, r.Visible.P99 = pct(vis, 50), pct(vis, 99)
	r.DeleteVisible.P99 = pct(dvis, 99)
	// Churn: kill o.Churn nodes and join as many under a store/delete load.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ops atomic.Int64
	live := append([]*Node(nil), f.nodes...)
	wg.Add(1)
	go func() {
		defer wg.Done()
		lr := rand.New(rand.NewSource(o.Seed + 7))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			mu.Lock()
			n := live[lr.Intn(len(live))]
			mu.Unlock()
			id := fleetID(lr.Intn(o.Artifacts))
			if i%2 == 0 {
				n.Observe(Event{Kind: EventStored, ID: id, Tier: tiers.KindCXL})
			} else {
				n.Observe(Event{Kind: EventDeleted, ID: id, Tier: tiers.KindCXL})
			}
			ops.Add(1)
		}
	}()
	t0 := time.Now()
	watch := &failureWatch{}
	for i := 0; i < o.Churn; i++ {
		victim := f.nodes[1+i]
		watch.killed(victim, rng)
		mu.Lock()
		for j, n := range live {
			if n == victim {
				live = append(live[:j], live[j+1:]...)
				break
			}
		}
		mu.Unlock()
		f.mn.Kill(victim.Name())
		_ = victim.shutdown(false)
	}
	watched := make(chan FleetFailure, 1)
	go func() {
		watched <- watch.run(func() []*Node {
			mu.Lock()
			defer mu.Unlock()
			return append([]*Node(nil), live...)
		}, 120*time.Second)
	}()
	var fresh []*Node
	for i := 0; i < o.Churn; i++ {
		n, err := f.start(fmt.Sprintf("fleet-new-%03d", i), []string{f.nodes[0].GossipAddr()})
		if err != nil {
			close(stop)
			wg.Wait()
			<-watched
			return r, err
		}
		fresh = append(fresh, n)
		mu.Lock()
		live = append(live, n)
		mu.Unlock()
	}
	// The load runs on through the joins for 1,000 more stores and deletes.
	joined := ops.Load()
	_ = waitUntil(60*time.Second, func() bool { return ops.Load() >= joined+1000 })
	close(stop)
	wg.Wait()
	r.FailureDetection = <-watched
	old := f.nodes
	f.nodes = live
	defer func() { f.nodes = append(f.nodes, old[1:1+o.Churn]...) }()
	if err := waitUntil(300*time.Second, func() bool { return f.settled(o.Nodes) && f.check(o.Artifacts) == [2]int{} }); err != nil {
		c := f.check(o.Artifacts)
		r.Churn.LostHolders, r.Churn.StaleHolders = c[0], c[1]
		r.Churn.HandoffS = time.Since(t0).Seconds()
		return r, nil
	}
	r.Churn.HandoffS = time.Since(t0).Seconds()
	c := f.check(o.Artifacts)
	r.Churn.LostHolders, r.Churn.StaleHolders = c[0], c[1]
	r.fillModel()
	return r, nil
}

// check compares every artifact's holders (the live nodes' own tables)
// with what its first replica lists: [lost, stale].
func (f *fleet) check(artifacts int) [2]int {
	byName := map[string]*Node{}
	for _, n := range f.nodes {
		byName[n.Name()] = n
	}
	var out [2]int
	var buf [8]Owner
	for i := 0; i < artifacts; i++ {
		h := fleetID(i).Hash
		reps := f.nodes[0].replicasOf(nil, h)
		rep := byName[reps[0]]
		listed := rep.dir.Holders(h, buf[:0])
		for _, n := range f.nodes {
			if !n.holdings.has(h) {
				continue
			}
			found := false
			for _, o := range listed {
				found = found || o.Node == n.Name()
			}
			if !found {
				out[0]++
			}
		}
		for _, o := range listed {
			n, ok := byName[o.Node]
			if !ok || !n.holdings.has(h) {
				out[1]++
			}
		}
	}
	return out
}

func holderListed(n *Node, id artifact.ID, holder string) bool {
	for _, o := range n.LookupHolders(context.Background(), id) {
		if o.Node == holder {
			return true
		}
	}
	return false
}

func pct(v []float64, p int) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	return v[min(len(v)-1, len(v)*p/100)]
}

// The model of docs/cluster.md, at 1,000 nodes x 675k artifacts per node,
// 1,000 stores/s per node, LAN anti-entropy every 10 s.
const (
	modelNodes        = 1000
	modelPerNode      = 675_000
	modelStoresPerSec = 1000
	modelAEInterval   = 10.0
	// A digest request: owner, epoch, as-of, 64 x 8 bytes, plus the
	// frame header and an empty reply: ~600 bytes each way, measured at
	// 64 nodes as control bytes without stores.
	digestBytes = 600.0
)

func (r *FleetResult) fillModel() {
	m := &r.Model1000
	m.DirectoryEntriesPerNode = float64(r.Replicas * modelPerNode)
	// Entries replicated here plus this node's own holdings table.
	m.DirectoryBytesPerNode = m.DirectoryEntriesPerNode*r.Directory.BytesPerEntry + modelPerNode*r.Directory.BytesPerEntry
	m.AntiEntropyBytesPerSPerNo = 2 * digestBytes * float64(modelNodes-1) / modelAEInterval
	m.ControlBytesPerSPerNode = modelStoresPerSec*r.ControlBytesPerStore + m.AntiEntropyBytesPerSPerNo
	m.ControlShareOf100GbitNIC = m.ControlBytesPerSPerNode * 8 / 100e9
	m.SchedulerSummaryBytes = modelNodes * modelPerNode * r.Summary.BitsPerEntry / 8
}

// measureSummary builds the node's summary filter (holdings.Filter, what
// OP_PEER_SUMMARY serves) over its holdings and asks it 200,000 hashes the
// node does not hold: bits per held entry and the false-positive rate.
func (r *FleetResult) measureSummary(n *Node, rng *rand.Rand) error {
	var held []uint64
	n.holdings.each(func(recs []Record) {
		for _, rec := range recs {
			held = append(held, rec.Hash)
		}
	})
	f, err := holdings.NewFilter(len(held), holdings.DefaultBitsPerEntry, holdings.DefaultK)
	if err != nil {
		return err
	}
	for _, h := range held {
		f.Add(h)
	}
	fp, asked := 0, 0
	for asked < 200_000 {
		h := rng.Uint64()
		if n.holdings.has(h) {
			continue
		}
		asked++
		if f.Contains(h) {
			fp++
		}
	}
	r.Summary.Filter = fmt.Sprintf("holdings.Filter (blocked Bloom, %d bits/entry, k=%d)", holdings.DefaultBitsPerEntry, holdings.DefaultK)
	r.Summary.BitsPerEntry = float64(f.Bits()) / float64(max(len(held), 1))
	r.Summary.FalsePositiveRate = float64(fp) / float64(asked)
	return nil
}
