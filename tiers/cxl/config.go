package cxl

import (
	"fmt"
	"path/filepath"

	"github.com/stratacache/stratacache/tiers/internal/engine"
)

// Config configures a pool. The YAML keys of the node map onto it:
// use_cxl, cxl_dax_device, cxl_reset_metadata.
type Config struct {
	// Name names the tier in stats and errors.
	Name string
	// DAXDevice is a device-DAX path (/dev/daxX.Y; config cxl_dax_device).
	// When set, the pool fills the device and Path is ignored.
	DAXDevice string
	// Path is the pool file used when DAXDevice is empty; created (with
	// CapacityBytes) when absent.
	Path string
	// CapacityBytes is the data area of a new file pool (the byte budget). On
	// an existing pool it must match, or be 0 to adopt the pool's geometry.
	// Ignored on a DAX device (the device size decides).
	CapacityBytes int64
	// AdoptGeometry opens an existing pool with its own geometry whatever
	// CapacityBytes and MaxArtifacts say (they then size new pools only).
	// Off, a different geometry is refused with ErrGeometry.
	AdoptGeometry bool
	// MaxArtifacts is the number of index slots; 0 means one per 64 KiB of
	// capacity, at least 1024.
	MaxArtifacts int
	// BlockSize is the allocation unit (a power of two, default 4096).
	BlockSize int
	// Policy names the eviction policy (tiers/eviction; default "lru").
	Policy string
	// ResetMetadata formats the pool whatever it holds (cxl_reset_metadata).
	ResetMetadata bool
	// VerifyAlways checks every read's checksum; by default a payload is
	// checked on its first read after open (and a payload this process
	// hashed on Put is trusted), which keeps reads at copy speed.
	VerifyAlways bool
	// TrustPutChecksum takes a non-zero PutOptions.Meta.Checksum as the
	// payload's checksum (the upper tier computed it) instead of hashing the
	// payload again; the payload is then verified on its first read.
	TrustPutChecksum bool

	// sysRoot is where sysfs is mounted ("/sys"); tests point it at a fake.
	sysRoot string
	// wrapMedia, set by tests, wraps the mapping the engine writes through
	// (a fault-injecting medium: tiers/internal/powerloss).
	wrapMedia func(engine.Media) engine.Media
}

// DefaultPath is the pool file of DefaultConfig.
const DefaultPath = "/dev/shm/stratacache-cxl.pool"

// DefaultConfig is a 1 GiB file pool on /dev/shm.
func DefaultConfig() Config {
	return Config{Name: "cxl", Path: DefaultPath, CapacityBytes: 1 << 30, BlockSize: 4096, Policy: "lru"}
}

// DefaultLocalConfig is a small pool for tests and simulations at path.
func DefaultLocalConfig(path string) Config {
	c := DefaultConfig()
	c.Path = path
	c.CapacityBytes = 64 << 20
	return c
}

func (c *Config) ensureDefaults() {
	if c.Name == "" {
		c.Name = "cxl"
	}
	if c.BlockSize == 0 {
		c.BlockSize = 4096
	}
	if c.Policy == "" {
		c.Policy = "lru"
	}
	if c.sysRoot == "" {
		c.sysRoot = "/sys"
	}
	if c.Path == "" && c.DAXDevice == "" {
		c.Path = DefaultPath
	}
}

// slotsFor is the slot count for a data area of size bytes.
func (c *Config) slotsFor(size uint64) uint64 {
	if c.MaxArtifacts > 0 {
		return uint64(c.MaxArtifacts)
	}
	return max(1024, size/(64<<10))
}

func (c *Config) validate() error {
	if c.CapacityBytes < 0 || c.MaxArtifacts < 0 || c.BlockSize < 0 || c.BlockSize&(c.BlockSize-1) != 0 {
		return fmt.Errorf("%w: capacity %d, max artifacts %d, block size %d", ErrConfig, c.CapacityBytes, c.MaxArtifacts, c.BlockSize)
	}
	if c.DAXDevice != "" && !filepath.IsAbs(c.DAXDevice) {
		return fmt.Errorf("%w: dax device %q is not an absolute path", ErrConfig, c.DAXDevice)
	}
	return nil
}
