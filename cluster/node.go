package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
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
	DirectoryEntries int
	DirectoryEvicted uint64
	BroadcastsQueued int
	DeltasSent       uint64
	DeltasReceived   uint64
	DeltasRelayed    uint64
	DeltasBad        uint64
	DirSyncs         uint64 // member snapshots fetched over the peer transport
	DirSyncFailures  uint64
	Remote           RemoteStats
	Peer             PeerStats
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
	queue                *memberlist.TransmitLimitedQueue
	peers                *peerPool
	srv                  *peerServer
	ln                   net.Listener
	advert               atomic.Pointer[string] // peer address others dial

	memMu   sync.RWMutex
	members map[string]Member
	failed  map[string]failedMember // dead (not left) members to rejoin

	pendMu  sync.Mutex
	pending []Record

	clock atomic.Uint64

	workMu sync.Mutex
	work   []int // retired directory slots to drop
	workCh chan struct{}

	peerDeletes sync.Map // hash -> struct{}: deletes on behalf of a peer
	peerStats   peerCounters
	deltas      struct{ sent, received, relayed, bad atomic.Uint64 }
	noBroadcast atomic.Bool // test seam: directory changes travel by push/pull only
	// testFetchHook, when set, runs before the peer server answers a fetch
	// (tests hold answers with it).
	testFetchHook atomic.Pointer[func()]

	dirSyncs  struct{ ok, failed atomic.Uint64 }
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
		stop:    make(chan struct{}),
	}
	n.dir.retireFn = n.retire
	n.peers = newPeerPool(&n.cfg)
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
	n.queue = &memberlist.TransmitLimitedQueue{NumNodes: g.numNodes, RetransmitMult: mc.RetransmitMult}
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
	n.wg.Add(3)
	go n.worker()
	go n.metaLoop()
	go n.reconnectLoop()
	if len(n.cfg.Join) > 0 {
		if _, err := ml.Join(n.cfg.Join); err != nil {
			return errors.Join(fmt.Errorf("cluster: join %v: %w", n.cfg.Join, err), n.Close())
		}
	}
	return nil
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

