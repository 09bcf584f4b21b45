package simulations

// infinite never evicts: the hit rate is the trace's reuse ceiling.
type infinite struct {
	seen []bool
	n    int
}

func newInfinite(blocks int) *infinite { return &infinite{seen: make([]bool, blocks+1)} }

func (c *infinite) Name() string { return PolicyInfinite }
func (c *infinite) Len() int     { return c.n }

func (c *infinite) Access(blocks []uint32, _ int) int {
	hit := 0
	for hit < len(blocks) && c.seen[blocks[hit]] {
		hit++
	}
	for _, b := range blocks[hit:] {
		if !c.seen[b] {
			c.seen[b] = true
			c.n++
		}
	}
	return hit
}
