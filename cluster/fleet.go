package cluster

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
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
	// AntiEntropy overrides the preset's AntiEntropyInterval (the local
	// preset's bench value is 5 s); SteadyPasses is how many of them the
	// steady phase lasts (0: 6).
	AntiEntropy  time.Duration
	SteadyPasses int
	// Progress, when set, gets one line per phase with its duration (the
	// bench command passes stderr).
	Progress io.Writer
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
	FailureDetection FleetFailure `json:"failure_detection"`
	// ControlBytesPerStore: every directory byte of the load phase (all
	// store-driven updates plus whatever the timers sent meanwhile) over
	// the stores. Control splits it by cause and measures each apart.
	ControlBytesPerStore float64      `json:"control_bytes_per_store"`
	Control              FleetControl `json:"control"`
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
		StoreBytesPerSPerNode     float64 `json:"store_bytes_per_s_per_node"`
		OwnBytesPerRecord         float64 `json:"own_bytes_per_record"`
	} `json:"model_1000"`
	Preset string  `json:"preset"`
	Load   float64 `json:"load_avg_1m"`
}

// FleetControl is the directory's traffic by cause (frame bytes counted by
// the nodes that sent the requests: Stats.Traffic), so that what a store
// costs and what the timers cost are each measured on their own and do not
// depend on how long a phase took on a loaded machine.
type FleetControl struct {
	// The load phase (o.Artifacts stores at once, delivered in batches).
	LoadPhaseS         float64 `json:"load_phase_s"`
	StoreBytesPerStore float64 `json:"store_bytes_per_store"` // store-driven updates only
	RecordsPerUpdate   float64 `json:"records_per_update"`
	// Steady: a paced store rate with the timers running, long enough for
	// a whole number of anti-entropy passes, against the model.
	Steady FleetSteady `json:"steady"`
	// The churn phase: records handed off and bucket repairs.
	HandoffBytes uint64 `json:"churn_handoff_bytes"`
	RepairBytes  uint64 `json:"churn_repair_bytes"`
}

// FleetSteady measures one node's directory traffic per second at a paced
// store rate and compares it with the model of docs/cluster.md evaluated
// at this run's nodes, rate and AntiEntropyInterval.
type FleetSteady struct {
	StoresPerSPerNode  float64 `json:"stores_per_s_per_node"`
	Seconds            float64 `json:"seconds"`
	StoreBytesPerStore float64 `json:"store_bytes_per_store"`
	RecordsPerUpdate   float64 `json:"records_per_update"`
	// Timer-driven: digests and the repairs they caused.
	TimerBytesPerSPerNode float64 `json:"timer_bytes_per_s_per_node"`
	DigestsPerSPerNode    float64 `json:"digests_per_s_per_node"`
	// All directory bytes per second per node, measured and modelled.
	MeasuredBytesPerSPerNode float64 `json:"measured_bytes_per_s_per_node"`
	ModelBytesPerSPerNode    float64 `json:"model_bytes_per_s_per_node"`
	ModelStoreBytesPerSNode  float64 `json:"model_store_bytes_per_s_per_node"`
	ModelTimerBytesPerSNode  float64 `json:"model_timer_bytes_per_s_per_node"`
	ModelRatio               float64 `json:"model_ratio"` // measured / model
}

type fleet struct {
	o     FleetOptions
	began time.Time // the start of the current phase
	mn    *MemNetwork
	nodes []*Node
	tiers []tiers.Tier
	ae    time.Duration // the nodes' AntiEntropyInterval
}