// Members lists the live members, this node included, sorted by name.
func (n *Node) Members() []Member {
	n.memMu.RLock()
	out := make([]Member, 0, len(n.members)+1)
	for _, m := range n.members {
		out = append(out, m)
	}
	n.memMu.RUnlock()
	out = append(out, Member{Name: n.cfg.NodeName, GossipAddr: n.GossipAddr(), Meta: n.selfMeta(), Self: true})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// peersSnapshot lists the live members other than this node.
func (n *Node) peersSnapshot() []Member {
	n.memMu.RLock()
	defer n.memMu.RUnlock()
	out := make([]Member, 0, len(n.members))
	for _, m := range n.members {
		out = append(out, m)
	}
	return out
}

func (n *Node) member(name string) (Member, bool) {
	n.memMu.RLock()
	m, ok := n.members[name]
	n.memMu.RUnlock()
	return m, ok
}

// memberNames lists live members' names, this node included.
func (n *Node) memberNames() []string {
	n.memMu.RLock()
	names := make([]string, 0, len(n.members)+1)
	for name := range n.members {
		names = append(names, name)
	}
	n.memMu.RUnlock()
	return append(names, n.cfg.NodeName)
}

// Home is the rendezvous home node of id among the live members.
func (n *Node) Home(id artifact.ID) string { return Home(id.Hash, n.memberNames()) }

// selfMeta is this node's metadata now.
func (n *Node) selfMeta() NodeMeta {
	m := NodeMeta{Epoch: n.cfg.Epoch, PeerAddr: n.PeerAddr(), Pool: n.pool}
	var s tiers.Stats
	for _, t := range n.local {
		t.Stats(&s)
		free := s.CapacityBytes - s.UsedBytes - s.PendingBytes
		m.Tiers = append(m.Tiers, TierUse{Name: t.Name(), Kind: t.Kind(), CapacityBytes: s.CapacityBytes, FreeBytes: max(free, 0)})
	}
	m.Load = uint32(max(n.remote.inflight.Load(), 0))
	return m
}

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

// Observe records a change of what this node holds and queues it for
// gossip. Cheap (a map update and an append); safe from any goroutine.
func (n *Node) Observe(ev Event) {
	h := ev.ID.Hash
	switch ev.Kind {
	case EventStored:
		if o, ok := n.dir.Lookup(h); ok && o.Node == n.cfg.NodeName {
			return // already ours (a promotion or a replace): nothing new to tell
		}
		v := n.tick()
		n.dir.Put(n.cfg.NodeName, n.cfg.Epoch, h, ev.Tier, v)
		n.enqueue(Record{Hash: h, Kind: ev.Tier, Ver: v})
	case EventEvicted, EventDeleted:
		v := n.tick()
		if n.dir.Delete(n.cfg.NodeName, n.cfg.Epoch, h, v) {
			n.enqueue(Record{Hash: h, Ver: v, Del: true})
		}
	}
}

// maxPending bounds own changes waiting for the next gossip round; beyond
// it the oldest are dropped (push/pull snapshots carry them).
const maxPending = 1 << 16

func (n *Node) enqueue(r Record) {
	n.pendMu.Lock()
	if len(n.pending) >= maxPending {
		n.pending = n.pending[:copy(n.pending, n.pending[len(n.pending)/2:])]
	}
	n.pending = append(n.pending, r)
	n.pendMu.Unlock()
}

// heldLocally reports whether a local tier holds id.
func (n *Node) heldLocally(id artifact.ID) bool {
	for _, t := range n.local {
		if t.Tier.Contains(id) {
			return true
		}
	}
	return false
}

// localView finds id in the local tiers (not the remote one).
func (n *Node) localView(id artifact.ID) (tiers.View, string, error) {
	for _, t := range n.local {
		v, err := t.Tier.View(id)
		if err == nil {
			return v, t.Name(), nil
		}
		if errors.Is(err, tiers.ErrCollision) || errors.Is(err, tiers.ErrClosed) {
			return nil, "", err
		}
	}
	return nil, "", tiers.ErrNotFound
}

func (n *Node) localStat(id artifact.ID) (artifact.Meta, string, error) {
	for _, t := range n.local {
		m, err := t.Tier.Stat(id)
		if err == nil {
			return m, t.Name(), nil
		}
		if errors.Is(err, tiers.ErrCollision) || errors.Is(err, tiers.ErrClosed) {
			return m, "", err
		}
	}
	return artifact.Meta{}, "", tiers.ErrNotFound
}

func (n *Node) poolTier() tiers.Tier {
	if n.pool < 0 || n.pool >= len(n.local) {
		return nil
	}
	return n.local[n.pool]
}

func (n *Node) poolFree() int64 {
	t := n.poolTier()
	if t == nil {
		return 0
	}
	var s tiers.Stats
	t.Stats(&s)
	return s.CapacityBytes - s.UsedBytes - s.PendingBytes
}

// deleteForPeer deletes id locally; the remote tier does not forward it
// back.
func (n *Node) deleteForPeer(ctx context.Context, id artifact.ID) (bool, error) {
	n.peerDeletes.Store(id.Hash, struct{}{})
	defer n.peerDeletes.Delete(id.Hash)
	return n.store.Delete(ctx, id)
}

// warm copies id from a lower local tier into the top one (prefetch).
func (n *Node) warm(ctx context.Context, id artifact.ID) bool {
	if n.local[0].Tier.Contains(id) {
		return true
	}
	v, _, err := n.localView(id)
	if err != nil {
		return false
	}
	defer v.Release()
	err = n.store.Store(ctx, id.Clone(), v.Bytes(), actors.StoreOptions{Access: actors.Exact(n.local[0].Name()), Meta: v.Meta()})
	return err == nil
}

// ownSnapshot appends an authoritative snapshot delta of this node's own
// entries (or, when it would exceed maxBytes, a plain delta of the first
// that fit).
func (n *Node) ownSnapshot(dst []byte, maxBytes int) []byte {
	var out []byte
	asOf := n.tick()
	n.dir.ownerRecords(func(name string) bool { return name == n.cfg.NodeName }, func(name string, epoch uint64, recs []Record) {
		dl := Delta{Owner: name, Epoch: epoch, Snapshot: true, AsOf: asOf, Records: recs}
		if len(recs)*maxRecordBytes > maxBytes {
			dl.Snapshot = false
			dl.Records = recs[:maxBytes/maxRecordBytes]
		}
		out = appendDelta(dst, &dl)
	})
	return out
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

// metaLoop re-advertises free bytes and load when they change, and sweeps
// old tombstones.
func (n *Node) metaLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.MetaInterval)
	defer t.Stop()
	var last []byte
	lastSweep := time.Now()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if now := time.Now(); now.Sub(lastSweep) >= n.cfg.TombstoneTTL/2 {
			lastSweep = now
			n.dir.SweepTombstones(uint64(now.Add(-n.cfg.TombstoneTTL).UnixNano()))
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
		DeltasSent:       n.deltas.sent.Load(),
		DeltasReceived:   n.deltas.received.Load(),
		DeltasRelayed:    n.deltas.relayed.Load(),
		DeltasBad:        n.deltas.bad.Load(),
		DirSyncs:         n.dirSyncs.ok.Load(),
		DirSyncFailures:  n.dirSyncs.failed.Load(),
		Remote:           n.remote.stats(),
		Peer:             n.peerStatsSnapshot(),
	}
	if n.queue != nil {
		s.BroadcastsQueued = n.queue.NumQueued()
	}
	return s
}

