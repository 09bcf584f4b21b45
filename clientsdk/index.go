package clientsdk

import (
	"sync"
	"time"

	"github.com/stratacache/stratacache/placement"
)

// Tier is where a node holds a block, for scoring.
type Tier uint8

// Tiers, fastest first.
const (
	TierNone Tier = iota
	TierGPU
	TierCPU
	TierCXL
	TierDisk
	TierRemote
	numTiers
)

// String names the tier.
func (t Tier) String() string {
	return [...]string{"none", "gpu", "cpu", "cxl", "disk", "remote", "?"}[min(int(t), int(numTiers))]
}

// Tier media as the ownership directory's records carry them: one byte
// per entry with the node's tiers.Kind value (the record layout of
// cluster/delta.go, which follower.go decodes). They are spelled out here, not imported, so that the SDK does
// not link tiers/; TestTierKindsMatchTiers holds them equal to tiers.Kind.
const (
	kindMemory uint8 = 1
	kindCXL    uint8 = 2
	kindDisk   uint8 = 3
	kindRemote uint8 = 4
)

// TierOfKind maps the tier-medium byte of a directory record (a node's
// tiers.Kind: 1 memory, 2 CXL, 3 disk, 4 remote) to the scoring tier; an
// unknown medium is TierNone.
func TierOfKind(kind uint8) Tier {
	switch kind {
	case kindMemory:
		return TierCPU
	case kindCXL:
		return TierCXL
	case kindDisk:
		return TierDisk
	case kindRemote:
		return TierRemote
	}
	return TierNone
}

// Member is a node as the index knows it.
type Member struct {
	// Name is the node's cluster name (the directory's owner name).
	Name string
	// Addr is its native-protocol address (host:port).
	Addr string
	// PeerAddr is its cluster peer address (MemberInfo.peer_addr),
	// where Prefetch is sent; empty: Prefetch falls back (ParamStore).
	PeerAddr string
	// Load is its requests in flight (MemberInfo.load), for scoring.
	Load float64
}

// Index is the client's local view of the cluster: members and the
// ownership of artifacts (artifact id hash -> node, tier), kept current by
// whoever follows the cluster (Put/Delete/SetMembers) and read without any
// network round trip by routing, PrefixLookup and ScoreNodes.
//
// The table is open addressing with linear probing on the id hash (already
// uniform: xxhash), 8 bytes per slot (see entry), so that a probe run
// stays in one cache line. Safe for concurrent use: readers share a
// RWMutex read lock per call.
//
// A member can be marked down (MarkDown: its connections or its directory
// sync failed); routing, PrefixLookup, ScoreNodes and Scores leave it out
// until it is marked up again (MarkUp, or a successful retry once its
// backoff has passed: health.go).
type Index struct {
	cfg ScoreConfig

	mu      sync.RWMutex
	members []Member       // by slot; a removed member leaves Name ""
	health  []memberHealth // by slot, beside members
	ndown   int            // members marked down
	slots   map[string]int
	table   []entry // len a power of two
	mem     *tableHolder
	n       int

	scratch sync.Pool // *scoreScratch

	retry RetryPolicy      // backoff of members marked down (health.go)
	clock func() time.Time // nil: time.Now
}

// NewIndex returns an empty index scoring with cfg (DefaultScoreConfig
// when zero).
func NewIndex(cfg ScoreConfig) *Index {
	if cfg == (ScoreConfig{}) {
		cfg = DefaultScoreConfig()
	}
	ix := &Index{cfg: cfg, slots: map[string]int{}, retry: defaultRetry}
	ix.setTable(newTable(1024))
	return ix
}

// entry is one table slot in 8 bytes: the top 40 bits of the id hash (the
// key: 0 marks an empty slot; the table position is taken from its low
// bits, so that a delete can find an entry's home) and, below, member
// slot << 8 | tier. Eight bytes keep a 1M-entry table at 16 MiB, mostly in
// the last-level cache; a 40-bit key makes a false match about 1e-12 per
// probe, acceptable in an index that is a hint anyway (a wrong owner costs
// a fallback, never wrong data).
type entry uint64

