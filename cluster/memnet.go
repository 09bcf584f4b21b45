package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrUnreachable: a MemNetwork fault (partition, kill) stopped a dial.
var ErrUnreachable = errors.New("cluster: unreachable (injected fault)")

// MemNetwork is an in-process network for memberlist and the peer
// transport, with injected faults: packet drop (seeded), delay, one-way and
// two-way partitions and node kill. Unlike memberlist's MockNetwork it is
// safe for concurrent use and never blocks a sender on a dead receiver:
// packets, like UDP, are dropped when the receiver is gone or its queue is
// full. Streams are net.Pipe pairs; peer connections are real sockets whose
// dials go through PeerDialer, which applies the same faults.
type MemNetwork struct {
	// mu guards the maps and settings below: read-locked on every packet,
	// dial and stream, written by the fault setters (a 64-node fleet in one
	// process sends thousands of packets a second through it).
	mu        sync.RWMutex
	byAddr    map[string]*MemTransport
	byName    map[string]*MemTransport
	peerNames map[string]string // peer address -> node name
	port      int
	blocked   map[[2]string]bool // [from, to] node names
	killed    map[string]bool
	dropRate  float64
	delay     time.Duration
	rngMu     sync.Mutex // the rng is not safe for concurrent use
	rng       *rand.Rand

	dropped atomic.Uint64
	conns   connFaults // faults of established peer connections (memnet_conn.go)
}

// NewMemNetwork returns a network whose random drops follow seed.
func NewMemNetwork(seed int64) *MemNetwork {
	return &MemNetwork{
		byAddr:    map[string]*MemTransport{},
		byName:    map[string]*MemTransport{},
		peerNames: map[string]string{},
		blocked:   map[[2]string]bool{},
		killed:    map[string]bool{},
		rng:       rand.New(rand.NewSource(seed)),
	}
}

// NewTransport returns the memberlist transport of node name, with a unique
// address on this network. A name used before (a restarted node) gets a new
// address and the old transport stops receiving.
func (n *MemNetwork) NewTransport(name string) *MemTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.port++
	t := &MemTransport{
		net:      n,
		name:     name,
		addr:     "127.0.0.1:" + strconv.Itoa(10000+n.port),
		packetCh: make(chan *memberlist.Packet, 1024),
		streamCh: make(chan net.Conn, 16),
		done:     make(chan struct{}),
	}
	n.byAddr[t.addr] = t
	n.byName[name] = t
	delete(n.killed, name)
	return t
}

// RegisterPeer tells PeerDialer which node listens on a peer address.
func (n *MemNetwork) RegisterPeer(name, addr string) {
	n.mu.Lock()
	n.peerNames[addr] = name
	n.mu.Unlock()
}

// Block drops everything from node from to node to (one way).
func (n *MemNetwork) Block(from, to string) {
	n.mu.Lock()
	n.blocked[[2]string{from, to}] = true
	n.mu.Unlock()
}

// Partition cuts every link between the two groups, both ways.
func (n *MemNetwork) Partition(a, b []string) {
	for _, x := range a {
		for _, y := range b {
			n.Block(x, y)
			n.Block(y, x)
		}
	}
}

// Heal removes every partition and block (not kills).
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	clear(n.blocked)
	n.mu.Unlock()
}

// Kill cuts node name off from everyone, as if its process died: its
// packets and dials fail both ways.
func (n *MemNetwork) Kill(name string) {
	n.mu.Lock()
	n.killed[name] = true
	n.mu.Unlock()
}

// SetDrop drops this fraction of packets (0..1), chosen by the seeded rng.
func (n *MemNetwork) SetDrop(rate float64) {
	n.mu.Lock()
	n.dropRate = rate
	n.mu.Unlock()
}

// SetDelay delays every packet and peer dial by d.
func (n *MemNetwork) SetDelay(d time.Duration) {
	n.mu.Lock()
	n.delay = d
	n.mu.Unlock()
}

// Dropped counts packets dropped by faults.
func (n *MemNetwork) Dropped() uint64 { return n.dropped.Load() }

