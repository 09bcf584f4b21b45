package embedded

import (
	"github.com/stratacache/stratacache/clientsdk"
	"github.com/stratacache/stratacache/node"
)

// A node in this process is a clientsdk backend.
var _ clientsdk.Embedded = (*node.Node)(nil)

// NewClient returns a client served by n in this process.
func NewClient(n *node.Node, opts ...clientsdk.Option) (*clientsdk.Client, error) {
	return clientsdk.New(append([]clientsdk.Option{clientsdk.WithEmbedded(n)}, opts...)...)
}