func mkEntry(key uint64, val uint32) entry { return entry(key<<24 | uint64(val)) }
func (e entry) key() uint64                { return uint64(e) >> 24 }
func (e entry) val() uint32                { return uint32(e & 0xffffff) }

// fixKey is the table key of an id hash: its top 40 bits, never 0 (0
// marks an empty slot).
func fixKey(h uint64) uint64 {
	if k := h >> 24; k != 0 {
		return k
	}
	return 1
}

// SetMembers replaces the member set. Entries owned by members that are no
// longer present are dropped; the others keep their slot, and their
// health (marked down stays down) unless their addresses changed.
func (ix *Index) SetMembers(ms []Member) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	keep := map[string]bool{}
	for _, m := range ms {
		keep[m.Name] = true
		if s, ok := ix.slots[m.Name]; ok {
			if old := ix.members[s]; old.Addr != m.Addr || old.PeerAddr != m.PeerAddr {
				ix.resetHealthLocked(s) // a new incarnation: tried afresh
			}
			ix.members[s] = m
			continue
		}
		s := -1
		for i := range ix.members {
			if ix.members[i].Name == "" {
				s = i
				break
			}
		}
		if s < 0 {
			s = len(ix.members)
			ix.members = append(ix.members, Member{})
			ix.health = append(ix.health, memberHealth{})
		}
		ix.members[s] = m
		ix.resetHealthLocked(s)
		ix.slots[m.Name] = s
	}
	for name, s := range ix.slots {
		if !keep[name] {
			ix.dropSlotLocked(s)
			ix.members[s] = Member{}
			ix.resetHealthLocked(s)
			delete(ix.slots, name)
		}
	}
}

// SetLoad updates one member's load.
func (ix *Index) SetLoad(name string, load float64) {
	ix.mu.Lock()
	if s, ok := ix.slots[name]; ok {
		ix.members[s].Load = load
	}
	ix.mu.Unlock()
}

// Members returns a copy of the current members.
func (ix *Index) Members() []Member {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]Member, 0, len(ix.slots))
	for _, m := range ix.members {
		if m.Name != "" {
			out = append(out, m)
		}
	}
	return out
}

func (ix *Index) dropSlotLocked(s int) {
	for i := 0; i < len(ix.table); {
		if ix.table[i].key() != 0 && int(ix.table[i].val()>>8) == s {
			ix.removeAtLocked(i) // shifts a later entry into i: look again
			continue
		}
		i++
	}
}

// Put records that node holds the artifact with id hash in tier t (the
// newest owner wins, as in the cluster's directory). Unknown nodes are
// ignored; it reports whether the entry was taken.
func (ix *Index) Put(node string, hash uint64, t Tier) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	s, ok := ix.slots[node]
	if !ok || s >= 1<<16 {
		return false
	}
	if (ix.n+1)*4 > len(ix.table)*3 {
		ix.growLocked()
	}
	k := fixKey(hash)
	mask := len(ix.table) - 1
	for i := int(k) & mask; ; i = (i + 1) & mask {
		switch ix.table[i].key() {
		case 0:
			ix.table[i] = mkEntry(k, uint32(s)<<8|uint32(t))
			ix.n++
			return true
		case k:
			ix.table[i] = mkEntry(k, uint32(s)<<8|uint32(t))
			return true
		}
	}
}

// Delete forgets the artifact with id hash.
func (ix *Index) Delete(hash uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if i := ix.findLocked(fixKey(hash)); i >= 0 {
		ix.removeAtLocked(i)
	}
}