func (f *fleet) start(name string, join []string) (*Node, error) {
	cfg := DefaultLocalConfig(name)
	if f.o.Preset == "lan" {
		cfg = DefaultLANConfig(name)
		cfg.GossipAddr, cfg.PeerAddr = "127.0.0.1:0", "127.0.0.1:0"
	}
	cfg.Transport = f.mn.NewTransport(name)
	cfg.Dialer = f.mn.PeerDialer(name, &net.Dialer{})
	cfg.Join = join
	cfg.DirectoryReplicas = f.o.Replicas
	cfg.DirectoryMaxEntries = 0
	cfg.StreamTimeout = 10 * time.Second
	cfg.FetchTimeout = 5 * time.Second
	if f.o.Preset != "lan" {
		// Digests every 5 s rather than the local preset's 1 s: 64 nodes
		// in one process exchange N x (N-1) digests a pass.
		cfg.AntiEntropyInterval = 5 * time.Second
		// memberlist's LAN probe timings rather than the local preset's
		// (or faster): 64 memberlists share two loaded cores here, and
		// with 100-200 ms probe timeouts their acks came late, live nodes
		// were declared dead and the membership never settled (the first
		// attempt at the default run: 120 s without full membership).
		cfg.ProbeInterval = time.Second
		cfg.ProbeTimeout = 500 * time.Millisecond
		cfg.SuspicionMult = 4
	}
	if f.o.AntiEntropy > 0 {
		cfg.AntiEntropyInterval = f.o.AntiEntropy
	}
	f.ae = cfg.AntiEntropyInterval
	if f.ae == 0 {
		f.ae = DefaultLANConfig(name).AntiEntropyInterval
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

// phase reports the phase that just ended (with its duration) and starts
// timing the next.
func (f *fleet) phase(format string, args ...any) {
	if f.o.Progress != nil {
		fmt.Fprintf(f.o.Progress, "bench fleet: %-44s %7.1f s (load %s)\n", fmt.Sprintf(format, args...), time.Since(f.began).Seconds(), loadAvg1m())
		fmt.Fprintf(f.o.Progress, "bench fleet:   %s\n", f.status())
	}
	f.began = time.Now()
}

// loadAvg1m is /proc/loadavg's first field ("?" where it is absent).
func loadAvg1m() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

func (f *fleet) close() {
	for _, n := range f.nodes {
		_ = n.shutdown(false)
	}
	for _, t := range f.tiers {
		_ = t.Close()
	}
}

// settled: every node sees k members, has its ring of k, and has no
// directory record waiting to be sent.
func (f *fleet) settled(k int) bool {
	for _, n := range f.nodes {
		if len(n.memberNames()) != k || len(n.ring.Load().names) != k || n.snd.pending() > 0 {
			return false
		}
	}
	return true
}

// ringsStable: every node's ring has not changed for d (its digests run
// once it has been stable for two AntiEntropyIntervals).
func (f *fleet) ringsStable(d time.Duration) bool {
	for _, n := range f.nodes {
		if time.Since(time.Unix(0, n.ringChangedAt.Load())) < d {
			return false
		}
	}
	return true
}

// wait polls cond every 50 ms (the fleet's conditions read every node)
// until it holds or within passed.
// A wait longer than 30 s reports the fleet's state every 30 s.
func (f *fleet) wait(within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	next := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return errBenchTimeout
		}
		if f.o.Progress != nil && time.Now().After(next) {
			next = next.Add(30 * time.Second)
			fmt.Fprintf(f.o.Progress, "bench fleet:   waiting %.0f s: %s (load %s)\n", time.Since(f.began).Seconds(), f.status(), loadAvg1m())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// status sums up the nodes: members seen, rings, records queued and lost.
func (f *fleet) status() string {
	minM, maxM, rings := len(f.nodes)*2, 0, map[int]int{}
	var failed, dropped, conns uint64
	for _, n := range f.nodes {
		k := len(n.memberNames())
		minM, maxM = min(minM, k), max(maxM, k)
		rings[len(n.ring.Load().names)]++
		failed += n.snd.failed.Load()
		dropped += n.snd.dropped.Load()
		conns += n.peerStats.conns.Load()
	}
	return fmt.Sprintf("members seen %d-%d, ring sizes %v, %d records queued, %d update batches failed, %d records dropped, %d peer connections accepted",
		minM, maxM, rings, f.pending(), failed, dropped, conns)
}

// traffic sums the nodes' Stats.Traffic.
func (f *fleet) traffic(nodes []*Node) Traffic {
	var t Traffic
	for _, n := range nodes {
		x := n.traffic.snapshot()
		for _, p := range [][2]*TrafficClass{{&t.Store, &x.Store}, {&t.Handoff, &x.Handoff}, {&t.Repair, &x.Repair},
			{&t.Digest, &x.Digest}, {&t.Lookup, &x.Lookup}, {&t.Other, &x.Other}} {
			p[0].Bytes += p[1].Bytes
			p[0].Requests += p[1].Requests
			p[0].Records += p[1].Records
		}
	}
	return t
}

// sub is the traffic from b to t.
func (t Traffic) sub(b Traffic) Traffic {
	d := func(x, y TrafficClass) TrafficClass {
		return TrafficClass{Bytes: x.Bytes - y.Bytes, Requests: x.Requests - y.Requests, Records: x.Records - y.Records}
	}
	return Traffic{Store: d(t.Store, b.Store), Handoff: d(t.Handoff, b.Handoff), Repair: d(t.Repair, b.Repair),
		Digest: d(t.Digest, b.Digest), Lookup: d(t.Lookup, b.Lookup), Other: d(t.Other, b.Other)}
}

func fleetID(i int) artifact.ID {
	return artifact.MustID(artifact.NamespaceKV, fmt.Sprintf("fleet-%d", i))
}

// steadyStoresPerNode is the steady phase's store rate per node: low
// enough that a replica rarely has a request in flight when the next
// record for it comes (so each record is a request of its own, as at
// 1,000 nodes, where a replica gets ~3 records a second from a holder).
const steadyStoresPerNode = 20

// steadyPasses is how many anti-entropy intervals the steady phase lasts
// by default.
const steadyPasses = 6

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
	r.Model1000.OwnBytesPerRecord = measureHoldingsBytes(500_000)
	f := &fleet{o: o, mn: NewMemNetwork(o.Seed), began: time.Now()}
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
	if err := f.wait(600*time.Second, func() bool { return f.settled(o.Nodes) }); err != nil {
		var seen []int
		for _, n := range f.nodes {
			seen = append(seen, len(n.memberNames()))
		}
		return r, fmt.Errorf("membership (members seen per node %v): %w", seen, err)
	}
	f.phase("%d nodes started and joined", o.Nodes)
	rng := rand.New(rand.NewSource(o.Seed))
	if err := f.load(&r, rng); err != nil {
		return r, err
	}
	for _, n := range f.nodes {
		r.Directory.EntriesPerNodeMax = max(r.Directory.EntriesPerNodeMax, n.dir.Len())
	}
	r.Directory.EntriesPerNodeIdeal = o.Artifacts * o.Replicas / o.Nodes
	if err := r.measureSummary(f.nodes[0], rng); err != nil {
		return r, err
	}
	if err := f.steady(&r, rng); err != nil {
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
	f.phase("summary and %d lookups", o.Trials)
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
	f.phase("%d visibility trials", o.Trials)
	if err := f.churn(&r, rng); err != nil {
		return r, err
	}
	r.fillModel(f.nodes[0])
	return r, nil
}

// load stores every artifact on a random node at once and waits until the
// records reached their replicas.
func (f *fleet) load(r *FleetResult, rng *rand.Rand) error {
	o := f.o
	before := f.traffic(f.nodes)
	t0 := time.Now()
	for i := 0; i < o.Artifacts; i++ {
		f.nodes[rng.Intn(len(f.nodes))].Observe(Event{Kind: EventStored, ID: fleetID(i), Tier: tiers.KindCXL})
	}
	if err := f.wait(600*time.Second, func() bool { return f.settled(o.Nodes) }); err != nil {
		return fmt.Errorf("load: %d records still queued: %w", f.pending(), err)
	}
	d := f.traffic(f.nodes).sub(before)
	r.Control.LoadPhaseS = time.Since(t0).Seconds()
	r.ControlBytesPerStore = float64(d.Directory()) / float64(o.Artifacts)
	r.Control.StoreBytesPerStore = float64(d.Store.Bytes) / float64(o.Artifacts)
	r.Control.RecordsPerUpdate = float64(d.Store.Records) / float64(max(d.Store.Requests, 1))
	f.phase("%d records delivered", o.Artifacts*o.Replicas)
	return nil
}

func (f *fleet) pending() int {
	k := 0
	for _, n := range f.nodes {
		k += n.snd.pending()
	}
	return k
}

// steady stores steadyStoresPerNode a second per node (on random nodes)
// for steadyPasses anti-entropy intervals, once every ring has been
// stable long enough for the digests to run, and measures the directory's
// traffic per node and second against the model.
func (f *fleet) steady(r *FleetResult, rng *rand.Rand) error {
	if err := f.wait(600*time.Second, func() bool { return f.ringsStable(2*f.ae + f.ae/2) }); err != nil {
		return fmt.Errorf("steady: rings never stable for two anti-entropy intervals: %w", err)
	}
	f.phase("rings stable for the digests")
	rate := float64(steadyStoresPerNode * len(f.nodes))
	passes := f.o.SteadyPasses
	if passes <= 0 {
		passes = steadyPasses
	}
	window := time.Duration(passes) * f.ae
	before := f.traffic(f.nodes)
	t0 := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	stores := 0
	for time.Since(t0) < window {
		<-tick.C
		due := int(rate * time.Since(t0).Seconds())
		for ; stores < due; stores++ {
			id := artifact.MustID(artifact.NamespaceKV, fmt.Sprintf("fleet-steady-%d", stores))
			f.nodes[rng.Intn(len(f.nodes))].Observe(Event{Kind: EventStored, ID: id, Tier: tiers.KindCXL})
		}
	}
	tick.Stop()
	secs := time.Since(t0).Seconds()
	d := f.traffic(f.nodes).sub(before)
	nodes := float64(len(f.nodes))
	s := &r.Control.Steady
	s.Seconds = secs
	s.StoresPerSPerNode = float64(stores) / secs / nodes
	s.StoreBytesPerStore = float64(d.Store.Bytes) / float64(max(stores, 1))
	s.RecordsPerUpdate = float64(d.Store.Records) / float64(max(d.Store.Requests, 1))
	s.TimerBytesPerSPerNode = float64(d.Digest.Bytes+d.Repair.Bytes) / secs / nodes
	s.DigestsPerSPerNode = float64(d.Digest.Requests) / secs / nodes
	s.MeasuredBytesPerSPerNode = float64(d.Directory()) / secs / nodes
	m := newFleetModel(f.nodes[0], len(f.nodes), s.StoresPerSPerNode, f.ae.Seconds(), r)
	s.ModelStoreBytesPerSNode = m.storeBytesPerS()
	s.ModelTimerBytesPerSNode = m.timerBytesPerS()
	s.ModelBytesPerSPerNode = s.ModelStoreBytesPerSNode + s.ModelTimerBytesPerSNode
	s.ModelRatio = s.MeasuredBytesPerSPerNode / s.ModelBytesPerSPerNode
	f.phase("steady: %d stores over %d digest passes", stores, passes)
	return nil
}

// churn kills o.Churn nodes and joins as many under a store/delete load,
// waits for convergence and checks every artifact.
func (f *fleet) churn(r *FleetResult, rng *rand.Rand) error {
	o := f.o
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
	before := f.traffic(f.nodes)
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
	for i := 0; i < o.Churn; i++ {
		n, err := f.start(fmt.Sprintf("fleet-new-%03d", i), []string{f.nodes[0].GossipAddr()})
		if err != nil {
			close(stop)
			wg.Wait()
			<-watched
			return err
		}
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
	f.phase("churn: %d killed, %d joined under load", o.Churn, o.Churn)
	// Converged: settled, then every artifact checked; a check that finds
	// holders lost or stale waits for the next anti-entropy pass.
	deadline := time.Now().Add(300 * time.Second)
	var c [2]int
	for {
		err := f.wait(time.Until(deadline), func() bool { return f.settled(o.Nodes) })
		c = f.check(o.Artifacts)
		if err != nil || c == [2]int{} || time.Now().After(deadline) {
			break
		}
		tm := time.NewTimer(f.ae)
		<-tm.C
	}
	r.Churn.LostHolders, r.Churn.StaleHolders = c[0], c[1]
	r.Churn.HandoffS = time.Since(t0).Seconds()
	// The killed nodes' counters stay readable: the traffic of the phase
	// is the same nodes' after minus before, plus the joined nodes'.
	d := f.traffic(append(slices.Clone(f.nodes), old[1:1+o.Churn]...)).sub(before)
	r.Control.HandoffBytes, r.Control.RepairBytes = d.Handoff.Bytes, d.Repair.Bytes
	f.phase("churn converged: %d lost, %d stale", c[0], c[1])
	return nil
}

// check compares what the live nodes hold (their own tables) with what
// each artifact's first replica lists, ranked from scratch on node 0's
// ring: [lost, stale]. lost: a record a node holds that its first replica
// does not list; stale: a holder listed for one of the first artifacts
// ids that does not hold it (dead, or dropped it).
func (f *fleet) check(artifacts int) [2]int {
	byName := map[string]*Node{}
	for _, n := range f.nodes {
		byName[n.Name()] = n
	}
	cur := f.nodes[0].ring.Load()
	first := func(h uint64) *Node {
		var buf [1]uint16
		return byName[cur.names[cur.top(buf[:0], h, 1)[0]]]
	}
	var out [2]int
	for _, n := range f.nodes {
		n.holdings.each(func(recs []Record) {
			for _, rec := range recs {
				if rep := first(rec.Hash); rep == nil || !rep.dir.Holds(n.Name(), rec.Hash) {
					out[0]++
				}
			}
		})
	}
	var buf [8]Owner
	for i := 0; i < artifacts; i++ {
		h := fleetID(i).Hash
		rep := first(h)
		if rep == nil {
			continue
		}
		for _, o := range rep.dir.Holders(h, buf[:0]) {
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
