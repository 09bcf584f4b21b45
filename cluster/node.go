package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// LocalStore is what the cluster needs from the node's storage engine;
// *actors.Engine satisfies it. Peers' demotes and deletes go through it (the
// tier actors own mutations); peers' reads go to the local tiers directly,
// as the engine's own reads do.
type LocalStore interface {
	Store(ctx context.Context, id artifact.ID, payload []byte, o actors.StoreOptions) error
	Delete(ctx context.Context, id artifact.ID) (bool, error)
}

var _ LocalStore = (*actors.Engine)(nil)

// Member is a node of the cluster as this node sees it.
type Member struct {
	Name       string
	GossipAddr string
	Meta       NodeMeta
	Self       bool
}

// Stats is a value snapshot of the node's cluster counters.
type Stats struct {
	Members          int
	DirectoryEntries int // entries this node replicates (with a live holder)
	DirectoryEvicted uint64
	Held             int    // artifacts this node holds itself
	BroadcastsQueued int    // records and repairs waiting for a replica
	DeltasSent       uint64 // OP_PEER_DIR_UPDATE requests sent
	DeltasReceived   uint64 // OP_PEER_DIR_UPDATE requests served
	DeltasRelayed    uint64 // records handed off to new replicas
	DeltasBad        uint64
	RecordsSent      uint64 // records delivered to replicas
	UpdatesDropped   uint64 // records dropped (queue bound, replica gone)
	UpdatesFailed    uint64 // update batches lost to a failed request
	Lookups          uint64 // Lookup calls (each a batch)
	LookupsServed    uint64
	Digests          uint64 // digests served
	Repairs          uint64 // bucket snapshots sent after a digest differed
	DirSyncs         uint64 // OP_PEER_DIR_SYNC requests served
	DirSyncFailures  uint64
	Remote           RemoteStats
	Peer             PeerStats
	Traffic          Traffic // bytes of the requests this node sent, by cause
}

