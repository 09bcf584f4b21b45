package eviction

import "container/list"

// Plain reference implementations for the differential tests: container/list
// plus a Go map, written for obviousness, not speed. Each follows the same
// documented semantics as the fast policy it checks (pins step over in place).

type refEntry struct {
	key     uint64
	pins    int
	visited bool // SIEVE
	freq    int  // S3-FIFO
	queue   int  // S3-FIFO: 0 small, 1 main, 2 ghost
}

// refLRU: front = most recent. fifo=true ignores accesses.
type refLRU struct {
	l    *list.List
	m    map[uint64]*list.Element
	fifo bool
}

func newRefLRU(fifo bool) *refLRU {
	return &refLRU{l: list.New(), m: map[uint64]*list.Element{}, fifo: fifo}
}

func (r *refLRU) Name() string { return "ref-lru" }
func (r *refLRU) Insert(k uint64) {
	if e, ok := r.m[k]; ok {
		if !r.fifo {
			r.l.MoveToFront(e)
		}
		return
	}
	r.m[k] = r.l.PushFront(&refEntry{key: k})
}
func (r *refLRU) Touch(k uint64) {
	if e, ok := r.m[k]; ok && !r.fifo {
		r.l.MoveToFront(e)
	}
}
func (r *refLRU) Contains(k uint64) bool { _, ok := r.m[k]; return ok }
func (r *refLRU) Remove(k uint64) {
	if e, ok := r.m[k]; ok {
		r.l.Remove(e)
		delete(r.m, k)
	}
}
func (r *refLRU) Evict() (uint64, bool) {
	for e := r.l.Back(); e != nil; e = e.Prev() {
		en := e.Value.(*refEntry)
		if en.pins == 0 {
			r.l.Remove(e)
			delete(r.m, en.key)
			return en.key, true
		}
	}
	return 0, false
}
func (r *refLRU) Pin(k uint64) {
	if e, ok := r.m[k]; ok {
		e.Value.(*refEntry).pins++
	}
}
func (r *refLRU) Unpin(k uint64) {
	if e, ok := r.m[k]; ok && e.Value.(*refEntry).pins > 0 {
		e.Value.(*refEntry).pins--
	}
}
func (r *refLRU) Len() int { return r.l.Len() }

// refSIEVE: front = newest; the hand walks from back to front.
type refSIEVE struct {
	l    *list.List
	m    map[uint64]*list.Element
	hand *list.Element
}

func newRefSIEVE() *refSIEVE { return &refSIEVE{l: list.New(), m: map[uint64]*list.Element{}} }

func (r *refSIEVE) Name() string { return "ref-sieve" }
func (r *refSIEVE) Insert(k uint64) {
	if e, ok := r.m[k]; ok {
		e.Value.(*refEntry).visited = true
		return
	}
	r.m[k] = r.l.PushFront(&refEntry{key: k})
}
func (r *refSIEVE) Touch(k uint64) {
	if e, ok := r.m[k]; ok {
		e.Value.(*refEntry).visited = true
	}
}
func (r *refSIEVE) Contains(k uint64) bool { _, ok := r.m[k]; return ok }
func (r *refSIEVE) Remove(k uint64) {
	if e, ok := r.m[k]; ok {
		r.drop(e)
	}
}
func (r *refSIEVE) drop(e *list.Element) {
	if r.hand == e {
		r.hand = e.Prev()
	}
	r.l.Remove(e)
	delete(r.m, e.Value.(*refEntry).key)
}
func (r *refSIEVE) Evict() (uint64, bool) {
	free := 0
	for e := r.l.Front(); e != nil; e = e.Next() {
		if e.Value.(*refEntry).pins == 0 {
			free++
		}
	}
	if free == 0 {
		return 0, false
	}
	e := r.hand
	for {
		if e == nil {
			e = r.l.Back()
			continue
		}
		en := e.Value.(*refEntry)
		if en.pins == 0 {
			if !en.visited {
				break
			}
			en.visited = false
		}
		e = e.Prev()
	}
	r.hand = e
	k := e.Value.(*refEntry).key
	r.drop(e)
	return k, true
}
func (r *refSIEVE) Pin(k uint64) {
	if e, ok := r.m[k]; ok {
		e.Value.(*refEntry).pins++
	}
}
func (r *refSIEVE) Unpin(k uint64) {
	if e, ok := r.m[k]; ok && e.Value.(*refEntry).pins > 0 {
		e.Value.(*refEntry).pins--
	}
}
func (r *refSIEVE) Len() int { return r.l.Len() }

