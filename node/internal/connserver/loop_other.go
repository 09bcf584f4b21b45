//go:build !linux

package connserver

import (
	"errors"
	"net"
)

// ErrWouldBlock is what a connection on an event loop returns from Read
// when no input is ready; there are no event loops off Linux.
var ErrWouldBlock = errors.New("connserver: no input ready (event loop)")

type loop struct{}

type fdConn struct{ net.Conn }

func (f *fdConn) writev([][]byte) error { return nil }
func (f *fdConn) closeFd()              {}

func (s *Server) startLoops() []*loop             { return nil }
func (s *Server) wakeLoops()                      {}
func (s *Server) adopt(net.Conn) (*fdConn, bool)  { return nil, false }
func (s *Server) enqueue(*Conn, *fdConn, Session) {}