// Node is this process's membership in the cluster. Build it with New, put
// Tiers(local) in the engine's chain, then Start(engine). Safe for
// concurrent use after Start.
type Node struct {
	cfg Config
	log *slog.Logger
	dir *Directory

	local  []*observedTier
	pool   int
	remote *RemoteTier

	store                LocalStore
	ml                   *memberlist.Memberlist
	mlKeyring            *memberlist.Keyring
	gossipAddr, gossipIP string // set once in Start
	peers                *peerPool
	srv                  *peerServer
	ln                   net.Listener
	advert               atomic.Pointer[string] // peer address others dial

	memMu   sync.RWMutex
	members map[string]Member
	failed  map[string]failedMember // dead (not left) members to rejoin
	seeds   []string                // Join addresses not reached yet (retried)
	startAt time.Time               // when Start ran (bounds the seed retries)
	// clientAddrs: native and RESP addresses advertised in the metadata.
	clientAddrs atomic.Pointer[[2]string]

	// holdings: what this node holds itself, with each record's replica
	// set; its change feed is what schedulers follow (OP_PEER_SUBSCRIBE,
	// OP_PEER_SUMMARY).
	holdings *ownHoldings
	ring     atomic.Pointer[ring]
	ringMu   sync.Mutex // serialises updateRing (generations are unique)
	rings    ringLog    // recent rings, for cached replica sets
	ringCh   chan struct{}
	// ringChangedAt (unix ns): lookups right after a change also ask the
	// next replica when the first lists nobody.
	ringChangedAt atomic.Int64
	snd           *dirSender
	dstats        dirCounters
	traffic       trafficCounters

	clock atomic.Uint64

	workMu sync.Mutex
	work   []int // retired directory slots to drop
	workCh chan struct{}

	peerDeletes sync.Map // hash -> struct{}: deletes on behalf of a peer
	peerStats   peerCounters
	// testFetchHook, when set, runs before the peer server answers a fetch
	// (tests hold answers with it).
	testFetchHook atomic.Pointer[func()]
	// testStreamSkip, when positive, makes change streams drop that many
	// batches unsent (their place in the log moves on): a lost frame, for
	// the subscriber's gap detection.
	testStreamSkip atomic.Int32

	syncWG    sync.WaitGroup
	started   atomic.Bool
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New validates cfg and returns a node that has not joined anything yet.
func New(cfg Config) (*Node, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n := &Node{
		cfg:     cfg,
		log:     log.With(slog.String("component", "cluster"), slog.String("node", cfg.NodeName)),
		dir:     NewDirectory(cfg.NodeName, cfg.Epoch, cfg.DirectoryMaxEntries),
		pool:    -1,
		members: map[string]Member{},
		failed:  map[string]failedMember{},
		workCh:  make(chan struct{}, 1),
		ringCh:  make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	n.holdings = newOwnHoldings(cfg.Epoch, cfg.FeedLogLen)
	first := newRing([]string{cfg.NodeName}, 1)
	n.rings.add(first)
	n.ring.Store(first)
	n.snd = newDirSender(n)
	n.dir.retireFn = n.retire
	n.peers = newPeerPool(&n.cfg, &n.traffic)
	n.srv = newPeerServer(n)
	n.remote = newRemoteTier(n)
	return n, nil
}

// Tiers wraps the node's local tiers (fastest first) so that the directory
// follows what they hold, and appends the remote tier: the result is the
// engine's Config.Tiers. Call it once, before Start. The engine owns the
// returned tiers (closing them closes the local ones).
func (n *Node) Tiers(local []tiers.Tier) ([]tiers.Tier, error) {
	if n.local != nil {
		return nil, fmt.Errorf("%w: Tiers called twice", ErrConfig)
	}
	if len(local) == 0 {
		return nil, fmt.Errorf("%w: no local tiers", ErrConfig)
	}
	out := make([]tiers.Tier, 0, len(local)+1)
	for i, t := range local {
		ot := &observedTier{Tier: t, n: n, last: i == len(local)-1}
		n.local = append(n.local, ot)
		out = append(out, ot)
		if n.cfg.PoolTier != "" && t.Name() == n.cfg.PoolTier {
			n.pool = i
		}
	}
	if n.cfg.PoolTier != "" && n.pool < 0 {
		return nil, fmt.Errorf("%w: pool tier %q is not a local tier", ErrConfig, n.cfg.PoolTier)
	}
	if n.pool < 0 {
		n.pool = len(local) - 1
		for i, t := range local {
			if t.Kind() == tiers.KindCXL {
				n.pool = i
				break
			}
		}
	}
	out = append(out, n.remote)
	return out, nil
}

// RemoteTier is the tier Tiers appended (the other nodes' pools).
func (n *Node) RemoteTier() *RemoteTier { return n.remote }

// RemoteLink is the link to put between the last local tier and the remote
// tier: write-through, so that an evicted artifact is demoted (or dropped)
// before its eviction returns, and never lingers as dirty bytes.
func RemoteLink() actors.LinkConfig {
	l := actors.DefaultLinkConfig()
	l.Policy = actors.WriteThrough
	return l
}

// Start listens for peers, creates the memberlist and joins cfg.Join.
// store is the engine built over Tiers' result.
func (n *Node) Start(store LocalStore) error {
	if n.local == nil {
		return fmt.Errorf("%w: Start before Tiers", ErrConfig)
	}
	if store == nil {
		return fmt.Errorf("%w: nil store", ErrConfig)
	}
	if !n.started.CompareAndSwap(false, true) {
		return ErrStarted
	}
	n.store = store
	if err := n.listen(); err != nil {
		return err
	}
	mc, err := n.cfg.memberlistConfig()
	if err != nil {
		_ = n.ln.Close()
		return err
	}
	g := &gossip{n: n}
	mc.Delegate, mc.Events = g, g
	mc.Logger = slog.NewLogLogger(n.log.Handler(), slog.LevelDebug)
	ml, err := memberlist.Create(mc)
	if err != nil {
		_ = n.ln.Close()
		return fmt.Errorf("cluster: start memberlist: %w", err)
	}
	n.ml = ml
	n.mlKeyring = mc.Keyring
	// LocalNode points into memberlist's state, which UpdateNode rewrites:
	// read it once, before anything else runs.
	local := ml.LocalNode()
	n.gossipAddr, n.gossipIP = local.Address(), local.Addr.String()
	n.fixAdvertise()
	n.startAt = time.Now() // before the goroutines that read it
	n.wg.Add(6)
	go func() {
		defer n.wg.Done()
		n.remote.drain()
	}()
	go n.snd.loop()
	go n.dirLoop()
	go n.worker()
	go n.metaLoop()
	go n.reconnectLoop()
	if len(n.cfg.Join) > 0 {
		// Nodes of a fleet start in any order: a seed that is not up yet
		// is retried every ReconnectInterval (for ReconnectTimeout) rather
		// than failing the node, as retry-join does elsewhere.
		// A seed that answered and refused us (a wrong gossip key, an
		// incompatible protocol) is a configuration error: fail at once.
		if _, err := ml.Join(n.cfg.Join); err != nil {
			if !unreachable(err) {
				return errors.Join(fmt.Errorf("cluster: join %v: %w", n.cfg.Join, err), n.Close())
			}
			n.log.Warn("join seeds unreachable; retrying in the background", slog.Any("seeds", n.cfg.Join), slog.Any("err", err))
			n.memMu.Lock()
			n.seeds = append([]string(nil), n.cfg.Join...)
			n.memMu.Unlock()
		}
	}
	return nil
}

// unreachable reports whether a failed join only failed to reach its
// seeds. memberlist formats each seed's error with %v, so the error types
// are lost and the text is all there is to classify.
func unreachable(err error) bool {
	if errors.Is(err, ErrUnreachable) {
		return true
	}
	msg := strings.ToLower(err.Error())
	// A seed name that does not resolve yet is not up yet either: the DNS
	// records of a Kubernetes StatefulSet's pods (headless Service) appear
	// only once the pods exist, and they all start together.
	for _, s := range []string{"dial ", "connection refused", "i/o timeout", "no route to host",
		"network is unreachable", "connection reset", "unreachable",
		"no such host", "server misbehaving", "temporary failure in name resolution"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// PendingSeeds lists the Join addresses not reached yet (empty once the
// node has joined through any of them).
func (n *Node) PendingSeeds() []string {
	n.memMu.RLock()
	defer n.memMu.RUnlock()
	return append([]string(nil), n.seeds...)
}

func (n *Node) listen() error {
	ln := n.cfg.PeerListener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", n.cfg.PeerAddr)
		if err != nil {
			return fmt.Errorf("cluster: peer listener: %w", err)
		}
	}
	if n.cfg.PeerTLS != nil {
		ln = tls.NewListener(ln, n.cfg.PeerTLS)
	}
	n.ln = ln
	a := n.cfg.PeerAdvertise
	if a == "" {
		a = ln.Addr().String()
	}
	n.advert.Store(&a)
	n.srv.wg.Add(1)
	go n.srv.serve(ln)
	return nil
}

// fixAdvertise replaces an unspecified peer host (0.0.0.0) by the address
// memberlist advertises.
func (n *Node) fixAdvertise() {
	host, port, err := net.SplitHostPort(*n.advert.Load())
	if err != nil {
		return
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
		return
	}
	a := net.JoinHostPort(n.gossipIP, port)
	n.advert.Store(&a)
}

// HandlePeer serves a peer connection accepted by someone else's listener
// (a node multiplexing peers on its native port hands them over after
// accepting). The connection's first frame must be OP_PEER_HELLO.
func (n *Node) HandlePeer(c net.Conn) {
	n.srv.handle(c)
}

// Name is the node's name; PeerAddr the address peers dial.
func (n *Node) Name() string { return n.cfg.NodeName }

// PeerAddr is the address peers dial ("" before Start).
func (n *Node) PeerAddr() string {
	if p := n.advert.Load(); p != nil {
		return *p
	}
	return ""
}

// GossipAddr is the memberlist address others join ("" before Start).
func (n *Node) GossipAddr() string {
	return n.gossipAddr
}

// Epoch is this incarnation's epoch.
func (n *Node) Epoch() uint64 { return n.cfg.Epoch }

// Directory is the node's ownership directory.
func (n *Node) Directory() *Directory { return n.dir }

// tick is this node's hybrid clock: unix nanoseconds, strictly increasing.
func (n *Node) tick() uint64 {
	for {
		last := n.clock.Load()
		now := max(uint64(time.Now().UnixNano()), last+1)
		if n.clock.CompareAndSwap(last, now) {
			return now
		}
	}
}

// Observe records a change of what this node holds and sends it to the
// artifact's directory replicas (queued: it never waits on the network).
// Cheap; safe from any goroutine.
func (n *Node) Observe(ev Event) {
	var buf [2 * maxReplicas]uint16
	var names [2 * maxReplicas]string
	h := ev.ID.Hash
	switch ev.Kind {
	case EventStored:
		cur := n.ring.Load()
		rec, reps, ok := n.holdings.stored(h, ev.Tier, n.tick, cur, n.cfg.DirectoryReplicas, buf[:0])
		if !ok {
			return // held already, in as fast a medium: nothing new to tell
		}
		dst := names[:0]
		for _, i := range reps {
			dst = append(dst, cur.names[i])
		}
		n.publish(rec, dst)
	case EventEvicted, EventDeleted:
		rec, reps, gen, ok := n.holdings.dropped(h, n.tick, buf[:0])
		if !ok {
			return
		}
		// To the replicas the record went to, and to the current ones
		// (they differ while a ring change is being handed off).
		dst := names[:0]
		if old := n.rings.get(gen); old != nil {
			for _, i := range reps {
				dst = append(dst, old.names[i])
			}
		}
		var now [maxReplicas]string
		for _, name := range n.replicasOf(now[:0], h) {
			if !slices.Contains(dst, name) {
				dst = append(dst, name)
			}
		}
		n.publish(rec, dst)
	}
}

// worker drops retired directory slots outside memberlist's callbacks.
func (n *Node) worker() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case <-n.workCh:
		}
		n.workMu.Lock()
		w := n.work
		n.work = nil
		n.workMu.Unlock()
		for _, slot := range w {
			n.dir.dropRetired(uint16(slot))
		}
	}
}

