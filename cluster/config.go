package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config configures a cluster node. DefaultLocalConfig and DefaultLANConfig
// fill every field; a zero field left by hand gets its LAN default from
// EnsureDefaults.
type Config struct {
	// NodeName is the node's unique id in the cluster (memberlist name).
	NodeName string
	// Epoch is this incarnation; entries of an older epoch of the same name
	// are dropped everywhere. Zero: the start time in unix nanoseconds.
	Epoch uint64

	// GossipAddr is host:port memberlist binds (UDP and TCP); port 0 picks
	// one. Ignored when Transport is set.
	GossipAddr string
	// Transport replaces memberlist's network transport (MemNetwork in
	// tests).
	Transport memberlist.NodeAwareTransport
	// Join lists host:port of existing members; empty starts a new cluster.
	Join []string
	// GossipKeys encrypt gossip (16, 24 or 32 bytes each, AES). The first
	// encrypts; all decrypt, which is how a key is rotated (docs/cluster.md).
	// Empty: gossip is not encrypted.
	GossipKeys [][]byte
	// Preset is "local" or "lan": memberlist's DefaultLocalConfig or
	// DefaultLANConfig, with RetransmitMult raised (see RetransmitMult).
	Preset string
	// RetransmitMult: each node sends each broadcast RetransmitMult x
	// ceil(log10(N+1)) times. Every node re-sends what is new to it, so a
	// node misses a delta with probability about (1-1/(N-1))^(N x limit):
	// at 16 nodes, 1.4e-4 with 4 (one miss per run of 1,000 entries seen
	// here) and 2e-6 with 6. Push/pull repairs misses. Default 6.
	RetransmitMult int
	// ProbeInterval, ProbeTimeout, SuspicionMult, GossipInterval and
	// PushPullInterval override the preset when non-zero (tests shorten
	// failure detection with them).
	ProbeInterval    time.Duration
	ProbeTimeout     time.Duration
	SuspicionMult    int
	GossipInterval   time.Duration
	PushPullInterval time.Duration
	// StreamTimeout overrides memberlist's TCPTimeout (joins, push/pull).
	StreamTimeout time.Duration

	// PeerAddr is host:port the peer server listens on (port 0 picks one).
	PeerAddr string
	// PeerAdvertise is the address other nodes dial (default: the
	// listener's address).
	PeerAdvertise string
	// PeerListener, when set, is used instead of listening on PeerAddr.
	PeerListener net.Listener
	// Dialer opens peer connections (default net.Dialer); fault-injecting
	// dialers plug in here.
	Dialer Dialer
	// PeerToken authenticates other nodes (RolePeer: every peer op,
	// including demote, delete and directory writes): a node presents it
	// in its OP_PEER_HELLO. Empty: any connection is accepted as a peer
	// (loopback only).
	PeerToken []byte
	// ClientToken, when set, is accepted from clients on the peer port
	// with RoleClient (fetch, stat, prefetch, directory views; never
	// demote, delete or directory writes), so that a client never needs
	// PeerToken. It must differ from PeerToken.
	ClientToken []byte
	// SubscriberToken, when set, is accepted with RoleSubscriber
	// (read-only: directory snapshots, change streams, summaries). It must
	// differ from the other two.
	SubscriberToken []byte
	// PeerTLS, when set, wraps peer connections in TLS: the listener serves
	// with it and the dialer verifies peers with it (RootCAs, ServerName
	// or a VerifyPeerCertificate of the cluster's own). For mutual TLS set
	// Certificates, ClientCAs and ClientAuth: tls.RequireAndVerifyClientCert;
	// the same config then authenticates both ends. The token is still
	// checked when set.
	PeerTLS *tls.Config
	// FetchTimeout bounds one remote read or stat; past it the read is a
	// miss.
	FetchTimeout time.Duration
	// DemoteTimeout bounds one demote into a peer's pool (sent from the
	// demote queue: no writer waits for it).
	DemoteTimeout time.Duration
	// DemoteQueueLen and DemoteQueueBytes bound the victims of the last
	// local tier waiting to be demoted to a peer. A victim that does not
	// fit is dropped (evicted): the writer never waits on the network.
	DemoteQueueLen   int
	DemoteQueueBytes int64
	// SkipFetchChecksum trusts fetched payloads without hashing them. The
	// default verifies every fetch against the sender's xxhash64 (a
	// mismatch is a miss); the hash overlaps the read but still costs CPU
	// (docs/cluster.md has both figures).
	SkipFetchChecksum bool
	// MaxIdleConns is the pool of idle connections kept per peer.
	MaxIdleConns int
	// MaxArtifactBytes refuses larger payloads from peers.
	MaxArtifactBytes int64

	// PoolTier names the local tier peers demote into (default: the first
	// tier of kind CXL, else the last local tier).
	PoolTier string
	// DirectoryReplicas is R: an artifact's directory entry lives on the
	// first R live members of its rendezvous order (1 allowed). Default 3.
	DirectoryReplicas int
	// AntiEntropyInterval is how often a node sends each directory replica
	// the digest of its records there (and repairs what differs).
	AntiEntropyInterval time.Duration
	// HandoffRate bounds the records a node re-sends per second when a
	// membership change gives its records new replicas.
	HandoffRate int
	// DirectoryMaxEntries caps the ownership directory (DirectoryBytes per
	// entry, approximately; see Directory).
	DirectoryMaxEntries int
	// LeaveTimeout bounds Close's wait for its leave message to go out.
	LeaveTimeout time.Duration
	// ReconnectInterval is how often the node tries to rejoin members that
	// went away: memberlist alone never merges the two sides of a healed
	// partition once each has declared the other dead.
	ReconnectInterval time.Duration
	// ReconnectTimeout is how long a failed member is retried.
	ReconnectTimeout time.Duration
	// TombstoneTTL is no longer used: a holder's tombstone leaves a replica
	// when the holder's digest, as of a version past it, agrees (versions
	// decide, not a timer). Kept so that configurations still parse.
	TombstoneTTL time.Duration
	// MetaInterval is how often the node re-advertises its free bytes and
	// load when they changed.
	MetaInterval time.Duration
	// BroadcastQueueMax bounds queued directory deltas; beyond it the most
	// transmitted are dropped (push/pull repairs what they carried).
	BroadcastQueueMax int

	// FeedLogLen is how many of its own holding changes the node keeps for
	// schedulers that poll its change feed (OP_PEER_SUBSCRIBE, ~24 bytes
	// each); one further behind gets the whole holding set (a resync).
	FeedLogLen int
	// FeedStreams bounds the held-open change streams a node serves at
	// once (OP_PEER_SUBSCRIBE with attrs["stream"]); one more is refused.
	// A stream holds no queue of its own, only its place in the shared
	// log and one batch being written (docs/cluster.md, "Schedulers").
	FeedStreams int
	// FeedKeepAlive: a stream with nothing to send sends an empty frame
	// this often, so that the subscriber tells an idle node from a dead
	// one by its read deadline.
	FeedKeepAlive time.Duration
	// FeedWriteTimeout bounds each frame's write to a subscriber: one that
	// does not read for this long loses its stream (it reconnects, and
	// gets a resync if the log moved past it meanwhile).
	FeedWriteTimeout time.Duration

	// Logger receives cluster logs; nil discards them.
	Logger *slog.Logger
}

