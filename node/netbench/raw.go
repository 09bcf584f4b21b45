package netbench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
)

// RawServer is the loopback ceiling: a TCP server that does no work but
// move the bytes a cache would. A request is 9 bytes: 'S' or 'G' and a
// uint64 size. For 'S' the client then sends size bytes and gets one byte
// back; for 'G' the server sends size bytes from a prepared buffer.
type RawServer struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn map[net.Conn]struct{}
	data []byte
}

// NewRawServer listens on addr and serves values up to maxSize bytes.
func NewRawServer(addr string, maxSize int) (*RawServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &RawServer{ln: ln, conn: map[net.Conn]struct{}{}, data: make([]byte, maxSize)}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the listening address.
func (s *RawServer) Addr() string { return s.ln.Addr().String() }

// Close stops the server and waits for its goroutines.
func (s *RawServer) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conn {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *RawServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conn[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conn, c)
			s.mu.Unlock()
			_ = c.Close()
		}()
	}
}

func (s *RawServer) serve(c net.Conn) {
	br := bufio.NewReaderSize(c, 64<<10)
	sink := make([]byte, 0)
	var req [9]byte
	for {
		if _, err := io.ReadFull(br, req[:]); err != nil {
			return
		}
		n := int(binary.LittleEndian.Uint64(req[1:]))
		if n > len(s.data) {
			return
		}
		switch req[0] {
		case 'S':
			if cap(sink) < n {
				sink = make([]byte, n)
			}
			if _, err := io.ReadFull(br, sink[:n]); err != nil {
				return
			}
			if _, err := c.Write([]byte{1}); err != nil {
				return
			}
		case 'G':
			if _, err := c.Write(s.data[:n]); err != nil {
				return
			}
		default:
			return
		}
	}
}

type rawConn struct {
	nc  net.Conn
	br  *bufio.Reader
	req [9]byte
}

func (r *rawConn) Set(_ string, value []byte) error {
	r.req[0] = 'S'
	binary.LittleEndian.PutUint64(r.req[1:], uint64(len(value)))
	bufs := net.Buffers{r.req[:], value}
	if _, err := bufs.WriteTo(r.nc); err != nil {
		return err
	}
	b, err := r.br.ReadByte()
	if err != nil {
		return err
	}
	if b != 1 {
		return errors.New("netbench: raw server refused")
	}
	return nil
}

// Get asks for len(buf) bytes: the raw server has no keys, so the caller's
// buffer is sized to the value.
func (r *rawConn) Get(_ string, buf []byte) (int, error) {
	r.req[0] = 'G'
	binary.LittleEndian.PutUint64(r.req[1:], uint64(len(buf)))
	if _, err := r.nc.Write(r.req[:]); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(r.br, buf); err != nil {
		return 0, err
	}
	return len(buf), nil
}

func (r *rawConn) Close() error { return r.nc.Close() }