func (n *Node) retire(slot int) {
	if slot < 0 {
		return
	}
	n.workMu.Lock()
	n.work = append(n.work, slot)
	n.workMu.Unlock()
	select {
	case n.workCh <- struct{}{}:
	default:
	}
}

// metaLoop re-advertises free bytes and load when they change.
func (n *Node) metaLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.MetaInterval)
	defer t.Stop()
	var last []byte
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		m := n.selfMeta()
		b := appendMeta(nil, &m)
		if string(b) == string(last) {
			continue
		}
		last = b
		if err := n.ml.UpdateNode(n.cfg.MetaInterval); err != nil {
			n.log.Debug("meta update", slog.Any("err", err))
		}
	}
}

// Stats fills a snapshot of the node's counters.
func (n *Node) Stats() Stats {
	s := Stats{
		Members:          len(n.memberNames()),
		DirectoryEntries: n.dir.Len(),
		DirectoryEvicted: n.dir.Evictions(),
		Held:             n.holdings.len(),
		BroadcastsQueued: n.snd.pending(),
		DeltasSent:       n.snd.sent.Load(),
		DeltasReceived:   n.dstats.updatesServed.Load(),
		DeltasRelayed:    n.dstats.handoffs.Load(),
		DeltasBad:        n.peerStats.badRequests.Load(),
		RecordsSent:      n.snd.records.Load(),
		UpdatesDropped:   n.snd.dropped.Load(),
		UpdatesFailed:    n.snd.failed.Load(),
		Lookups:          n.dstats.lookups.Load(),
		LookupsServed:    n.dstats.lookupsServed.Load(),
		Digests:          n.dstats.digests.Load(),
		Repairs:          n.dstats.repairs.Load(),
		DirSyncs:         n.peerStats.dirSync.Load(),
		Remote:           n.remote.stats(),
		Peer:             n.peerStatsSnapshot(),
		Traffic:          n.traffic.snapshot(),
	}
	return s
}

