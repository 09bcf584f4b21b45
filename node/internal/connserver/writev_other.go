//go:build !linux

package connserver

import "net"

// writevState is empty where writev goes through net.Buffers.
type writevState struct{}

// writev writes the pieces whole (net.Buffers: writev where the platform
// has it).
func (c *Conn) writev(pieces [][]byte) error {
	bufs := net.Buffers(pieces)
	_, err := bufs.WriteTo(c.Conn)
	return err
}
