package clientsdk

// ScoreConfig weighs cached tokens by where they sit, and load.
type ScoreConfig struct {
	// TierWeights[t] is what one cached token in tier t is worth on the
	// node that holds it, as a fraction of a token that need not be
	// recomputed (GPU 1.0 ... disk 0.5). TierRemote is the worth of a
	// token cached on another node (read over the network through the
	// node's remote tier).
	TierWeights [numTiers]float64
	// LoadWeight is subtracted per request in flight on the node (Member.
	// Load), in weighted tokens.
	LoadWeight float64
}

// DefaultScoreConfig: GPU 1.0, CPU 0.9, CXL 0.8, disk 0.5, remote 0.3, and
// one in-flight request costs as much as 256 cached tokens.
func DefaultScoreConfig() ScoreConfig {
	var c ScoreConfig
	c.TierWeights[TierGPU] = 1.0
	c.TierWeights[TierCPU] = 0.9
	c.TierWeights[TierCXL] = 0.8
	c.TierWeights[TierDisk] = 0.5
	c.TierWeights[TierRemote] = 0.3
	c.LoadWeight = 256
	return c
}

// Score is one node's routing score for a prompt.
type Score struct {
	Node string
	// Score = weighted cached tokens - LoadWeight x load; higher is better.
	Score float64
	// LocalTokens: tokens of the cluster's cached prefix held on this node.
	LocalTokens int
	// CachedTokens: the prompt's leading tokens cached anywhere.
	CachedTokens int
}

// NodePrefix is one node's longest cached prefix of a prompt.
type NodePrefix struct {
	Node string
	// Blocks is the number of leading blocks the node holds itself, at
	// BlockSize; Tokens the tokens they cover.
	Blocks, BlockSize, Tokens int
	// Tier is the slowest tier among those blocks.
	Tier Tier
}

type scoreScratch struct {
	local   []float64 // weighted local tokens minus their remote worth, by slot
	tokens  []int     // local tokens by slot
	best    []Score   // best level so far, by slot
	touched []int
	cand    []int
	byTier  []int // tokens by member slot << 3 | tier; [slot<<3] is the slot's total
}

func (ix *Index) getScratch(n int) *scoreScratch {
	sc, _ := ix.scratch.Get().(*scoreScratch)
	if sc == nil {
		sc = &scoreScratch{}
	}
	if len(sc.local) < n {
		sc.local = make([]float64, n)
		sc.tokens = make([]int, n)
		sc.byTier = make([]int, n<<3)
	}
	return sc
}

// ScoreNodes appends to dst a score for each candidate node (nil: every
// member) for routing p: for the longest prefix of p cached anywhere in
// the cluster, each token counts TierWeights[tier] on the node holding it
// and TierWeights[TierRemote] elsewhere; the best block size counts; then
// LoadWeight x load is subtracted. Candidates the index does not know
// score as if they held nothing. Answered from the local index, no
// allocation once dst has room.
func (ix *Index) ScoreNodes(dst []Score, p *Prompt, candidates []string) []Score {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	w := &ix.cfg.TierWeights
	sc := ix.getScratch(len(ix.members))
	defer ix.scratch.Put(sc)
	start := len(dst)
	if candidates == nil {
		for _, m := range ix.members {
			if m.Name != "" {
				dst = append(dst, Score{Node: m.Name})
			}
		}
	} else {
		for _, name := range candidates {
			dst = append(dst, Score{Node: name})
		}
	}
	out := dst[start:]
	// cand[c] is out[c]'s member slot (-1: unknown), resolved once.
	cand := sc.cand[:0]
	if candidates == nil {
		for s, m := range ix.members {
			if m.Name != "" {
				cand = append(cand, s)
			}
		}
	} else {
		for c := range out {
			s, ok := ix.slots[out[c].Node]
			if !ok {
				s = -1
			}
			cand = append(cand, s)
		}
	}
	sc.cand = cand
	table := ix.table
	mask := len(table) - 1
	wr := w[TierRemote]
	for li := range p.Levels {
		lv := &p.Levels[li]
		cum := 0
		ids := lv.IDs
		bs := lv.BlockSize
		last := len(ids) - 1
		byTier := sc.byTier
	blocks:
		for i, id := range ids {
			k := fixKey(id)
			j := int(k) & mask
			e := table[j]
			for e.key() != k {
				if e == 0 {
					break blocks
				}
				j = (j + 1) & mask
				e = table[j]
			}
			bt := bs
			if i == last {
				bt = lv.LastTokens
			}
			cum += bt
			// byTier is indexed by member slot << 3 | tier: one add per
			// block; [slot << 3] is the slot's total and marks it touched.
			x := int(e.val() & 0xffff07)
			x = x>>5 | x&7
			if byTier[x&^7] == 0 {
				sc.touched = append(sc.touched, x>>3)
			}
			byTier[x&^7] += bt
			byTier[x] += bt
		}
		for _, s := range sc.touched {
			v, lt := 0.0, 0
			for t := TierGPU; t < numTiers; t++ {
				n := byTier[s<<3|int(t)]
				v += float64(n) * (w[t] - wr)
				lt += n
				byTier[s<<3|int(t)] = 0
			}
			byTier[s<<3] = 0
			sc.local[s], sc.tokens[s] = v, lt
		}
		base := float64(cum) * wr
		for c, s := range cand {
			v, lt := base, 0
			if s >= 0 {
				v += sc.local[s]
				lt = sc.tokens[s]
			}
			if li == 0 || v > out[c].Score {
				out[c].Score, out[c].LocalTokens, out[c].CachedTokens = v, lt, cum
			}
		}
		for _, s := range sc.touched {
			sc.local[s], sc.tokens[s] = 0, 0
		}
		sc.touched = sc.touched[:0]
	}
	for c, s := range cand {
		if s >= 0 {
			out[c].Score -= ix.cfg.LoadWeight * ix.members[s].Load
		}
	}
	return dst
}

// PrefixLookup appends, for each member, the longest run of leading
// blocks of p it holds itself and the slowest tier among them (the block
// size that covers the most tokens). Answered from the local index.
func (ix *Index) PrefixLookup(dst []NodePrefix, p *Prompt) []NodePrefix {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	start := len(dst)
	for _, m := range ix.members {
		if m.Name != "" {
			dst = append(dst, NodePrefix{Node: m.Name})
		}
	}
	out := dst[start:]
	for li := range p.Levels {
		lv := &p.Levels[li]
		// With one owner per artifact, only the owner of block 0 has a
		// leading run; it ends where the owner changes or the chain misses.
		owner, tokens, blocks, slow := -1, 0, 0, TierNone
		for i, id := range lv.IDs {
			j := ix.findLocked(fixKey(id))
			if j < 0 {
				break
			}
			s, t := int(ix.table[j].val()>>8), Tier(ix.table[j].val()&0xff)
			if owner >= 0 && s != owner {
				break
			}
			owner = s
			blocks++
			tokens += lv.blockTokens(i)
			slow = max(slow, t)
		}
		if owner < 0 {
			continue
		}
		for c := range out {
			if out[c].Node == ix.members[owner].Name && tokens > out[c].Tokens {
				out[c].Blocks, out[c].BlockSize, out[c].Tokens, out[c].Tier = blocks, lv.BlockSize, tokens, slow
			}
		}
	}
	return dst
}
