package kvevents

import (
	"sort"
	"sync"
)

// Media is a set of media a pod holds a block in, one bit each.
type Media uint8

// Media bits. vLLM's own cache is GPU (and CPU with its CPU offloading);
// a StrataCache node publishes CPU, CXL and DISK.
const (
	MediaGPU Media = 1 << iota
	MediaCPU
	MediaCXL
	MediaDisk
	MediaOther
)

// MediaOf maps an (upper-cased) medium name to its bit.
func MediaOf(medium string) Media {
	switch medium {
	case "GPU", "":
		return MediaGPU
	case "CPU":
		return MediaCPU
	case "CXL":
		return MediaCXL
	case "DISK":
		return MediaDisk
	}
	return MediaOther
}

// Fastest is the fastest medium in m (GPU, CPU, CXL, DISK, other), 0 for none.
func (m Media) Fastest() Media { return m & -m }

// String names the fastest medium of m as events spell it.
func (m Media) String() string {
	switch m.Fastest() {
	case MediaGPU:
		return "GPU"
	case MediaCPU:
		return "CPU"
	case MediaCXL:
		return "CXL"
	case MediaDisk:
		return "DISK"
	case MediaOther:
		return "OTHER"
	}
	return ""
}

// DefaultMaxBlocksPerPod bounds one pod's entries (a GPU of 80 GiB holds
// well under a million 16-token blocks of any model worth routing); past
// it, stores of new blocks are dropped and counted.
const DefaultMaxBlocksPerPod = 4 << 20

// MaxPods bounds the pods one index follows (a pod's slot is 24 bits).
const MaxPods = 1 << 24

const numShards = 64

// Index maps block hashes (int form) to the pods that hold them and in
// which media, fed by events. It is one table keyed by block hash, not
// one per pod, so that scoring a prompt costs one lookup per block
// whatever the number of pods (a table per pod cost a lookup per pod and
// block: 16k lookups, ~5 ms, for an 8k-token prompt over 64 pods; see
// docs/router.md). The table is sharded by hash, each shard under its own
// lock; a pod's counters under the pods lock. Safe for concurrent use.
type Index struct {
	maxPerPod int

	shards [numShards]shard

	mu    sync.RWMutex
	slots map[string]int // pod -> slot
	pods  []podInfo      // by slot; a removed pod leaves name ""
}

type podInfo struct {
	name    string
	blocks  int
	dropped uint64 // stores refused at the per-pod cap
}

type shard struct {
	mu sync.RWMutex
	m  map[uint64]holders
}

// holders is the set of (pod slot, media) holding one block, as
// slot<<8 | media words: two inline, the rest spilled.
type holders struct {
	n    uint32
	a    [2]uint32
	more []uint32
}

func (h *holders) at(i int) uint32 {
	if i < 2 {
		return h.a[i]
	}
	return h.more[i-2]
}

func (h *holders) set(i int, v uint32) {
	if i < 2 {
		h.a[i] = v
	} else {
		h.more[i-2] = v
	}
}

// find returns the index of slot's word, or -1.
func (h *holders) find(slot int) int {
	for i := 0; i < int(h.n); i++ {
		if int(h.at(i)>>8) == slot {
			return i
		}
	}
	return -1
}

func (h *holders) add(v uint32) {
	if h.n < 2 {
		h.a[h.n] = v
	} else {
		h.more = append(h.more, v)
	}
	h.n++
}

func (h *holders) removeAt(i int) {
	last := int(h.n) - 1
	h.set(i, h.at(last))
	if last >= 2 {
		h.more = h.more[:last-2]
		if len(h.more) == 0 {
			h.more = nil
		}
	}
	h.n--
}

// Holder is one pod holding a block.
type Holder struct {
	Slot  int
	Media Media
}

// NewIndex returns an empty index; maxBlocksPerPod <= 0 means
// DefaultMaxBlocksPerPod.
func NewIndex(maxBlocksPerPod int) *Index {
	if maxBlocksPerPod <= 0 {
		maxBlocksPerPod = DefaultMaxBlocksPerPod
	}
	ix := &Index{maxPerPod: maxBlocksPerPod, slots: map[string]int{}}
	for i := range ix.shards {
		ix.shards[i].m = map[uint64]holders{}
	}
	return ix
}

func (ix *Index) shard(h uint64) *shard {
	// Block hashes are digests (or xxhash): any bits are uniform.
	return &ix.shards[h>>58]
}

// slot returns pod's slot, creating it when create.
func (ix *Index) slot(name string, create bool) (int, bool) {
	ix.mu.RLock()
	s, ok := ix.slots[name]
	ix.mu.RUnlock()
	if ok || !create {
		return s, ok
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if s, ok = ix.slots[name]; ok {
		return s, true
	}
	s = -1
	for i := range ix.pods {
		if ix.pods[i].name == "" {
			s = i
			break
		}
	}
	if s < 0 {
		if len(ix.pods) >= MaxPods {
			return 0, false
		}
		s = len(ix.pods)
		ix.pods = append(ix.pods, podInfo{})
	}
	ix.pods[s] = podInfo{name: name}
	ix.slots[name] = s
	return s, true
}

// AddPod makes pod known (with no blocks) so that it is listed and scored.
func (ix *Index) AddPod(pod string) { ix.slot(pod, true) }

// Slot is pod's slot (for Holders), false when unknown.
func (ix *Index) Slot(pod string) (int, bool) { return ix.slot(pod, false) }

// PodName is the pod at slot ("" when none).
func (ix *Index) PodName(slot int) string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if slot < 0 || slot >= len(ix.pods) {
		return ""
	}
	return ix.pods[slot].name
}

