package disk

import (
	"errors"
	"fmt"
	"time"

	"github.com/stratacache/stratacache/extent"
	"github.com/stratacache/stratacache/tiers/internal/engine"
)

// Durability says when a store reaches stable storage.
type Durability string

// The durability settings.
const (
	// DurabilityNone leaves write-back to the kernel: a process crash loses
	// nothing acknowledged, a power loss may lose recent stores (detected,
	// never served torn).
	DurabilityNone Durability = "none"
	// DurabilityBatch syncs the file every BatchInterval in the background:
	// a power loss loses at most that window.
	DurabilityBatch Durability = "batch"
	// DurabilitySync syncs (fdatasync) before Put returns: acknowledged =
	// on stable storage.
	DurabilitySync Durability = "sync"
)

// ParseDurability maps "none", "batch" or "sync" to a Durability.
func ParseDurability(s string) (Durability, error) {
	switch d := Durability(s); d {
	case DurabilityNone, DurabilityBatch, DurabilitySync:
		return d, nil
	case "":
		return DurabilityNone, nil
	}
	return "", fmt.Errorf("%w: durability %q (want none, batch or sync)", ErrConfig, s)
}

// Config configures a disk tier.
type Config struct {
	// Name names the tier in stats and errors.
	Name string
	// Path is the tier file; created when absent (its directory must exist).
	Path string
	// CapacityBytes is the data area (the hard byte budget). On an existing
	// file it must match, or be 0 to adopt the file's geometry.
	CapacityBytes int64
	// AdoptGeometry opens an existing pool with its own geometry whatever
	// CapacityBytes and MaxArtifacts say (they then size new pools only).
	// Off, a different geometry is refused with ErrGeometry.
	AdoptGeometry bool
	// MaxArtifacts is the number of index slots; 0 means one per 16 KiB of
	// capacity, at least 1024.
	MaxArtifacts int
	// BlockSize is the allocation unit (a power of two, default 4096).
	BlockSize int
	// Policy names the eviction policy (tiers/eviction; default "lru").
	Policy string
	// Durability: none (default), batch or sync.
	Durability Durability
	// BatchInterval is the background sync period of DurabilityBatch
	// (default 100 ms).
	BatchInterval time.Duration
	// Reset formats the file whatever it holds.
	Reset bool
	// VerifyAlways checks every read's checksum; by default a payload is
	// checked on its first read after open (a payload this process hashed
	// on Put is trusted), which keeps reads at pread speed.
	VerifyAlways bool
	// TrustPutChecksum takes a non-zero PutOptions.Meta.Checksum as the
	// payload's checksum (the upper tier computed it) instead of hashing the
	// payload again; the payload is then verified on its first read.
	TrustPutChecksum bool

	// wrapMedia, set by tests, wraps the file the engine writes through (a
	// fault-injecting medium: tiers/internal/powerloss).
	wrapMedia func(engine.Media) engine.Media
}

// DefaultConfig is a 10 GiB tier at path with durability none.
func DefaultConfig(path string) Config {
	return Config{Name: "disk", Path: path, CapacityBytes: 10 << 30, BlockSize: 4096, Policy: "lru",
		Durability: DurabilityNone, BatchInterval: 100 * time.Millisecond}
}

// DefaultLocalConfig is a 64 MiB tier for tests and simulations.
func DefaultLocalConfig(path string) Config {
	c := DefaultConfig(path)
	c.CapacityBytes = 64 << 20
	return c
}

// Errors of Open, beside the tiers sentinels and os errors (a missing
// directory wraps fs.ErrNotExist).
var (
	ErrBadMagic  = extent.ErrBadMagic
	ErrVersion   = extent.ErrVersion
	ErrGeometry  = extent.ErrGeometry
	ErrTooSmall  = extent.ErrTooSmall
	ErrBadRecord = extent.ErrBadRecord
	// ErrLocked: another process (or handle) has the file open.
	ErrLocked = errors.New("disk: tier file is open elsewhere")
	// ErrConfig: the configuration is invalid.
	ErrConfig = errors.New("disk: invalid config")
)

func (c *Config) ensureDefaults() {
	if c.Name == "" {
		c.Name = "disk"
	}
	if c.BlockSize == 0 {
		c.BlockSize = 4096
	}
	if c.Policy == "" {
		c.Policy = "lru"
	}
	if c.Durability == "" {
		c.Durability = DurabilityNone
	}
	if c.BatchInterval <= 0 {
		c.BatchInterval = 100 * time.Millisecond
	}
}

func (c *Config) validate() error {
	if c.Path == "" {
		return fmt.Errorf("%w: empty path", ErrConfig)
	}
	if c.CapacityBytes < 0 || c.MaxArtifacts < 0 || c.BlockSize < 0 || c.BlockSize&(c.BlockSize-1) != 0 {
		return fmt.Errorf("%w: capacity %d, max artifacts %d, block size %d", ErrConfig, c.CapacityBytes, c.MaxArtifacts, c.BlockSize)
	}
	_, err := ParseDurability(string(c.Durability))
	return err
}

func (c *Config) slotsFor(size uint64) uint64 {
	if c.MaxArtifacts > 0 {
		return uint64(c.MaxArtifacts)
	}
	return max(1024, size/(16<<10))
}
