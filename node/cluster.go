package node

import (
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/cluster"
)

// Default cluster addresses: loopback, like every other port of the node.
const (
	DefaultGossipAddr = "127.0.0.1:7946"
	DefaultPeerAddr   = "127.0.0.1:7947"
)

// ClusterSettings maps the cluster section of cfg to a cluster.Config.
func ClusterSettings(cfg Config, log *slog.Logger) (cluster.Config, error) {
	c := cfg.Cluster
	bind, peer := c.Bind, c.Peer
	if bind == "" {
		bind = DefaultGossipAddr
	}
	if peer == "" {
		peer = DefaultPeerAddr
	}
	name := c.Name
	if name == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "stratacache"
		}
		_, port, _ := net.SplitHostPort(peer)
		name = host + "-" + port
	}
	var cc cluster.Config
	if c.Preset == "local" {
		cc = cluster.DefaultLocalConfig(name)
	} else {
		cc = cluster.DefaultLANConfig(name)
	}
	cc.GossipAddr = bind
	cc.Join = append([]string(nil), c.Join...)
	keys, err := cluster.ParseGossipKeys(c.GossipKey)
	if err != nil {
		return cc, fmt.Errorf("%w: cluster.gossip_key: %w", ErrConfig, err)
	}
	cc.GossipKeys = keys
	cc.PeerAddr = peer
	// Each token maps to its own role, never to another's: auth.token is
	// the client role on the peer port, not the peer role (Validate
	// refuses a clustered node that has it without auth.peer_token).
	a := cfg.Auth
	if a.PeerToken != "" {
		cc.PeerToken = []byte(a.PeerToken)
	}
	if a.Token != "" {
		cc.ClientToken = []byte(a.Token)
	}
	if a.SubscriberToken != "" {
		cc.SubscriberToken = []byte(a.SubscriberToken)
	}
	if err := cc.Validate(); err != nil {
		return cc, fmt.Errorf("%w: auth: %w", ErrConfig, err)
	}
	cc.MaxArtifactBytes = cfg.Limits.MaxPayloadMB << 20
	cc.Logger = log // the cluster tags its lines with component=cluster itself
	return cc, nil
}

// BuildClustered assembles a clustered node's engine (docs/cluster.md): the
// local tiers wrapped by the cluster so that stores, deletes and evictions
// reach the ownership directory, the remote tier appended as the chain's
// last tier, and the cluster started (peer server, gossip, join) around the
// engine. The caller owns both: close the cluster first, then the engine.
func BuildClustered(cfg Config, cc cluster.Config, log *slog.Logger) (*actors.Engine, *cluster.Node, error) {
	eng, cn, _, err := buildClustered(cfg, cc, log, nil)
	return eng, cn, err
}

// buildClustered is BuildClustered with the local tiers reporting to feed
// (KV event publishing; nil: none); it also returns the CXL pool a
// co-located client may attach to (nil: none).
func buildClustered(cfg Config, cc cluster.Config, log *slog.Logger, feed *eventFeed) (*actors.Engine, *cluster.Node, *poolAttach, error) {
	local, links, err := BuildTiers(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	pa := newPoolAttach(cfg, local)
	local = wrapForEvents(local, feed)
	closeLocal := func() {
		for _, t := range local {
			_ = t.Close()
		}
	}
	cn, err := cluster.New(cc)
	if err != nil {
		closeLocal()
		return nil, nil, nil, fmt.Errorf("node: cluster: %w", err)
	}
	chain, err := cn.Tiers(local)
	if err != nil {
		_ = cn.Close()
		closeLocal()
		return nil, nil, nil, fmt.Errorf("node: cluster tiers: %w", err)
	}
	links = append(links, cluster.RemoteLink())
	eng, err := actors.NewEngine(engineConfig(cfg, chain, links, log))
	if err != nil { // NewEngine closed the tiers
		_ = cn.Close()
		return nil, nil, nil, err
	}
	if err := cn.Start(eng); err != nil {
		_ = cn.Close()
		_ = eng.Close()
		return nil, nil, nil, fmt.Errorf("node: start cluster: %w", err)
	}
	return eng, cn, pa, nil
}
