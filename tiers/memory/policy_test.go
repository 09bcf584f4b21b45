package memory

import "container/list"

// lruPolicy is a minimal LRU with nested pins, enough to drive the tier in
// tests without depending on the eviction package's implementations.
type lruPolicy struct {
	l    *list.List // front: most recent
	m    map[uint64]*list.Element
	pins map[uint64]int
}

func newLRU() *lruPolicy {
	return &lruPolicy{l: list.New(), m: map[uint64]*list.Element{}, pins: map[uint64]int{}}
}

func (p *lruPolicy) Name() string { return "test-lru" }

func (p *lruPolicy) Insert(k uint64) {
	if e, ok := p.m[k]; ok {
		p.l.MoveToFront(e)
		return
	}
	p.m[k] = p.l.PushFront(k)
}

func (p *lruPolicy) Touch(k uint64) {
	if e, ok := p.m[k]; ok {
		p.l.MoveToFront(e)
	}
}

func (p *lruPolicy) Contains(k uint64) bool { _, ok := p.m[k]; return ok }

func (p *lruPolicy) Remove(k uint64) {
	if e, ok := p.m[k]; ok {
		p.l.Remove(e)
		delete(p.m, k)
		delete(p.pins, k)
	}
}

func (p *lruPolicy) Evict() (uint64, bool) {
	for e := p.l.Back(); e != nil; e = e.Prev() {
		k := e.Value.(uint64)
		if p.pins[k] > 0 {
			continue
		}
		p.l.Remove(e)
		delete(p.m, k)
		return k, true
	}
	return 0, false
}

func (p *lruPolicy) Pin(k uint64) {
	if _, ok := p.m[k]; ok {
		p.pins[k]++
	}
}

func (p *lruPolicy) Unpin(k uint64) {
	if p.pins[k] > 1 {
		p.pins[k]--
	} else {
		delete(p.pins, k)
	}
}

func (p *lruPolicy) Len() int { return len(p.m) }
