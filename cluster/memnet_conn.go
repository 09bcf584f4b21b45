package cluster

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Faults on established peer connections: MemNetwork.PeerDialer wraps
// every connection it opens, so a fault set after the dial (a stalled
// peer, mid-stream) reaches connections already pooled, not only new
// dials.

// connFaults is the MemNetwork's state of connection faults.
type connFaults struct {
	mu     sync.Mutex
	stalls map[[2]string]chan struct{} // [from, to] -> closed by Unstall
	// n is len(stalls): with none, a read or write takes no lock.
	n atomic.Int32
}

// StallPeer makes node from's peer connections to node to (open ones and
// new ones) stop moving bytes, as a peer that hangs mid-stream: reads
// and writes block until UnstallPeer, the connection's deadline or its
// close.
func (n *MemNetwork) StallPeer(from, to string) {
	f := &n.conns
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stalls == nil {
		f.stalls = map[[2]string]chan struct{}{}
	}
	if _, ok := f.stalls[[2]string{from, to}]; !ok {
		f.stalls[[2]string{from, to}] = make(chan struct{})
		f.n.Add(1)
	}
}

// UnstallPeer lets StallPeer's connections move again.
func (n *MemNetwork) UnstallPeer(from, to string) {
	f := &n.conns
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.stalls[[2]string{from, to}]; ok {
		close(ch)
		delete(f.stalls, [2]string{from, to})
		f.n.Add(-1)
	}
}

// stalled returns the stall of from's connections to the node listening
// on addr (nil: none). The name is resolved at each call: a connection
// may be dialled before RegisterPeer names its address.
func (n *MemNetwork) stalled(from, addr string) chan struct{} {
	if n.conns.n.Load() == 0 {
		return nil
	}
	n.mu.RLock()
	to, known := n.peerNames[addr]
	n.mu.RUnlock()
	if !known {
		return nil
	}
	f := &n.conns
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stalls[[2]string{from, to}]
}

// faultConn is a peer connection of node from to addr that obeys the
// network's connection faults.
type faultConn struct {
	net.Conn
	nw         *MemNetwork
	from, addr string

	mu       sync.Mutex
	rdl, wdl time.Time
	kick     chan struct{} // closed (and replaced) when a deadline changes
	closed   chan struct{}
	once     sync.Once
}

func newFaultConn(c net.Conn, nw *MemNetwork, from, addr string) *faultConn {
	return &faultConn{Conn: c, nw: nw, from: from, addr: addr, kick: make(chan struct{}), closed: make(chan struct{})}
}

// hold blocks while the connection is stalled, up to its deadline.
func (c *faultConn) hold(write bool) error {
	for {
		ch := c.nw.stalled(c.from, c.addr)
		if ch == nil {
			return nil
		}
		c.mu.Lock()
		dl, kick := c.rdl, c.kick
		if write {
			dl = c.wdl
		}
		c.mu.Unlock()
		var expire <-chan time.Time
		var t *time.Timer
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return os.ErrDeadlineExceeded
			}
			t = time.NewTimer(d)
			expire = t.C
		}
		var err error
		select {
		case <-ch:
		case <-kick:
		case <-c.closed:
			err = net.ErrClosed
		case <-expire:
			err = os.ErrDeadlineExceeded
		}
		if t != nil {
			t.Stop()
		}
		if err != nil {
			return err
		}
	}
}

func (c *faultConn) Read(b []byte) (int, error) {
	if err := c.hold(false); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *faultConn) Write(b []byte) (int, error) {
	if err := c.hold(true); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *faultConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func (c *faultConn) setDeadlines(r, w bool, t time.Time) {
	c.mu.Lock()
	if r {
		c.rdl = t
	}
	if w {
		c.wdl = t
	}
	close(c.kick)
	c.kick = make(chan struct{})
	c.mu.Unlock()
}

func (c *faultConn) SetDeadline(t time.Time) error {
	c.setDeadlines(true, true, t)
	return c.Conn.SetDeadline(t)
}

func (c *faultConn) SetReadDeadline(t time.Time) error {
	c.setDeadlines(true, false, t)
	return c.Conn.SetReadDeadline(t)
}

func (c *faultConn) SetWriteDeadline(t time.Time) error {
	c.setDeadlines(false, true, t)
	return c.Conn.SetWriteDeadline(t)
}
