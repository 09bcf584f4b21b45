package clientsdk

import (
	"context"
	"sync"
)

// pool keeps connections per node address. Connections are handed out
// exclusively; at most MaxConnsPerNode are open (or being dialled) per
// node, and a caller beyond that waits for one to come back (or for its
// context), so that a burst of goroutines neither churns connections nor
// floods a node. A broken connection is closed instead of returned.
type pool struct {
	o      *Options
	dial   func(ctx context.Context, key string) (*conn, error)
	mu     sync.Mutex
	nodes  map[string]*nodeConns
	closed bool
}

// nodeConns: tokens holds one token per open connection; idle holds the
// connections not in use (each still holding its token).
type nodeConns struct {
	tokens chan struct{}
	idle   chan *conn
}

func newPool(o *Options) *pool { return &pool{o: o, nodes: map[string]*nodeConns{}} }

func (p *pool) node(addr string) (*nodeConns, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	n := p.nodes[addr]
	if n == nil {
		maxConns := max(p.o.MaxConnsPerNode, 1)
		n = &nodeConns{tokens: make(chan struct{}, maxConns), idle: make(chan *conn, min(max(p.o.MaxIdlePerNode, 0), maxConns))}
		p.nodes[addr] = n
	}
	return n, nil
}

func (p *pool) get(ctx context.Context, addr string) (*conn, error) {
	n, err := p.node(addr)
	if err != nil {
		return nil, err
	}
	select { // an idle connection first, without waiting
	case c := <-n.idle:
		return c, nil
	default:
	}
	select {
	case c := <-n.idle:
		return c, nil
	case n.tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c, err := p.dial(ctx, addr)
	if err != nil {
		<-n.tokens
		return nil, err
	}
	return c, nil
}

// put returns c to the pool, or closes it (broken, pool closed, idle list
// full) and frees its token.
func (p *pool) put(addr string, c *conn) {
	n, err := p.node(addr)
	if err == nil && c.usable() {
		select {
		case n.idle <- c:
			return
		default:
		}
	}
	_ = c.close()
	if n != nil {
		<-n.tokens
	}
}

// drop closes the idle connections to addr (a node that failed).
func (p *pool) drop(addr string) {
	n, err := p.node(addr)
	if err != nil {
		return
	}
	for {
		select {
		case c := <-n.idle:
			_ = c.close()
			<-n.tokens
		default:
			return
		}
	}
}

func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	nodes := p.nodes
	p.mu.Unlock()
	for _, n := range nodes {
		for {
			select {
			case c := <-n.idle:
				_ = c.close()
				continue
			default:
			}
			break
		}
	}
}
