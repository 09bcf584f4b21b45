package duel

// Config holds the tunables. DefaultConfig's values were chosen on
// generated training traces only (docs/SIMULATIONS.md, "Held-out
// evaluation"), never on the traces the policy is reported on.
type Config struct {
	// ProbationShare is the share of the capacity new keys may hold in
	// filter mode before they are evicted ahead of protected keys.
	ProbationShare float64
	// GhostFactor sizes the ghost: ids of this many capacities of evicted
	// keys are remembered; a ghost hit is admitted straight to protected.
	GhostFactor int
	// ShadowMin is the least capacity of a sampled shadow cache.
	ShadowMin int
	// Window is the number of sampled accesses after which the shadows'
	// hit counts are halved (an exponential memory of the recent winner).
	Window int
	// Margin: filter mode is followed only while its shadow hits this
	// share more than LRU's, so that near-ties, where the shadows'
	// sampling noise decides, go to LRU.
	Margin float64
}

// DefaultConfig returns the tuned values.
func DefaultConfig() Config {
	return Config{ProbationShare: 0.05, GhostFactor: 4, ShadowMin: 256, Window: 4096, Margin: 0.01}
}

const (
	segNone uint8 = iota
	segProbation
	segProtected
)

// Duel evicts like LRU or like a frequency-filtered segmented LRU,
// whichever currently hits more on two sampled shadow caches.
//
// Resident keys live in one of two lists, most recent at the front:
// probation (keys seen once since they entered) and protected (keys touched
// again, or inserted while remembered by the ghost, which holds
// fingerprints of the last ghostFactor x capacity evicted keys). Evict in
//   - lru mode takes the older of the two resident tails (exact LRU over
//     all resident keys: both lists are ordered by last access);
//   - filter mode takes the probation tail while probation holds more than
//     probationShare of the capacity, else demotes the protected tail to
//     probation and tries again.
//
// Pinned keys keep their place; Evict steps over them. Not safe for
// concurrent use.
type Duel struct {
	c        core
	shadowLR *core
	shadowFL *core
	mask     uint64 // a key is sampled when hash(key)&mask == 0
	hitsLR   float64
	hitsFL   float64
	samples  int
	filter   bool
	cfg      Config
}

// New returns an empty Duel for capacity keys (capacity > 0) with
// DefaultConfig.
func New(capacity int) *Duel { return NewConfig(capacity, DefaultConfig()) }

// NewConfig returns an empty Duel for capacity keys with cfg; zero fields
// take DefaultConfig's values.
func NewConfig(capacity int, cfg Config) *Duel {
	def := DefaultConfig()
	if cfg.ProbationShare <= 0 {
		cfg.ProbationShare = def.ProbationShare
	}
	if cfg.GhostFactor <= 0 {
		cfg.GhostFactor = def.GhostFactor
	}
	if cfg.ShadowMin <= 0 {
		cfg.ShadowMin = def.ShadowMin
	}
	if cfg.Window <= 0 {
		cfg.Window = def.Window
	}
	if cfg.Margin < 0 {
		cfg.Margin = 0
	}
	capacity = max(1, capacity)
	d := &Duel{c: newCore(capacity, false, cfg), cfg: cfg}
	s := 1
	for capacity/(s*2) >= cfg.ShadowMin {
		s *= 2
	}
	d.mask = uint64(s - 1)
	sc := max(1, capacity/s)
	lr, fl := newCore(sc, false, cfg), newCore(sc, true, cfg)
	d.shadowLR, d.shadowFL = &lr, &fl
	return d
}

// Name implements eviction.Policy.
func (d *Duel) Name() string { return "duel" }

// Filtering reports whether Evict currently follows the filter mode.
func (d *Duel) Filtering() bool { return d.filter }

func mix(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	return k
}

// sample feeds an access of key to the shadows and updates the mode.
func (d *Duel) sample(key uint64) {
	if mix(key)&d.mask != 0 {
		return
	}
	if d.shadowLR.access(key) {
		d.hitsLR++
	}
	if d.shadowFL.access(key) {
		d.hitsFL++
	}
	d.samples++
	if d.samples >= d.cfg.Window {
		d.samples = 0
		d.hitsLR /= 2
		d.hitsFL /= 2
	}
	d.filter = d.hitsFL > d.hitsLR*(1+d.cfg.Margin)
	d.c.filter = d.filter
}

// Insert implements eviction.Policy.
func (d *Duel) Insert(key uint64) {
	d.sample(key)
	d.c.insert(key)
}

// Touch implements eviction.Policy.
func (d *Duel) Touch(key uint64) {
	if d.c.resident(key) {
		d.sample(key)
		d.c.touch(key)
	}
}

// Contains implements eviction.Policy.
func (d *Duel) Contains(key uint64) bool { return d.c.resident(key) }

// Remove implements eviction.Policy.
func (d *Duel) Remove(key uint64) { d.c.remove(key) }

// Evict implements eviction.Policy.
func (d *Duel) Evict() (uint64, bool) { return d.c.evict() }

// Pin implements eviction.Policy.
func (d *Duel) Pin(key uint64) { d.c.pin(key) }

// Unpin implements eviction.Policy.
func (d *Duel) Unpin(key uint64) { d.c.unpin(key) }

// Len implements eviction.Policy.
func (d *Duel) Len() int { return d.c.len() }
