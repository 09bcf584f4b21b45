package bufpool

import (
	"math/bits"
	"sync"
)

// Pool hands out byte buffers in power-of-two size classes so that a
// connection streaming 16 MiB values reuses the same few buffers instead of
// allocating per request. Classes start at minPooled; smaller buffers are
// not worth pooling.
type Pool struct {
	classes [maxClass + 1]sync.Pool
}

const (
	minPooledShift = 12 // 4 KiB
	maxClass       = 40 - minPooledShift
)

func classOf(n int) int {
	if n <= 1<<minPooledShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minPooledShift
}

// Get returns a buffer of length n (capacity the class size).
func (p *Pool) Get(n int) *[]byte {
	c := classOf(n)
	if c > maxClass {
		b := make([]byte, n)
		return &b
	}
	if v := p.classes[c].Get(); v != nil {
		b := v.(*[]byte)
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<(c+minPooledShift))
	return &b
}

// Put returns b to its class.
func (p *Pool) Put(b *[]byte) {
	c := classOf(cap(*b))
	if c > maxClass || cap(*b) != 1<<(c+minPooledShift) {
		return
	}
	p.classes[c].Put(b)
}

// Shared is the process-wide pool the protocol servers draw from.
var Shared Pool
