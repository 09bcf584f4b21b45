//go:build !linux

package connserver

import "net"

// unacked is unknown off Linux: lingerClose then reads until the client
// closes or LingerTimeout.
func unacked(net.Conn) (int, bool) { return 0, false }
