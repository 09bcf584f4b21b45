package cluster

import (
	"context"
	"net"
)

// Dialer opens peer connections; *net.Dialer is one. Fault-injecting
// dialers (MemNetwork.PeerDialer) wrap it in tests.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}
