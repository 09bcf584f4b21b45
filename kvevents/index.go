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

// Index maps block hashes (int form) to the pods that hold them and in
// which media, fed by events. Safe for concurrent use: each pod has its
// own lock, so ingest for one pod never waits for another.
type Index struct {
	maxPerPod int

	mu   sync.RWMutex
	pods map[string]*podBlocks
}

type podBlocks struct {
	mu      sync.RWMutex
	blocks  map[uint64]Media
	dropped uint64 // stores refused at the per-pod cap
}

// NewIndex returns an empty index; maxBlocksPerPod <= 0 means
// DefaultMaxBlocksPerPod.
func NewIndex(maxBlocksPerPod int) *Index {
	if maxBlocksPerPod <= 0 {
		maxBlocksPerPod = DefaultMaxBlocksPerPod
	}
	return &Index{maxPerPod: maxBlocksPerPod, pods: map[string]*podBlocks{}}
}

func (ix *Index) pod(name string, create bool) *podBlocks {
	ix.mu.RLock()
	p := ix.pods[name]
	ix.mu.RUnlock()
	if p != nil || !create {
		return p
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if p = ix.pods[name]; p == nil {
		p = &podBlocks{blocks: map[uint64]Media{}}
		ix.pods[name] = p
	}
	return p
}

// AddPod makes pod known (with no blocks) so that it is listed and scored.
func (ix *Index) AddPod(pod string) { ix.pod(pod, true) }

// RemovePod forgets pod and its blocks.
func (ix *Index) RemovePod(pod string) {
	ix.mu.Lock()
	delete(ix.pods, pod)
	ix.mu.Unlock()
}

// Apply applies a batch's events for pod in order. It reports whether the
// batch cleared the pod (AllBlocksCleared).
func (ix *Index) Apply(pod string, b *Batch) (cleared bool) {
	p := ix.pod(pod, true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range b.Events {
		ev := &b.Events[i]
		m := MediaOf(ev.Medium)
		switch ev.Kind {
		case BlockStored:
			for _, h := range ev.BlockHashes {
				old, ok := p.blocks[h]
				if !ok && len(p.blocks) >= ix.maxPerPod {
					p.dropped++
					continue
				}
				p.blocks[h] = old | m
			}
		case BlockRemoved:
			for _, h := range ev.BlockHashes {
				if old, ok := p.blocks[h]; ok {
					if old &^= m; old == 0 {
						delete(p.blocks, h)
					} else {
						p.blocks[h] = old
					}
				}
			}
		case AllBlocksCleared:
			clear(p.blocks)
			cleared = true
		}
	}
	return cleared
}

// Clear drops every block of pod (it restarted, cleared or went silent).
func (ix *Index) Clear(pod string) {
	if p := ix.pod(pod, false); p != nil {
		p.mu.Lock()
		p.blocks = map[uint64]Media{} // give the memory back
		p.mu.Unlock()
	}
}

// Run reports how many of hashes, from the first, pod holds, and stores
// the media of each of those in media[i] (media may be nil; otherwise
// len(media) >= len(hashes)). One read lock per call.
func (ix *Index) Run(pod string, hashes []uint64, media []Media) int {
	p := ix.pod(pod, false)
	if p == nil {
		return 0
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	for i, h := range hashes {
		m, ok := p.blocks[h]
		if !ok {
			return i
		}
		if media != nil {
			media[i] = m
		}
	}
	return len(hashes)
}

// Holds reports the media pod holds the block h in (0: none).
func (ix *Index) Holds(pod string, h uint64) Media {
	p := ix.pod(pod, false)
	if p == nil {
		return 0
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.blocks[h]
}

// PodCount is a pod's size in the index.
type PodCount struct {
	Pod     string
	Blocks  int
	Dropped uint64 // stores refused at the per-pod cap
}

// Pods lists the pods with their block counts, sorted by name.
func (ix *Index) Pods() []PodCount {
	ix.mu.RLock()
	out := make([]PodCount, 0, len(ix.pods))
	for name, p := range ix.pods {
		p.mu.RLock()
		out = append(out, PodCount{Pod: name, Blocks: len(p.blocks), Dropped: p.dropped})
		p.mu.RUnlock()
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
