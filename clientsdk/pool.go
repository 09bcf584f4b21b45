package clientsdk

import (
	"context"
	"sync"
)

// pool keeps idle connections per node address. Connections are handed
// out exclusively; a broken one is closed instead of returned.
type pool struct {
	o      *Options
	mu     sync.Mutex
	idle   map[string][]*conn
	closed bool
}

func newPool(o *Options) *pool { return &pool{o: o, idle: map[string][]*conn{}} }

func (p *pool) get(ctx context.Context, addr string) (*conn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if l := p.idle[addr]; len(l) > 0 {
		c := l[len(l)-1]
		l[len(l)-1] = nil
		p.idle[addr] = l[:len(l)-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	return dialConn(ctx, addr, p.o)
}

func (p *pool) put(addr string, c *conn) {
	if c.broken {
		_ = c.close()
		return
	}
	p.mu.Lock()
	if p.closed || len(p.idle[addr]) >= p.o.MaxIdlePerNode {
		p.mu.Unlock()
		_ = c.close()
		return
	}
	p.idle[addr] = append(p.idle[addr], c)
	p.mu.Unlock()
}

// drop closes the idle connections to addr (a node that failed).
func (p *pool) drop(addr string) {
	p.mu.Lock()
	l := p.idle[addr]
	delete(p.idle, addr)
	p.mu.Unlock()
	for _, c := range l {
		_ = c.close()
	}
}

func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	all := p.idle
	p.idle = map[string][]*conn{}
	p.mu.Unlock()
	for _, l := range all {
		for _, c := range l {
			_ = c.close()
		}
	}
}
