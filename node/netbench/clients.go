package netbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/node/native"
)

// Conn is one benchmark connection to a target. Set stores value under
// key; Get reads key's value into buf (at least the value's size) and
// returns its length. Neither is called concurrently on one Conn.
type Conn interface {
	Set(key string, value []byte) error
	Get(key string, buf []byte) (int, error)
	Close() error
}

// Dial opens one connection of the given kind: "native", "resp" (also
// "redis"), "memcached" or "raw".
func Dial(kind, addr, token string) (Conn, error) {
	switch kind {
	case "native":
		c, err := native.Dial(context.Background(), addr, native.DialOptions{Token: token, Client: "bench-net"})
		if err != nil {
			return nil, err
		}
		return &nativeConn{c: c}, nil
	case "resp", "redis":
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		c := &respConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
		if token != "" {
			if err := c.auth(token); err != nil {
				_ = nc.Close()
				return nil, err
			}
		}
		return c, nil
	case "memcached":
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		return &memcachedConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}, nil
	case "raw":
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		return &rawConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}, nil
	}
	return nil, fmt.Errorf("netbench: unknown target kind %q (want native, resp, redis, memcached or raw)", kind)
}

type nativeConn struct{ c *native.Client }

func (n *nativeConn) Set(key string, value []byte) error {
	return n.c.Put(context.Background(), artifact.MustID(artifact.NamespaceBlob, key), value, artifact.Meta{})
}

func (n *nativeConn) Get(key string, buf []byte) (int, error) {
	b, _, err := n.c.Get(context.Background(), buf[:0], artifact.MustID(artifact.NamespaceBlob, key))
	return len(b), err
}

func (n *nativeConn) Close() error { return n.c.Close() }

// respConn speaks just enough RESP2 for SET and GET, writing values with
// writev and reading them straight into the caller's buffer.
type respConn struct {
	nc  net.Conn
	br  *bufio.Reader
	hdr []byte
}

var errReply = errors.New("netbench: error reply")

func (r *respConn) auth(token string) error {
	r.hdr = fmt.Appendf(r.hdr[:0], "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(token), token)
	if _, err := r.nc.Write(r.hdr); err != nil {
		return err
	}
	return r.status()
}

func (r *respConn) status() error {
	line, err := r.br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(line) == 0 || line[0] != '+' {
		return fmt.Errorf("%w: %q", errReply, line)
	}
	return nil
}

func (r *respConn) Set(key string, value []byte) error {
	r.hdr = append(r.hdr[:0], "*3\r\n$3\r\nSET\r\n$"...)
	r.hdr = strconv.AppendInt(r.hdr, int64(len(key)), 10)
	r.hdr = append(r.hdr, "\r\n"...)
	r.hdr = append(r.hdr, key...)
	r.hdr = append(r.hdr, "\r\n$"...)
	r.hdr = strconv.AppendInt(r.hdr, int64(len(value)), 10)
	r.hdr = append(r.hdr, "\r\n"...)
	bufs := net.Buffers{r.hdr, value, crlf}
	if _, err := bufs.WriteTo(r.nc); err != nil {
		return err
	}
	return r.status()
}

var crlf = []byte("\r\n")

func (r *respConn) Get(key string, buf []byte) (int, error) {
	r.hdr = append(r.hdr[:0], "*2\r\n$3\r\nGET\r\n$"...)
	r.hdr = strconv.AppendInt(r.hdr, int64(len(key)), 10)
	r.hdr = append(r.hdr, "\r\n"...)
	r.hdr = append(r.hdr, key...)
	r.hdr = append(r.hdr, "\r\n"...)
	if _, err := r.nc.Write(r.hdr); err != nil {
		return 0, err
	}
	return r.readBulk(buf)
}

// readBulk reads one bulk reply into buf.
func (r *respConn) readBulk(buf []byte) (int, error) {
	line, err := r.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 4 || line[0] != '$' {
		return 0, fmt.Errorf("%w: %q", errReply, line)
	}
	n, err := strconv.Atoi(string(line[1 : len(line)-2]))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: miss or bad length %q", errReply, line)
	}
	if n > len(buf) {
		return 0, fmt.Errorf("netbench: value of %d bytes exceeds the buffer", n)
	}
	if _, err := io.ReadFull(r.br, buf[:n]); err != nil {
		return 0, err
	}
	if _, err := r.br.Discard(2); err != nil {
		return 0, err
	}
	return n, nil
}

func (r *respConn) Close() error { return r.nc.Close() }

// memcachedConn speaks memcached's text protocol (set / get).
type memcachedConn struct {
	nc  net.Conn
	br  *bufio.Reader
	hdr []byte
}

func (m *memcachedConn) Set(key string, value []byte) error {
	m.hdr = fmt.Appendf(m.hdr[:0], "set %s 0 0 %d\r\n", key, len(value))
	bufs := net.Buffers{m.hdr, value, crlf}
	if _, err := bufs.WriteTo(m.nc); err != nil {
		return err
	}
	line, err := m.br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if string(line) != "STORED\r\n" {
		return fmt.Errorf("%w: %q", errReply, line)
	}
	return nil
}

func (m *memcachedConn) Get(key string, buf []byte) (int, error) {
	m.hdr = fmt.Appendf(m.hdr[:0], "get %s\r\n", key)
	if _, err := m.nc.Write(m.hdr); err != nil {
		return 0, err
	}
	line, err := m.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	var k string
	var flags, n int
	if _, err := fmt.Sscanf(string(line), "VALUE %s %d %d", &k, &flags, &n); err != nil {
		return 0, fmt.Errorf("%w: %q", errReply, line)
	}
	if n > len(buf) {
		return 0, fmt.Errorf("netbench: value of %d bytes exceeds the buffer", n)
	}
	if _, err := io.ReadFull(m.br, buf[:n]); err != nil {
		return 0, err
	}
	// "\r\nEND\r\n"
	if _, err := m.br.Discard(7); err != nil {
		return 0, err
	}
	return n, nil
}

func (m *memcachedConn) Close() error { return m.nc.Close() }
