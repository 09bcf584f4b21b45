package clientsdk

// ScoreConfig weighs cached tokens by where they sit, and load.
//
// The default (DefaultScoreConfig) bounds the load's effect so that a
// node holding the whole cached prefix never scores below one holding
// none, whatever their loads: load decides between nodes that hold
// alike, and on prompts nobody holds. LoadWeight, unbounded, is for
// callers who want a loaded enough node to lose to any other.
type ScoreConfig struct {
	// TierWeights[t] is what one cached token in tier t is worth on the
	// node that holds it, as a fraction of a token that need not be
	// recomputed (GPU 1.0 ... disk 0.5). TierRemote is the worth of a
	// token cached on another node (read over the network through the
	// node's remote tier).
	TierWeights [numTiers]float64
	// LoadShare bounds the load's effect: a node with load L (Member.Load,
	// requests in flight) loses LoadShare x (C+1) x L/(L+LoadHalf), C the
	// prompt's cached tokens. Below (w - TierWeights[TierRemote])/2 for
	// every local tier weight w, a whole-prefix holder always outscores a
	// node holding nothing (the defaults: 0.1 against (0.5-0.3)/2).
	LoadShare float64
	// LoadHalf is the load at which half of the LoadShare is lost
	// (default 4).
	LoadHalf float64
	// LoadWeight is subtracted per request in flight, in weighted tokens,
	// without bound (0 by default).
	LoadWeight float64
}

// DefaultScoreConfig: GPU 1.0, CPU 0.9, CXL 0.8, disk 0.5, remote 0.3; the
// load takes away at most a tenth of the cached prefix's worth (LoadShare
// 0.1, half of it at 4 requests in flight).
func DefaultScoreConfig() ScoreConfig {
	var c ScoreConfig
	c.TierWeights[TierGPU] = 1.0
	c.TierWeights[TierCPU] = 0.9
	c.TierWeights[TierCXL] = 0.8
	c.TierWeights[TierDisk] = 0.5
	c.TierWeights[TierRemote] = 0.3
	c.LoadShare = 0.1
	c.LoadHalf = 4
	return c
}

// Score is one node's routing score for a prompt.
type Score struct {
	Node string
	// Addr is the node's native address ("" when the index does not
	// know it).
	Addr string
	// Score = weighted cached tokens - the load's share (ScoreConfig);
	// higher is better.
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
// member), members marked down left out, for routing p: for the longest
// prefix of p cached anywhere in the cluster (on members that are up),
// each token counts TierWeights[tier] on the node holding it and
// TierWeights[TierRemote] elsewhere; the best block size counts; then the
// load's share is subtracted (ScoreConfig). Candidates the index does not know
// score as if they held nothing. Answered from the local index, no
// allocation once dst has room.
func (ix *Index) ScoreNodes(dst []Score, p *Prompt, candidates []string) []Score {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	w := &ix.cfg.TierWeights
	sc := ix.getScratch(len(ix.members))
	defer ix.scratch.Put(sc)
	start := len(dst)
	// cand[c] is out[c]'s member slot (-1: unknown), resolved once;
	// members marked down are left out.
	cand := sc.cand[:0]
	if candidates == nil {
		for s, m := range ix.members {
			if m.Name != "" && !ix.health[s].down {
				dst = append(dst, Score{Node: m.Name, Addr: m.Addr})
				cand = append(cand, s)
			}
		}
	} else {
		for _, name := range candidates {
			s, ok := ix.slots[name]
			switch {
			case !ok:
				dst = append(dst, Score{Node: name})
				cand = append(cand, -1)
			case !ix.health[s].down:
				dst = append(dst, Score{Node: name, Addr: ix.members[s].Addr})
				cand = append(cand, s)
			}
		}
	}
	out := dst[start:]
	sc.cand = cand
	table := ix.table
	mask := len(table) - 1
	wr := w[TierRemote]
	anyDown := ix.ndown > 0
	maxCum := 0
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
			// byTier is indexed by member slot << 3 | tier: one add per
			// block; [slot << 3] is the slot's total and marks it touched.
			x := int(e.val() & 0xffff07)
			x = x>>5 | x&7
			if anyDown && ix.health[x>>3].down {
				break // held by a member that is down: nobody can fetch it
			}
			bt := bs
			if i == last {
				bt = lv.LastTokens
			}
			cum += bt
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
		maxCum = max(maxCum, cum)
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
	lw, share, half := ix.cfg.LoadWeight, ix.cfg.LoadShare, ix.cfg.LoadHalf
	if half <= 0 {
		half = 4
	}
	for c, s := range cand {
		if s < 0 {
			continue
		}
		load := ix.members[s].Load
		out[c].Score -= lw * load
		if share > 0 && load > 0 {
			out[c].Score -= share * float64(maxCum+1) * load / (load + half)
		}
	}
	return dst
}

// PrefixLookup appends, for each member not marked down, the longest run of leading
// blocks of p it holds itself and the slowest tier among them (the block
// size that covers the most tokens). Answered from the local index.
func (ix *Index) PrefixLookup(dst []NodePrefix, p *Prompt) []NodePrefix {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	start := len(dst)
	for s, m := range ix.members {
		if m.Name != "" && !ix.health[s].down {
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