// Errors of configuration and lifecycle.
var (
	ErrConfig  = errors.New("cluster: bad config")
	ErrClosed  = errors.New("cluster: closed")
	ErrStarted = errors.New("cluster: already started")
)

// DefaultLANConfig is for nodes on one network: memberlist's LAN timings
// (dead-node detection in ~5-10 s), gossip every 200 ms, push/pull every
// 30 s.
func DefaultLANConfig(name string) Config {
	return Config{
		NodeName:            name,
		GossipAddr:          "0.0.0.0:7946",
		Preset:              "lan",
		RetransmitMult:      6,
		PeerAddr:            "0.0.0.0:7947",
		FetchTimeout:        2 * time.Second,
		DemoteTimeout:       5 * time.Second,
		DemoteQueueLen:      256,
		DemoteQueueBytes:    512 << 20,
		MaxIdleConns:        4,
		MaxArtifactBytes:    64 << 20,
		DirectoryMaxEntries: 4 << 20,
		DirectoryReplicas:   3,
		AntiEntropyInterval: 10 * time.Second,
		HandoffRate:         200_000,
		MetaInterval:        2 * time.Second,
		TombstoneTTL:        30 * time.Second,
		ReconnectInterval:   10 * time.Second,
		LeaveTimeout:        2 * time.Second,
		ReconnectTimeout:    time.Hour,
		BroadcastQueueMax:   4096,
		FeedLogLen:          1 << 16,
		FeedStreams:         256,
		FeedKeepAlive:       5 * time.Second,
		FeedWriteTimeout:    10 * time.Second,
	}
}

