package eviction

// ARC is the Adaptive Replacement Cache of Megiddo and Modha, "ARC: A
// Self-Tuning, Low Overhead Replacement Cache", FAST 2003.
//
// Resident keys sit in T1 (seen once recently) or T2 (seen at least twice);
// B1 and B2 remember keys evicted from T1 and T2 (ghosts, no data). The
// target size p of T1 adapts: a miss that hits B1 grows p by
// max(1, |B2|/|B1|), one that hits B2 shrinks it by max(1, |B1|/|B2|). The
// paper's cases map onto the Policy calls as follows:
//
//   - Touch of a key in T1 or T2 (case I): move it to the front of T2.
//   - Insert of a key in B1 or B2 (cases II, III): adapt p, move it to T2.
//   - Insert of a new key (case IV): keep |T1|+|B1| <= c by dropping the
//     oldest of B1, keep the four lists <= 2c by dropping the oldest of B2,
//     put the key at the front of T1.
//   - Evict is the paper's REPLACE: the back of T1 goes to B1 if |T1| > p
//     (or |T1| == p after a B2 hit), otherwise the back of T2 goes to B2.
//
// REPLACE runs before the missed key enters in the paper; in the
// Insert-then-Evict order of the simulator the new key is already at the front
// of T1, so while Len exceeds the capacity Evict leaves the key of the last
// Insert out of |T1|. With that order and capacity c the eviction sequence is
// the paper's.
//
// Capacity c > 0 is the paper's cache size. With c == 0 ("unknown") c is the
// current Len. Len above c only changes which list REPLACE prefers; ghost
// lists are trimmed on every Insert and Evict so B1+B2 never hold more than
// c keys.
//
// Pinned keys keep their list and place; Evict steps over them and falls back
// to the other list when the preferred one holds only pinned keys.
type ARC struct {
	t        table
	capacity int
	lists    [4]int32 // sentinels of T1, T2, B1, B2
	n        [4]int
	p        int
	b2Hit    bool  // the last Insert hit B2 (REPLACE tie rule)
	lastNew  int32 // node of the last Insert, -1 once consumed
}

const (
	arcT1 = 0
	arcT2 = 1
	arcB1 = 2
	arcB2 = 3
)

// NewARC returns an empty ARC of capacity c entries (0: unknown, follow Len).
func NewARC(capacity int) *ARC {
	if capacity < 0 {
		capacity = 0
	}
	p := &ARC{t: newTable(capacity*2, loadCompact), capacity: capacity, lastNew: -1}
	for q := range p.lists {
		p.lists[q] = p.t.sentinel()
	}
	return p
}

// Name implements Policy.
func (p *ARC) Name() string { return "arc" }

func (p *ARC) c() int {
	if p.capacity > 0 {
		return p.capacity
	}
	return max(1, p.Len())
}

func (p *ARC) list(i int32) int { return int(p.t.meta[i]) }

// moveTo puts node i at the front of list q.
func (p *ARC) moveTo(i int32, q int) {
	from := p.list(i)
	p.t.unlink(i)
	p.n[from]--
	p.t.move(i, from, q)
	p.t.meta[i] = uint32(q)
	p.t.pushFront(p.lists[q], i)
	p.n[q]++
}

// dropOldest forgets the back of ghost list q.
func (p *ARC) dropOldest(q int) {
	s := p.lists[q]
	i := p.t.back(s)
	if i == s {
		return
	}
	p.t.unlink(i)
	p.n[q]--
	p.t.drop(i, q)
}

// Insert implements Policy.
func (p *ARC) Insert(key uint64) {
	p.b2Hit = false
	c := p.c()
	i := p.t.get(key)
	if i >= 0 {
		switch p.list(i) {
		case arcT1, arcT2:
			p.moveTo(i, arcT2)
			return
		case arcB1:
			d := max(1, p.n[arcB2]/max(1, p.n[arcB1]))
			p.p = min(c, p.p+d)
		case arcB2:
			d := max(1, p.n[arcB1]/max(1, p.n[arcB2]))
			p.p = max(0, p.p-d)
			p.b2Hit = true
		}
		p.moveTo(i, arcT2)
		p.lastNew = i
		p.trim()
		return
	}
	if p.n[arcT1]+p.n[arcB1] >= c {
		p.dropOldest(arcB1)
	} else if p.n[arcT1]+p.n[arcT2]+p.n[arcB1]+p.n[arcB2] >= 2*c {
		p.dropOldest(arcB2)
	}
	i = p.t.add(key)
	p.t.meta[i] = arcT1
	p.t.pushFront(p.lists[arcT1], i)
	p.n[arcT1]++
	p.lastNew = i
	p.trim()
}

