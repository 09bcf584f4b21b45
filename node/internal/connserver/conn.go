package connserver

import (
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// Chunk is the unit of progress the read and write timeouts measure: a
// value arriving or a reply leaving must move Chunk bytes (or the rest)
// within ReadTimeout / WriteTimeout, so a slow but live client of a 64 MiB
// value is served while a stalled one is cut off.
const Chunk = 4 << 20

// Conn is one accepted connection with its server's deadlines. Reads go
// through the embedded net.Conn (the protocol arms them with ArmIdle and
// ArmProgress); writes through Write and WriteBuffers, which arm the write
// deadline per Chunk. A Conn is used by its connection's goroutine only.
type Conn struct {
	net.Conn
	s *Server
	// readAt and writeAt are the deadlines this goroutine last set; Shutdown
	// may set earlier ones on the net.Conn behind its back, which only makes
	// the lazy re-arming below leave them alone.
	readAt, writeAt time.Time
	// writeFailed: a write failed (the client stopped reading or left), so
	// nothing more can be delivered and closing need not linger.
	writeFailed bool
	// wv is WriteBuffers' scratch (writev_linux.go).
	wv writevState
}

// Closing reports whether the server is shutting down.
func (c *Conn) Closing() bool { return c.s.closing.Load() }

// ArmIdle sets the read deadline for the wait for the next request to
// IdleTimeout from now. It re-arms the runtime timer only when the deadline
// in force is less than 7/8 of that away: re-arming on every request costs
// more than a small request.
func (c *Conn) ArmIdle() {
	idle := time.Duration(c.s.idleNs.Load())
	now := time.Now()
	if c.readAt.Sub(now) >= idle-idle/8 && c.readAt.Sub(now) <= idle {
		return
	}
	c.readAt = now.Add(idle)
	_ = c.Conn.SetReadDeadline(c.readAt)
}

// ArmProgress sets the read deadline for the next Chunk of a value that is
// arriving to ReadTimeout from now. Once shutdown has begun it leaves the
// deadline Shutdown set (a value still arriving is not a request read).
func (c *Conn) ArmProgress() {
	if c.Closing() {
		return
	}
	c.readAt = time.Now().Add(time.Duration(c.s.readNs.Load()))
	_ = c.Conn.SetReadDeadline(c.readAt)
}

// armWrite sets the write deadline for the next Chunk of replies: lazily to
// WriteTimeout, or to ShutdownWriteGrace for every chunk once shutdown has
// begun.
func (c *Conn) armWrite() {
	now := time.Now()
	if c.Closing() {
		c.writeAt = now.Add(ShutdownWriteGrace)
		_ = c.Conn.SetWriteDeadline(c.writeAt)
		return
	}
	wt := time.Duration(c.s.writeNs.Load())
	if d := c.writeAt.Sub(now); d >= wt-wt/8 && d <= wt {
		return
	}
	c.writeAt = now.Add(wt)
	_ = c.Conn.SetWriteDeadline(c.writeAt)
}

// Write writes b, Chunk by Chunk, each under the write deadline.
func (c *Conn) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		c.armWrite()
		k, err := c.Conn.Write(b[n:min(len(b), n+Chunk)])
		n += k
		if err != nil {
			return n, c.writeErr(err)
		}
	}
	return n, nil
}

// WriteBuffers writes the pieces in order with as few writev calls as the
// Chunk-wise deadlines allow (one per Chunk), copying nothing.
func (c *Conn) WriteBuffers(pieces [][]byte) error {
	if fc, ok := c.Conn.(*fdConn); ok {
		return fc.writev(pieces) // on an event loop: no deadline, nothing waits
	}
	var vec [8][]byte
	for len(pieces) > 0 {
		batch := vec[:0]
		size := 0
		for len(pieces) > 0 && size < Chunk && len(batch) < len(vec) {
			p := pieces[0]
			if take := Chunk - size; len(p) > take {
				batch = append(batch, p[:take])
				pieces[0] = p[take:]
				size += take
				break
			}
			batch = append(batch, p)
			size += len(p)
			pieces = pieces[1:]
		}
		c.armWrite()
		if err := c.writev(batch); err != nil {
			clear(vec[:])
			return c.writeErr(err)
		}
	}
	clear(vec[:])
	return nil
}

// writeErr counts a write that timed out: the client stopped reading its
// replies and the connection is given up.
func (c *Conn) writeErr(err error) error {
	c.writeFailed = true
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.s.WriteStall.Add(1)
	}
	return err
}

// ReadFull fills dst from r (the connection's buffered reader), arming
// ArmProgress before each Chunk.
func (c *Conn) ReadFull(r io.Reader, dst []byte) error {
	for len(dst) > 0 {
		c.ArmProgress()
		n := min(len(dst), Chunk)
		if _, err := io.ReadFull(r, dst[:n]); err != nil {
			return err
		}
		dst = dst[n:]
	}
	return nil
}