// DefaultLocalConfig is for nodes on one host (local-cluster, tests):
// loopback addresses with ports picked by the kernel, memberlist's local
// timings with 16 KiB gossip packets (loopback only), 500 ms remote-read
// timeout.
func DefaultLocalConfig(name string) Config {
	c := DefaultLANConfig(name)
	c.GossipAddr = "127.0.0.1:0"
	c.PeerAddr = "127.0.0.1:0"
	c.Preset = "local"
	c.FetchTimeout = 500 * time.Millisecond
	c.DemoteTimeout = 2 * time.Second
	c.DemoteQueueBytes = 128 << 20
	c.DirectoryMaxEntries = 1 << 20
	c.MetaInterval = 200 * time.Millisecond
	c.AntiEntropyInterval = time.Second
	c.ReconnectInterval = time.Second
	c.LeaveTimeout = 500 * time.Millisecond
	c.ReconnectTimeout = 10 * time.Minute
	return c
}

// EnsureDefaults fills zero fields from DefaultLANConfig.
func (c *Config) EnsureDefaults() {
	d := DefaultLANConfig(c.NodeName)
	if c.Preset == "" {
		c.Preset = d.Preset
	}
	if c.RetransmitMult == 0 {
		c.RetransmitMult = d.RetransmitMult
	}
	if c.GossipAddr == "" {
		c.GossipAddr = d.GossipAddr
	}
	if c.PeerAddr == "" && c.PeerListener == nil {
		c.PeerAddr = d.PeerAddr
	}
	if c.Epoch == 0 {
		c.Epoch = uint64(time.Now().UnixNano())
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = d.FetchTimeout
	}
	if c.DemoteTimeout == 0 {
		c.DemoteTimeout = d.DemoteTimeout
	}
	if c.DemoteQueueLen == 0 {
		c.DemoteQueueLen = d.DemoteQueueLen
	}
	if c.DemoteQueueBytes == 0 {
		c.DemoteQueueBytes = d.DemoteQueueBytes
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = d.MaxIdleConns
	}
	if c.MaxArtifactBytes == 0 {
		c.MaxArtifactBytes = d.MaxArtifactBytes
	}
	if c.DirectoryMaxEntries == 0 {
		c.DirectoryMaxEntries = d.DirectoryMaxEntries
	}
	if c.MetaInterval == 0 {
		c.MetaInterval = d.MetaInterval
	}
	if c.DirectoryReplicas == 0 {
		c.DirectoryReplicas = d.DirectoryReplicas
	}
	if c.AntiEntropyInterval == 0 {
		c.AntiEntropyInterval = d.AntiEntropyInterval
	}
	if c.HandoffRate == 0 {
		c.HandoffRate = d.HandoffRate
	}
	if c.TombstoneTTL == 0 {
		c.TombstoneTTL = d.TombstoneTTL
	}
	if c.LeaveTimeout == 0 {
		c.LeaveTimeout = d.LeaveTimeout
	}
	if c.ReconnectInterval == 0 {
		c.ReconnectInterval = d.ReconnectInterval
	}
	if c.ReconnectTimeout == 0 {
		c.ReconnectTimeout = d.ReconnectTimeout
	}
	if c.BroadcastQueueMax == 0 {
		c.BroadcastQueueMax = d.BroadcastQueueMax
	}
	if c.FeedLogLen == 0 {
		c.FeedLogLen = d.FeedLogLen
	}
	if c.FeedStreams == 0 {
		c.FeedStreams = d.FeedStreams
	}
	if c.FeedKeepAlive == 0 {
		c.FeedKeepAlive = d.FeedKeepAlive
	}
	if c.FeedWriteTimeout == 0 {
		c.FeedWriteTimeout = d.FeedWriteTimeout
	}
	if c.Dialer == nil {
		c.Dialer = &net.Dialer{}
	}
}

