package duel

// ghost remembers the last size evicted keys as 32-bit fingerprints: a ring
// in eviction order and a counting set (a key evicted twice within the
// window counts twice). 4 + about 8 bytes per remembered key; a false
// positive (another key with the same fingerprint) admits that key as
// frequent, with odds of about size/2^32.
type ghost struct {
	ring  []uint32
	head  int // next slot to write
	full  bool
	fps   []uint32 // set slots; 0: empty
	cnt   []uint16
	mask  uint32
	shift uint8
}

func newGhost(size int) ghost {
	g := ghost{ring: make([]uint32, max(1, size))}
	n := tableSize(size)
	g.fps = make([]uint32, n)
	g.cnt = make([]uint16, n)
	g.mask = uint32(n - 1)
	g.shift = 32
	for s := n; s > 1; s >>= 1 {
		g.shift--
	}
	return g
}

func fingerprint(key uint64) uint32 {
	return uint32(mix(key)>>32) | 1 // never 0
}

func (g *ghost) home(fp uint32) uint32 { return (fp * 0x9E3779B9) >> g.shift }

func (g *ghost) slot(fp uint32) uint32 {
	i := g.home(fp)
	for g.fps[i] != 0 && g.fps[i] != fp {
		i = (i + 1) & g.mask
	}
	return i
}

// contains reports whether key was evicted within the window.
func (g *ghost) contains(key uint64) bool {
	return g.fps[g.slot(fingerprint(key))] != 0
}

// add records an eviction, forgetting the oldest one when the ring is full.
func (g *ghost) add(key uint64) {
	if g.full {
		g.drop(g.ring[g.head])
	}
	fp := fingerprint(key)
	g.ring[g.head] = fp
	g.head++
	if g.head == len(g.ring) {
		g.head, g.full = 0, true
	}
	i := g.slot(fp)
	if g.fps[i] == 0 {
		g.fps[i] = fp
	}
	if g.cnt[i] < ^uint16(0) {
		g.cnt[i]++
	}
}

func (g *ghost) drop(fp uint32) {
	i := g.slot(fp)
	if g.fps[i] == 0 {
		return
	}
	if g.cnt[i] > 1 {
		g.cnt[i]--
		return
	}
	// Backward-shift delete.
	for j := (i + 1) & g.mask; g.fps[j] != 0; j = (j + 1) & g.mask {
		h := g.home(g.fps[j])
		if (j-h)&g.mask >= (j-i)&g.mask {
			g.fps[i], g.cnt[i] = g.fps[j], g.cnt[j]
			i = j
		}
	}
	g.fps[i], g.cnt[i] = 0, 0
}

// len is the number of remembered evictions.
func (g *ghost) len() int {
	if g.full {
		return len(g.ring)
	}
	return g.head
}