// RemovePod forgets pod and its blocks.
func (ix *Index) RemovePod(pod string) {
	s, ok := ix.slot(pod, false)
	if !ok {
		return
	}
	ix.clearSlot(s)
	ix.mu.Lock()
	delete(ix.slots, pod)
	ix.pods[s] = podInfo{}
	ix.mu.Unlock()
}

// Apply applies a batch's events for pod in order. It reports whether the
// batch cleared the pod (AllBlocksCleared).
func (ix *Index) Apply(pod string, b *Batch) (cleared bool) {
	s, ok := ix.slot(pod, true)
	if !ok {
		return false
	}
	var added, dropped int
	ix.mu.RLock()
	have := ix.pods[s].blocks
	ix.mu.RUnlock()
	for i := range b.Events {
		ev := &b.Events[i]
		m := MediaOf(ev.Medium)
		switch ev.Kind {
		case BlockStored:
			for _, h := range ev.BlockHashes {
				sh := ix.shard(h)
				sh.mu.Lock()
				hs := sh.m[h]
				if j := hs.find(s); j >= 0 {
					hs.set(j, hs.at(j)|uint32(m))
				} else if have+added >= ix.maxPerPod {
					dropped++
					sh.mu.Unlock()
					continue
				} else {
					hs.add(uint32(s)<<8 | uint32(m))
					added++
				}
				sh.m[h] = hs
				sh.mu.Unlock()
			}
		case BlockRemoved:
			for _, h := range ev.BlockHashes {
				sh := ix.shard(h)
				sh.mu.Lock()
				if hs, ok := sh.m[h]; ok {
					if j := hs.find(s); j >= 0 {
						v := hs.at(j) &^ uint32(m)
						if v&0xff == 0 {
							hs.removeAt(j)
							added--
						} else {
							hs.set(j, v)
						}
						if hs.n == 0 {
							delete(sh.m, h)
						} else {
							sh.m[h] = hs
						}
					}
				}
				sh.mu.Unlock()
			}
		case AllBlocksCleared:
			ix.addCount(s, added, dropped)
			added, dropped = 0, 0
			ix.clearSlot(s)
			have = 0
			cleared = true
		}
	}
	ix.addCount(s, added, dropped)
	return cleared
}

func (ix *Index) addCount(s, added, dropped int) {
	if added == 0 && dropped == 0 {
		return
	}
	ix.mu.Lock()
	ix.pods[s].blocks += added
	ix.pods[s].dropped += uint64(dropped)
	ix.mu.Unlock()
}

// clearSlot drops every block of slot s: a scan of the whole table, fine
// for what calls it (a pod that restarted, cleared or went silent).
func (ix *Index) clearSlot(s int) {
	for i := range ix.shards {
		sh := &ix.shards[i]
		sh.mu.Lock()
		for h, hs := range sh.m {
			if j := hs.find(s); j >= 0 {
				hs.removeAt(j)
				if hs.n == 0 {
					delete(sh.m, h)
				} else {
					sh.m[h] = hs
				}
			}
		}
		sh.mu.Unlock()
	}
	ix.mu.Lock()
	ix.pods[s].blocks = 0
	ix.mu.Unlock()
}

// Clear drops every block of pod (it restarted, cleared or went silent).
func (ix *Index) Clear(pod string) {
	if s, ok := ix.slot(pod, false); ok {
		ix.clearSlot(s)
	}
}

// AppendHolders appends the pods that hold block h, with their media.
func (ix *Index) AppendHolders(dst []Holder, h uint64) []Holder {
	sh := ix.shard(h)
	sh.mu.RLock()
	hs, ok := sh.m[h]
	if ok {
		for i := 0; i < int(hs.n); i++ {
			v := hs.at(i)
			dst = append(dst, Holder{Slot: int(v >> 8), Media: Media(v)})
		}
	}
	sh.mu.RUnlock()
	return dst
}

// Holds reports the media pod holds the block h in (0: none).
func (ix *Index) Holds(pod string, h uint64) Media {
	s, ok := ix.slot(pod, false)
	if !ok {
		return 0
	}
	sh := ix.shard(h)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	hs := sh.m[h]
	if j := hs.find(s); j >= 0 {
		return Media(hs.at(j))
	}
	return 0
}

// Run reports how many of hashes, from the first, pod holds, and stores
// the media of each of those in media[i] (media may be nil; otherwise
// len(media) >= len(hashes)).
func (ix *Index) Run(pod string, hashes []uint64, media []Media) int {
	for i, h := range hashes {
		m := ix.Holds(pod, h)
		if m == 0 {
			return i
		}
		if media != nil {
			media[i] = m
		}
	}
	return len(hashes)
}

// PodCount is a pod's size in the index.
type PodCount struct {
	Pod     string
	Slot    int
	Blocks  int
	Dropped uint64 // stores refused at the per-pod cap
}

// Pods lists the pods with their block counts, sorted by name.
func (ix *Index) Pods() []PodCount {
	ix.mu.RLock()
	out := make([]PodCount, 0, len(ix.slots))
	for s, p := range ix.pods {
		if p.name != "" {
			out = append(out, PodCount{Pod: p.name, Slot: s, Blocks: p.blocks, Dropped: p.dropped})
		}
	}
	ix.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Pod < out[j].Pod })
	return out
}

// Len is the number of (pod, block) entries.
func (ix *Index) Len() int {
	n := 0
	for _, p := range ix.Pods() {
		n += p.Blocks
	}
	return n
}
