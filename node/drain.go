package node

import (
	"context"
	"fmt"
)

// Drain prepares the node to stop without losing what write-back holds:
// it stops reporting ready (/readyz answers 503, so load balancers and
// Kubernetes Services stop sending new clients), then flushes every
// write-back link down the chain within ctx. The node keeps serving the
// connections it has; Shutdown follows (Kubernetes sends SIGTERM after
// the preStop hook that calls this). Readiness stays off: a drained node
// is on its way out.
func (n *Node) Drain(ctx context.Context) error {
	n.ready.Store(false)
	n.log.Info("draining: not ready any more; flushing write-back")
	if err := n.eng.Flush(ctx); err != nil {
		n.log.Warn("drain: write-back not fully flushed", "err", err)
		return fmt.Errorf("node: drain: %w", err)
	}
	n.log.Info("drained: write-back flushed")
	return nil
}