// route decides a packet or dial from node from to address addr.
func (n *MemNetwork) route(from, addr string, packet bool) (*MemTransport, time.Duration, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	dest, ok := n.byAddr[addr]
	if !ok {
		return nil, 0, fmt.Errorf("%w: no route to %s", ErrUnreachable, addr)
	}
	if n.killed[from] || n.killed[dest.name] || n.blocked[[2]string{from, dest.name}] ||
		(!packet && n.blocked[[2]string{dest.name, from}]) {
		return nil, 0, fmt.Errorf("%w: %s -> %s", ErrUnreachable, from, dest.name)
	}
	if packet && n.dropRate > 0 {
		n.rngMu.Lock()
		drop := n.rng.Float64() < n.dropRate
		n.rngMu.Unlock()
		if drop {
			return nil, 0, fmt.Errorf("%w: dropped", ErrUnreachable)
		}
	}
	return dest, n.delay, nil
}

// MemTransport is one node's memberlist.NodeAwareTransport on a MemNetwork.
type MemTransport struct {
	net      *MemNetwork
	name     string
	addr     string
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{}
	once     sync.Once
}

var _ memberlist.NodeAwareTransport = (*MemTransport)(nil)

// Addr is the transport's address (what other nodes join).
func (t *MemTransport) Addr() string { return t.addr }

// FinalAdvertiseAddr implements memberlist.Transport.
func (t *MemTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	host, port, err := net.SplitHostPort(t.addr)
	if err != nil {
		return nil, 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, 0, err
	}
	return net.ParseIP(host), p, nil
}

// WriteTo implements memberlist.Transport.
func (t *MemTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends a packet; faults drop it silently, as UDP would.
func (t *MemTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	dest, delay, err := t.net.route(t.name, a.Addr, true)
	if err != nil {
		t.net.dropped.Add(1)
		return now, nil
	}
	p := &memberlist.Packet{Buf: append([]byte(nil), b...), From: memAddr(t.addr), Timestamp: now}
	if delay > 0 {
		time.AfterFunc(delay, func() { dest.deliver(p) })
		return now, nil
	}
	dest.deliver(p)
	return now, nil
}

func (t *MemTransport) deliver(p *memberlist.Packet) {
	select {
	case <-t.done:
		t.net.dropped.Add(1)
	default:
		select {
		case t.packetCh <- p:
		default:
			t.net.dropped.Add(1)
		}
	}
}

// PacketCh implements memberlist.Transport.
func (t *MemTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout implements memberlist.Transport.
func (t *MemTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream (a net.Pipe) to another transport.
func (t *MemTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	dest, delay, err := t.net.route(t.name, a.Addr, false)
	if err != nil {
		return nil, err
	}
	timer := time.NewTimer(timeout + delay)
	defer timer.Stop()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-timer.C:
			return nil, fmt.Errorf("%w: dial %s: timeout", ErrUnreachable, a.Addr)
		}
	}
	select {
	case <-dest.done:
		return nil, fmt.Errorf("%w: dial %s: shut down", ErrUnreachable, a.Addr)
	default:
	}
	local, remote := net.Pipe()
	select {
	case dest.streamCh <- pipeConn{remote, memAddr(t.addr)}:
		return pipeConn{local, memAddr(dest.addr)}, nil
	case <-dest.done:
	case <-timer.C:
	}
	_ = local.Close()
	_ = remote.Close()
	return nil, fmt.Errorf("%w: dial %s: no listener", ErrUnreachable, a.Addr)
}

// StreamCh implements memberlist.Transport.
func (t *MemTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown implements memberlist.Transport; safe to call twice.
func (t *MemTransport) Shutdown() error {
	t.once.Do(func() { close(t.done) })
	return nil
}

type memAddr string

func (a memAddr) Network() string { return "mem" }
func (a memAddr) String() string  { return string(a) }

// pipeConn reports the dialer's address as the remote one (memberlist logs
// and checks it).
type pipeConn struct {
	net.Conn
	remote net.Addr
}

func (c pipeConn) RemoteAddr() net.Addr { return c.remote }

// PeerDialer returns a Dialer for node from's peer connections that applies
// this network's partitions, kills and delay before dialing with base.
func (n *MemNetwork) PeerDialer(from string, base Dialer) Dialer {
	return &memDialer{net: n, from: from, base: base}
}

type memDialer struct {
	net  *MemNetwork
	from string
	base Dialer
}

func (d *memDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.net.mu.RLock()
	to, known := d.net.peerNames[addr]
	cut := known && (d.net.killed[d.from] || d.net.killed[to] ||
		d.net.blocked[[2]string{d.from, to}] || d.net.blocked[[2]string{to, d.from}])
	delay := d.net.delay
	d.net.mu.RUnlock()
	if cut {
		return nil, fmt.Errorf("%w: peer %s -> %s", ErrUnreachable, d.from, to)
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	c, err := d.base.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return newFaultConn(c, d.net, d.from, addr), nil
}