// refS3FIFO: three lists, front = newest.
type refS3FIFO struct {
	capacity int
	q        [3]*list.List
	m        map[uint64]*list.Element
}

func newRefS3FIFO(capacity int) *refS3FIFO {
	return &refS3FIFO{capacity: capacity, q: [3]*list.List{list.New(), list.New(), list.New()}, m: map[uint64]*list.Element{}}
}

func (r *refS3FIFO) Name() string { return "ref-s3fifo" }
func (r *refS3FIFO) Insert(k uint64) {
	if e, ok := r.m[k]; ok {
		en := e.Value.(*refEntry)
		if en.queue != 2 {
			r.Touch(k)
			return
		}
		r.q[2].Remove(e)
		r.m[k] = r.q[1].PushFront(&refEntry{key: k, queue: 1})
		return
	}
	r.m[k] = r.q[0].PushFront(&refEntry{key: k, queue: 0})
}
func (r *refS3FIFO) Touch(k uint64) {
	if e, ok := r.m[k]; ok {
		en := e.Value.(*refEntry)
		if en.queue != 2 && en.freq < 3 {
			en.freq++
		}
	}
}
func (r *refS3FIFO) Contains(k uint64) bool {
	e, ok := r.m[k]
	return ok && e.Value.(*refEntry).queue != 2
}
func (r *refS3FIFO) Remove(k uint64) {
	if e, ok := r.m[k]; ok {
		r.q[e.Value.(*refEntry).queue].Remove(e)
		delete(r.m, k)
	}
}
func (r *refS3FIFO) unpinned(q int) int {
	n := 0
	for e := r.q[q].Front(); e != nil; e = e.Next() {
		if e.Value.(*refEntry).pins == 0 {
			n++
		}
	}
	return n
}
func (r *refS3FIFO) Evict() (uint64, bool) {
	small, main := r.unpinned(0), r.unpinned(1)
	if small == 0 && main == 0 {
		return 0, false
	}
	c := r.capacity
	if c == 0 {
		c = r.Len()
	}
	smallTarget := max(1, c/10)
	ghostTarget := max(1, c-c/10)
	if small > 0 && (r.q[0].Len() >= smallTarget || main == 0) {
		e := r.q[0].Back()
		for e != nil {
			prev := e.Prev()
			en := e.Value.(*refEntry)
			if en.pins > 0 {
				e = prev
				continue
			}
			r.q[0].Remove(e)
			if en.freq >= 1 {
				r.m[en.key] = r.q[1].PushFront(&refEntry{key: en.key, queue: 1})
				e = prev
				continue
			}
			r.m[en.key] = r.q[2].PushFront(&refEntry{key: en.key, queue: 2})
			for r.q[2].Len() > ghostTarget {
				g := r.q[2].Back()
				r.q[2].Remove(g)
				delete(r.m, g.Value.(*refEntry).key)
			}
			return en.key, true
		}
	}
	for {
		for e := r.q[1].Back(); e != nil; {
			prev := e.Prev()
			en := e.Value.(*refEntry)
			if en.pins == 0 {
				if en.freq == 0 {
					r.q[1].Remove(e)
					delete(r.m, en.key)
					return en.key, true
				}
				en.freq--
				r.q[1].MoveToFront(e)
			}
			e = prev
		}
	}
}
func (r *refS3FIFO) Pin(k uint64) {
	if e, ok := r.m[k]; ok && e.Value.(*refEntry).queue != 2 {
		e.Value.(*refEntry).pins++
	}
}
func (r *refS3FIFO) Unpin(k uint64) {
	if e, ok := r.m[k]; ok && e.Value.(*refEntry).queue != 2 && e.Value.(*refEntry).pins > 0 {
		e.Value.(*refEntry).pins--
	}
}
func (r *refS3FIFO) Len() int { return r.q[0].Len() + r.q[1].Len() }
