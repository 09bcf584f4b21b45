package memory

import (
	"errors"
	"fmt"
	"time"

	"github.com/stratacache/stratacache/tiers/eviction"
)

// ErrConfig is wrapped by every configuration error New and Validate return.
var ErrConfig = errors.New("memory: invalid config")

// Defaults applied by New (and by Config.WithDefaults) to zero fields.
const (
	DefaultName             = "memory"
	DefaultAlignment        = 4 << 10
	DefaultShards           = 64
	DefaultMaxArtifactBytes = 64 << 20
	DefaultSpaceWait        = 5 * time.Second
	maxAlignment            = 1 << 30
	maxShards               = 4096
)

// Config describes a memory tier. The zero value is not usable: set
// CapacityBytes and a policy (Policy or PolicyName); the rest has defaults.
type Config struct {
	// Name identifies the tier in stats and logs. Default "memory".
	Name string
	// CapacityBytes is the exact byte budget: allocated extents (rounded up
	// to Alignment, including those of removed artifacts still held by
	// views) never exceed it. The arena maps this many bytes rounded up to
	// the page size; only whole Alignment units of it are used.
	CapacityBytes int64
	// MaxArtifactBytes bounds one payload; larger Puts fail with
	// tiers.ErrTooLarge. Default 64 MiB (or CapacityBytes if smaller).
	MaxArtifactBytes int64
	// Policy chooses eviction victims. The tier owns it from New on and
	// serialises every call; do not share it with another owner.
	Policy eviction.Policy
	// PolicyName builds the policy with eviction.New when Policy is nil
	// ("lru", "fifo", "s3fifo", ...).
	PolicyName string
	// PolicyCapacity is the entry-count hint given to eviction.New. The
	// default 0 means unknown, which suits a byte budget: S3-FIFO and ARC
	// then size their queues by the current number of keys. Ignored when
	// Policy is set.
	PolicyCapacity int
	// Alignment is the allocation unit: every extent is a multiple of it,
	// so a payload of n bytes costs n rounded up to Alignment. A power of
	// two between 64 B and 1 GiB. Default 4 KiB.
	Alignment int64
	// Shards is the number of index shards (a power of two up to 4096).
	// Default 64.
	Shards int
	// SpaceWait bounds how long a Put waits for space held only by
	// unreleased views or by other in-flight Puts before it fails with
	// tiers.ErrNoSpace. Default 5 s; negative: never wait.
	SpaceWait time.Duration
	// ChecksumOnPut computes the payload's xxhash64 during Put (fused with
	// the copy: ~5 GB/s instead of memcpy's ~12-20 GB/s here). Off by
	// default: DRAM does not tear, and the checksum is then computed on the
	// first Meta/Stat and cached; the persistent tiers compute their own on
	// Put and verify it on read. docs/BENCHMARKS.md has both figures.
	ChecksumOnPut bool
	// ExactReads records every read hit in the policy under the tier's
	// policy mutex, waiting for it, in order, as before issue 16. By
	// default hits go through eviction.Buffered: a hit touches the policy
	// at once when the mutex is free and is buffered when it is not, so no
	// reader waits for it (buffered hits arrive later, and are lost when
	// the buffer overflows). docs/eviction.md has what it costs.
	ExactReads bool
	// ReadStripes is the number of read-buffer stripes (rounded up to a
	// power of two; 0: eviction.DefaultReadStripes). Ignored with
	// ExactReads.
	ReadStripes int
	// Prefault backs the whole arena with pages in New (MADV_POPULATE_WRITE),
	// trading a slower start and full RSS for Puts without page faults.
	Prefault bool
}

// DefaultConfig returns a ready Config for a tier of capacityBytes: the LRU
// policy and every other field at its default. Tests, the simulator and the
// node start from it and override what they need.
func DefaultConfig(capacityBytes int64) Config {
	return Config{CapacityBytes: capacityBytes, PolicyName: "lru"}.WithDefaults()
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Alignment == 0 {
		c.Alignment = DefaultAlignment
	}
	if c.Shards == 0 {
		c.Shards = DefaultShards
	}
	if c.MaxArtifactBytes == 0 {
		c.MaxArtifactBytes = DefaultMaxArtifactBytes
		if c.CapacityBytes > 0 && c.CapacityBytes < c.MaxArtifactBytes {
			c.MaxArtifactBytes = c.CapacityBytes
		}
	}
	if c.SpaceWait == 0 {
		c.SpaceWait = DefaultSpaceWait
	}
	return c
}

// Validate reports the first problem of c after defaults are applied.
func (c Config) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.CapacityBytes <= 0:
		return fmt.Errorf("%w: CapacityBytes %d must be positive", ErrConfig, c.CapacityBytes)
	case c.Alignment < 64 || c.Alignment > maxAlignment || c.Alignment&(c.Alignment-1) != 0:
		return fmt.Errorf("%w: Alignment %d must be a power of two in [64, 1 GiB]", ErrConfig, c.Alignment)
	case c.CapacityBytes < c.Alignment:
		return fmt.Errorf("%w: CapacityBytes %d is below one Alignment unit (%d)", ErrConfig, c.CapacityBytes, c.Alignment)
	case c.MaxArtifactBytes < 0:
		return fmt.Errorf("%w: MaxArtifactBytes %d must not be negative", ErrConfig, c.MaxArtifactBytes)
	case c.Shards < 1 || c.Shards > maxShards || c.Shards&(c.Shards-1) != 0:
		return fmt.Errorf("%w: Shards %d must be a power of two in [1, %d]", ErrConfig, c.Shards, maxShards)
	case c.Policy == nil && c.PolicyName == "":
		return fmt.Errorf("%w: set Policy or PolicyName", ErrConfig)
	case c.ReadStripes < 0 || c.ReadStripes > 1<<16:
		return fmt.Errorf("%w: ReadStripes %d must be in [0, 65536]", ErrConfig, c.ReadStripes)
	case c.PolicyCapacity < 0:
		return fmt.Errorf("%w: PolicyCapacity %d must not be negative", ErrConfig, c.PolicyCapacity)
	}
	if c.Policy == nil {
		// Building an empty policy is cheap and is the only exact check of
		// the name (eviction.New knows the aliases).
		if _, err := eviction.New(c.PolicyName, 0); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	return nil
}