// Owner returns the node that holds the artifact and in which tier.
func (ix *Index) Owner(hash uint64) (string, Tier, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	i := ix.findLocked(fixKey(hash))
	if i < 0 {
		return "", TierNone, false
	}
	v := ix.table[i].val()
	return ix.members[v>>8].Name, Tier(v & 0xff), true
}

// Len is the number of artifacts indexed.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.n
}

func (ix *Index) findLocked(k uint64) int {
	mask := len(ix.table) - 1
	for i := int(k) & mask; ; i = (i + 1) & mask {
		switch ix.table[i].key() {
		case 0:
			return -1
		case k:
			return i
		}
	}
}

// removeAtLocked empties slot i and shifts the following run back so that
// linear probing never needs tombstones.
func (ix *Index) removeAtLocked(i int) {
	mask := len(ix.table) - 1
	ix.table[i] = 0
	ix.n--
	for j := (i + 1) & mask; ix.table[j].key() != 0; j = (j + 1) & mask {
		home := int(ix.table[j].key()) & mask
		// Move j to i when its home is not in the cyclic range (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			ix.table[i], ix.table[j] = ix.table[j], 0
			i = j
		}
	}
}

func (ix *Index) growLocked() {
	old := ix.table
	t, m := newTable(len(old) * 2)
	mask := len(t) - 1
	for _, e := range old {
		if e.key() == 0 {
			continue
		}
		i := int(e.key()) & mask
		for t[i].key() != 0 {
			i = (i + 1) & mask
		}
		t[i] = e
	}
	ix.setTable(t, m)
}

// plan is where one request goes: member addresses, best first, and its
// presumed holder (the directory's owner, else the rendezvous home).
type plan struct {
	ix     *Index
	addrs  []string
	holder string // address
	// holderDown is why the holder is marked down, when it is and its
	// retry is not due (it is then tried last, if at all).
	holderDown error
}

// route plans a request for an artifact: its owner, its rendezvous home
// (placement.Home over every member with an address, the placement the
// nodes use), then the other members; members marked down whose retry is
// not due go last, in the same order.
func (ix *Index) route(hash uint64) plan {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if len(ix.slots) == 0 {
		return plan{}
	}
	names := make([]string, 0, len(ix.slots))
	for _, m := range ix.members {
		if m.Name != "" && m.Addr != "" {
			names = append(names, m.Name)
		}
	}
	if len(names) == 0 {
		return plan{} // members known only by their peer ports
	}
	order := make([]int, 0, len(names))
	owner := -1
	if i := ix.findLocked(fixKey(hash)); i >= 0 {
		if s := int(ix.table[i].val() >> 8); ix.members[s].Addr != "" {
			owner = s
			order = append(order, s)
		}
	}
	home := ix.slots[placement.Home(hash, names)]
	if home != owner {
		order = append(order, home)
	}
	for s, m := range ix.members {
		if m.Name != "" && m.Addr != "" && s != owner && s != home {
			order = append(order, s)
		}
	}
	now := ix.now()
	p := plan{ix: ix, addrs: make([]string, 0, len(order)), holder: ix.members[order[0]].Addr}
	if h := ix.health[order[0]]; !h.due(now) {
		p.holderDown = h.cause
	}
	for _, s := range order {
		if ix.health[s].due(now) {
			p.addrs = append(p.addrs, ix.members[s].Addr)
		}
	}
	for _, s := range order {
		if !ix.health[s].due(now) {
			p.addrs = append(p.addrs, ix.members[s].Addr)
		}
	}
	return p
}

// peerAddrOf returns the peer address of the member whose native address
// is addr.
func (ix *Index) peerAddrOf(addr string) string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, m := range ix.members {
		if m.Name != "" && m.Addr == addr {
			return m.PeerAddr
		}
	}
	return ""
}

func (ix *Index) addrs() []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []string
	for _, m := range ix.members {
		if m.Name != "" && m.Addr != "" {
			out = append(out, m.Addr)
		}
	}
	return out
}