func (n *Node) peerStatsSnapshot() PeerStats {
	c := &n.peerStats
	return PeerStats{
		Conns: c.conns.Load(), Refused: c.refused.Load(), Forbidden: c.forbidden.Load(),
		Fetches: c.fetches.Load(), FetchHits: c.fetchHits.Load(), FetchBytes: c.fetchBytes.Load(),
		Demotes: c.demotes.Load(), DemoteRefused: c.demoteRefused.Load(), DemoteBytes: c.demoteBytes.Load(),
		Stats: c.stats.Load(), Deletes: c.deletes.Load(), Prefetches: c.prefetches.Load(), DirSyncs: c.dirSync.Load(),
		BadRequests: c.badRequests.Load(),
		Subscribes:  c.subscribes.Load(), Resyncs: c.resyncs.Load(), Summaries: c.summaries.Load(),
		Streams: c.streams.Load(), StreamsOpen: uint64(max(c.streamsOpen.Load(), 0)), StreamsRefused: c.streamsRefused.Load(),
		StreamsStalled: c.streamsStalled.Load(), StreamFrames: c.streamFrames.Load(), StreamBufPeak: c.streamBufPeak.Load(),
	}
}

// Close leaves the cluster gracefully (peers drop this node's entries at
// once), stops the peer server and closes connections. It does not close
// the engine or the tiers (the engine owns them). Safe to call twice.
func (n *Node) Close() error { return n.shutdown(true) }

// shutdown with leave=false stops like a crash: peers find out by failure
// detection.
func (n *Node) shutdown(leave bool) error {
	n.closeOnce.Do(func() {
		var errs []error
		if n.ml != nil {
			if leave {
				// Leaving is best effort: a leave broadcast that is not
				// confirmed within LeaveTimeout (a loaded machine, no peer
				// left to tell) only means peers find out by failure
				// detection, so it is logged, not returned.
				if err := n.ml.Leave(n.cfg.LeaveTimeout); err != nil {
					n.log.Warn("leave not confirmed; peers will detect the departure", slog.Any("err", err))
				}
			}
			if err := n.ml.Shutdown(); err != nil {
				errs = append(errs, fmt.Errorf("cluster: memberlist shutdown: %w", err))
			}
		}
		close(n.stop)
		if n.ln != nil {
			if err := n.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, fmt.Errorf("cluster: close peer listener: %w", err))
			}
		}
		n.srv.close()
		n.peers.close()
		n.remote.down.Store(true)
		n.remote.cancel() // ends a demote on the wire
		n.wg.Wait()
		n.syncWG.Wait()
		n.srv.wg.Wait()
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}