func (n *Node) peerStatsSnapshot() PeerStats {
	c := &n.peerStats
	return PeerStats{
		Conns: c.conns.Load(), Refused: c.refused.Load(),
		Fetches: c.fetches.Load(), FetchHits: c.fetchHits.Load(), FetchBytes: c.fetchBytes.Load(),
		Demotes: c.demotes.Load(), DemoteRefused: c.demoteRefused.Load(), DemoteBytes: c.demoteBytes.Load(),
		Stats: c.stats.Load(), Deletes: c.deletes.Load(), Prefetches: c.prefetches.Load(), DirSyncs: c.dirSync.Load(),
		BadRequests: c.badRequests.Load(),
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
				if err := n.ml.Leave(n.cfg.LeaveTimeout); err != nil {
					errs = append(errs, fmt.Errorf("cluster: leave: %w", err))
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
		n.remote.closed.Store(true)
		n.wg.Wait()
		n.syncWG.Wait()
		n.srv.wg.Wait()
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// claimFree lowers a peer's advertised free pool bytes after a demote into
// it, until its next metadata update, so that a burst of demotions does
// not all pick the same peer from the same stale figure.
func (n *Node) claimFree(name string, size int64) {
	n.memMu.Lock()
	defer n.memMu.Unlock()
	m, ok := n.members[name]
	if !ok || m.Meta.Pool < 0 || m.Meta.Pool >= len(m.Meta.Tiers) {
		return
	}
	t := append([]TierUse(nil), m.Meta.Tiers...)
	t[m.Meta.Pool].FreeBytes = max(t[m.Meta.Pool].FreeBytes-size, 0)
	m.Meta.Tiers = t
	n.members[name] = m
}

// failedMember is a member declared dead, retried by reconnectLoop.
type failedMember struct {
	addr  string
	since time.Time
}

// reconnectLoop rejoins failed members: after a partition heals, each side
// has declared the other dead and memberlist would never merge them again
// (it neither probes nor pushes/pulls with dead nodes).
func (n *Node) reconnectLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.ReconnectInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		var addrs []string
		n.memMu.Lock()
		for name, f := range n.failed {
			if time.Since(f.since) > n.cfg.ReconnectTimeout {
				delete(n.failed, name)
				continue
			}
			addrs = append(addrs, f.addr)
		}
		n.memMu.Unlock()
		for _, a := range addrs {
			select {
			case <-n.stop:
				return
			default:
			}
			// A dial to a dead address can take memberlist's TCPTimeout;
			// Close does not wait for it.
			done := make(chan struct{})
			go func(a string) {
				defer close(done)
				if _, err := n.ml.Join([]string{a}); err != nil {
					n.log.Debug("rejoin failed member", slog.String("addr", a), slog.Any("err", err))
				}
			}(a)
			select {
			case <-done:
			case <-n.stop:
				return
			}
		}
	}
}

// Keyring is memberlist's keyring when gossip is encrypted (nil otherwise):
// AddKey, UseKey and RemoveKey rotate the key of a running node
// (docs/cluster.md).
func (n *Node) Keyring() *memberlist.Keyring {
	if n.ml == nil {
		return nil
	}
	return n.mlKeyring
}

// syncFrom fetches a member's own entries (OP_PEER_DIR_SYNC) in the
// background and applies them as an authoritative snapshot. It runs when a
// member appears or comes back, because deltas about it were refused while
// it was unknown or dead and gossip will not resend them.
func (n *Node) syncFrom(name, addr string) {
	if addr == "" {
		return
	}
	select {
	case <-n.stop:
		return
	default:
	}
	n.syncWG.Add(1)
	go func() {
		defer n.syncWG.Done()
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.DemoteTimeout)
		defer cancel()
		go func() {
			select {
			case <-n.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		b, err := n.peers.dirSync(ctx, addr)
		if err != nil {
			n.dirSyncs.failed.Add(1)
			n.log.Debug("directory sync", slog.String("member", name), slog.Any("err", err))
			return
		}
		var dl Delta
		if err := decodeDelta(b, &dl); err != nil || dl.Owner != name {
			n.dirSyncs.failed.Add(1)
			return
		}
		n.dir.apply(&dl)
		n.dirSyncs.ok.Add(1)
	}()
}
