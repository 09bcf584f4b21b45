package cluster

import (
	"github.com/stratacache/stratacache/messages"
)

// Role is what a peer connection may do, decided by the token its
// OP_PEER_HELLO presented (docs/cluster.md, "Credentials").
type Role uint8

// Roles, from the most to the least trusted.
const (
	// RolePeer: another node (Config.PeerToken): every peer op, including
	// demotes, deletes, handoff and directory writes.
	RolePeer Role = iota + 1
	// RoleClient: a client of the data (Config.ClientToken, the node's
	// auth.token): reads (fetch, stat), prefetch, and what a subscriber
	// may do. Never demote, delete or write the directory.
	RoleClient
	// RoleSubscriber: a read-only follower of what nodes hold
	// (Config.SubscriberToken): directory snapshots, change streams and
	// summaries; no payloads.
	RoleSubscriber
)

// String names the role.
func (r Role) String() string {
	switch r {
	case RolePeer:
		return "peer"
	case RoleClient:
		return "client"
	case RoleSubscriber:
		return "subscriber"
	}
	return "none"
}

// roleOf maps a hello's token to its role (0: refused). Without a
// PeerToken the transport is open (loopback only): every connection is a
// peer. The tokens are compared in constant time, each of them, so that
// the time taken does not say which one nearly matched.
func roleOf(cfg *Config, token []byte) Role {
	if len(cfg.PeerToken) == 0 {
		return RolePeer
	}
	peer := tokenOK(cfg.PeerToken, token)
	client := len(cfg.ClientToken) > 0 && tokenOK(cfg.ClientToken, token)
	sub := len(cfg.SubscriberToken) > 0 && tokenOK(cfg.SubscriberToken, token)
	switch {
	case peer:
		return RolePeer
	case client:
		return RoleClient
	case sub:
		return RoleSubscriber
	}
	return 0
}

// allowed reports whether role may ask for op. Ops not listed here are
// peer-only, so that an op added later is closed to clients until it is
// opened on purpose.
func allowed(role Role, op messages.Op) bool {
	switch role {
	case RolePeer:
		return true
	case RoleClient:
		switch op {
		case messages.Op_OP_PEER_FETCH, messages.Op_OP_PEER_STAT, messages.Op_OP_PEER_PREFETCH:
			return true
		}
		return subscriberOp(op)
	case RoleSubscriber:
		return subscriberOp(op)
	}
	return false
}

// subscriberOp: the read-only views of what a node holds.
func subscriberOp(op messages.Op) bool {
	switch op {
	case messages.Op_OP_PEER_DIR_SYNC, messages.Op_OP_PEER_SUBSCRIBE, messages.Op_OP_PEER_SUMMARY:
		return true
	}
	return false
}