// trim keeps the ghosts within the paper's bound |T1|+|B1| <= c and holds
// B1+B2 to c keys (what the paper's |T1|+|T2|+|B1|+|B2| <= 2c implies for a
// full cache) even while Len exceeds c.
func (p *ARC) trim() {
	c := p.c()
	for p.n[arcB1] > 0 && p.n[arcT1]+p.n[arcB1] > c {
		p.dropOldest(arcB1)
	}
	for p.n[arcB1]+p.n[arcB2] > c {
		if p.n[arcB2] > 0 {
			p.dropOldest(arcB2)
		} else {
			p.dropOldest(arcB1)
		}
	}
}

// Touch implements Policy.
func (p *ARC) Touch(key uint64) {
	if i := p.t.get(key); i >= 0 {
		if q := p.list(i); q == arcT1 || q == arcT2 {
			p.moveTo(i, arcT2)
		}
	}
}

// Contains implements Policy.
func (p *ARC) Contains(key uint64) bool {
	i := p.t.get(key)
	return i >= 0 && p.list(i) <= arcT2
}

// Remove implements Policy; a removed key leaves the ghosts too.
func (p *ARC) Remove(key uint64) {
	i := p.t.get(key)
	if i < 0 {
		return
	}
	if i == p.lastNew {
		p.lastNew = -1
	}
	q := p.list(i)
	p.t.unlink(i)
	p.n[q]--
	p.t.drop(i, q)
}

// Evict implements Policy (the paper's REPLACE).
func (p *ARC) Evict() (uint64, bool) {
	free1 := p.n[arcT1] - p.t.pinned[arcT1]
	free2 := p.n[arcT2] - p.t.pinned[arcT2]
	if free1 == 0 && free2 == 0 {
		return 0, false
	}
	t1 := p.n[arcT1]
	if p.lastNew >= 0 && p.capacity > 0 && p.Len() > p.capacity &&
		p.list(p.lastNew) == arcT1 {
		t1-- // the missed key of the paper is not in T1 yet during REPLACE
	}
	target := min(p.p, p.c())
	fromT1 := t1 >= 1 && (t1 > target || (p.b2Hit && t1 == target))
	if fromT1 && free1 == 0 {
		fromT1 = false
	}
	if !fromT1 && free2 == 0 {
		fromT1 = true
	}
	p.b2Hit = false
	p.lastNew = -1
	from, to := arcT1, arcB1
	if !fromT1 {
		from, to = arcT2, arcB2
	}
	i := p.t.oldestUnpinned(p.lists[from])
	key := p.t.nodes[i].key
	p.moveTo(i, to)
	p.trim()
	return key, true
}

// Pin implements Policy; ghost keys are absent and ignored.
func (p *ARC) Pin(key uint64) {
	if i := p.t.get(key); i >= 0 {
		if q := p.list(i); q <= arcT2 {
			p.t.pin(i, q)
		}
	}
}

// Unpin implements Policy.
func (p *ARC) Unpin(key uint64) {
	if i := p.t.get(key); i >= 0 {
		if q := p.list(i); q <= arcT2 {
			p.t.unpin(i, q)
		}
	}
}

// Len implements Policy: resident keys (T1 and T2).
func (p *ARC) Len() int { return p.n[arcT1] + p.n[arcT2] }

// Ghosts reports how many evicted keys B1 and B2 remember.
func (p *ARC) Ghosts() int { return p.n[arcB1] + p.n[arcB2] }

// Target reports the adaptive target size p of T1.
func (p *ARC) Target() int { return p.p }

// Bytes reports the memory the policy holds for its bookkeeping.
func (p *ARC) Bytes() int { return p.t.bytes() }