// Validate reports every problem at once, each wrapping ErrConfig.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...))
	}
	if c.NodeName == "" {
		bad("empty node name")
	}
	if len(c.NodeName) > maxNameLen {
		bad("node name longer than %d bytes", maxNameLen)
	}
	if c.Preset != "local" && c.Preset != "lan" {
		bad("preset %q (want local or lan)", c.Preset)
	}
	for i, k := range c.GossipKeys {
		if n := len(k); n != 16 && n != 24 && n != 32 {
			bad("gossip key %d is %d bytes (want 16, 24 or 32)", i, n)
		}
	}
	if c.FetchTimeout < 0 || c.DemoteTimeout < 0 || c.MetaInterval < 0 || c.TombstoneTTL < 0 || c.ReconnectInterval < 0 || c.ReconnectTimeout < 0 || c.LeaveTimeout < 0 {
		bad("negative timeout")
	}
	if len(c.PeerToken) > 0 && (string(c.ClientToken) == string(c.PeerToken) || string(c.SubscriberToken) == string(c.PeerToken)) {
		bad("the client or subscriber token equals the peer token (roles must not share a credential)")
	}
	if len(c.ClientToken) > 0 && string(c.ClientToken) == string(c.SubscriberToken) {
		bad("the subscriber token equals the client token")
	}
	if (len(c.ClientToken) > 0 || len(c.SubscriberToken) > 0) && len(c.PeerToken) == 0 {
		bad("a client or subscriber token without a peer token (the peer port would be open to every role)")
	}
	if c.DirectoryReplicas < 0 || c.DirectoryReplicas > 8 {
		bad("directory replicas %d (want 1 to 8)", c.DirectoryReplicas)
	}
	if c.AntiEntropyInterval < 0 || c.HandoffRate < 0 {
		bad("negative anti-entropy interval or handoff rate")
	}
	if c.DirectoryMaxEntries < 0 || c.RetransmitMult < 0 || c.MaxIdleConns < 0 || c.BroadcastQueueMax < 0 || c.MaxArtifactBytes < 0 ||
		c.DemoteQueueLen < 0 || c.DemoteQueueBytes < 0 || c.FeedLogLen < 0 ||
		c.FeedStreams < 0 || c.FeedKeepAlive < 0 || c.FeedWriteTimeout < 0 {
		bad("negative bound")
	}
	return errors.Join(errs...)
}

// memberlistConfig builds memberlist's configuration from the preset.
func (c *Config) memberlistConfig() (*memberlist.Config, error) {
	var mc *memberlist.Config
	if c.Preset == "local" {
		mc = memberlist.DefaultLocalConfig()
		// Loopback carries 64 KiB datagrams: bigger gossip packets let a
		// burst of directory deltas through without queueing (with 1,400
		// bytes, 500 stores/s over 16 nodes queued for seconds).
		mc.UDPBufferSize = 16 << 10
		// Nothing to save on loopback, and LZW costs: compressPayload
		// (a new lzw.Writer per packet) took 10% of the CPU of a 64-node
		// bench fleet in one process.
		mc.EnableCompression = false
	} else {
		mc = memberlist.DefaultLANConfig()
	}
	mc.Name = c.NodeName
	// Measured here (DESIGN.md): with memberlist's multiplier (2) a
	// broadcast sometimes reached the last node only by push/pull, 15-40 s
	// later.
	mc.RetransmitMult = c.RetransmitMult
	if c.ProbeInterval > 0 {
		mc.ProbeInterval = c.ProbeInterval
	}
	if c.ProbeTimeout > 0 {
		mc.ProbeTimeout = c.ProbeTimeout
	}
	if c.SuspicionMult > 0 {
		mc.SuspicionMult = c.SuspicionMult
	}
	if c.GossipInterval > 0 {
		mc.GossipInterval = c.GossipInterval
	}
	if c.PushPullInterval > 0 {
		mc.PushPullInterval = c.PushPullInterval
	}
	if c.StreamTimeout > 0 {
		mc.TCPTimeout = c.StreamTimeout
	}
	if c.Transport != nil {
		mc.Transport = c.Transport
	} else {
		host, port, err := net.SplitHostPort(c.GossipAddr)
		if err != nil {
			return nil, fmt.Errorf("%w: gossip addr %q: %v", ErrConfig, c.GossipAddr, err)
		}
		var p int
		if _, err := fmt.Sscan(port, &p); err != nil {
			return nil, fmt.Errorf("%w: gossip port %q: %v", ErrConfig, port, err)
		}
		mc.BindAddr, mc.BindPort = host, p
		mc.AdvertisePort = p
	}
	if len(c.GossipKeys) > 0 {
		kr, err := memberlist.NewKeyring(c.GossipKeys, c.GossipKeys[0])
		if err != nil {
			return nil, fmt.Errorf("%w: gossip keys: %v", ErrConfig, err)
		}
		mc.Keyring = kr
		mc.GossipVerifyIncoming = true
		mc.GossipVerifyOutgoing = true
	}
	return mc, nil
}
