package cxl

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/attach"
	"github.com/stratacache/stratacache/extent"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/eviction"
	"github.com/stratacache/stratacache/tiers/internal/engine"
)

// magic starts the superblock of a CXL pool.
var magic = attach.Magic

// Location is where an artifact's extent lives in the pool: what a
// read-only attacher needs to read it in place.
type Location = attach.Location

// Tier is a CXL/DAX pool. It implements tiers.Tier; every method is safe for
// concurrent use. View returns the mapped bytes themselves (zero-copy).
type Tier struct {
	*engine.Engine
	cfg   Config
	path  string
	epoch uint64
}

var _ tiers.Tier = (*Tier)(nil)

// Open opens (creating a file pool if absent) the pool of cfg read-write.
// A second read-write opener of the same pool gets ErrLocked. A medium that
// is not a pool, of a newer version or of another geometry is refused and
// left untouched unless cfg.ResetMetadata is set.
func Open(cfg Config) (*Tier, error) {
	cfg.ensureDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	mp, want, size, strict, path, err := openMedium(&cfg)
	if err != nil {
		return nil, err
	}
	var m engine.Media = mp
	if cfg.wrapMedia != nil {
		m = cfg.wrapMedia(mp)
	}
	sb, err := engine.PreparePool(m, engine.Prepare{
		Magic: magic, Want: want, Strict: strict, Reset: cfg.ResetMetadata,
		MediumSize: size, Now: time.Now().UnixNano(),
	})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("cxl: open %s: %w", path, err)
	}
	pol, err := eviction.New(cfg.Policy, int(sb.Geometry.SlotCount))
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	eng, err := engine.Open(m, engine.Options{
		Name: cfg.Name, Kind: tiers.KindCXL, Geometry: sb.Geometry, Superblock: sb, Policy: pol,
		VerifyAlways: cfg.VerifyAlways, TrustPutChecksum: cfg.TrustPutChecksum, Epoch: sb.Epoch,
	})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("cxl: open %s: %w", path, err)
	}
	return &Tier{Engine: eng, cfg: cfg, path: path, epoch: sb.Epoch}, nil
}

// openMedium opens, locks, sizes and maps the device or file of cfg; it
// returns the geometry to format with and whether the existing one must
// match it.
func openMedium(cfg *Config) (m *mapping, want extent.Geometry, size uint64, strict bool, path string, err error) {
	bs := uint32(cfg.BlockSize)
	var f *os.File
	if cfg.DAXDevice != "" {
		path = cfg.DAXDevice
		f, err = os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return nil, want, 0, false, path, fmt.Errorf("cxl: dax device: %w", err)
		}
		var align uint64
		size, align, err = attach.DAXSize(cfg.sysRoot, path)
		if err == nil {
			want, err = extent.FitGeometry(bs, cfg.slotsFor(size), size, align)
		}
		strict = true
	} else {
		path = cfg.Path
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, want, 0, false, path, fmt.Errorf("cxl: pool file: %w", err)
		}
	}
	if err != nil {
		f.Close()
		return nil, want, 0, false, path, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, want, 0, false, path, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return nil, want, 0, false, path, fmt.Errorf("cxl: lock %s: %w", path, err)
	}
	if cfg.DAXDevice == "" {
		size, want, strict, err = sizeFile(f, cfg)
		if err != nil {
			f.Close()
			return nil, want, 0, false, path, fmt.Errorf("cxl: pool file %s: %w", path, err)
		}
	}
	data, err := mapFile(f, size, true)
	if err != nil {
		f.Close()
		return nil, want, 0, false, path, err
	}
	return &mapping{f: f, data: data}, want, size, strict, path, nil
}

// sizeFile gives a new (empty) or reset pool file its size and reserves
// the memory (so a full /dev/shm fails here, not with SIGBUS later).
func sizeFile(f *os.File, cfg *Config) (size uint64, want extent.Geometry, strict bool, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, want, false, err
	}
	size = uint64(st.Size())
	fresh := size == 0 || cfg.ResetMetadata
	if cfg.CapacityBytes == 0 || (cfg.AdoptGeometry && !fresh) {
		if fresh {
			return 0, want, false, fmt.Errorf("%w: a new pool needs CapacityBytes", ErrConfig)
		}
		// Adopt the pool's geometry: PreparePool checks the superblock.
		return size, want, false, nil
	}
	cap := uint64(cfg.CapacityBytes)
	want, err = extent.NewGeometry(uint32(cfg.BlockSize), cfg.slotsFor(cap), cap, uint64(cfg.BlockSize))
	if err != nil {
		return 0, want, false, err
	}
	if fresh && size != want.TotalSize() {
		if err := f.Truncate(int64(want.TotalSize())); err != nil {
			return 0, want, false, err
		}
		size = want.TotalSize()
		if err := unix.Fallocate(int(f.Fd()), 0, 0, int64(size)); err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
			return 0, want, false, fmt.Errorf("reserve %d bytes: %w", size, err)
		}
	}
	if size < extent.SuperblockSize {
		return 0, want, false, fmt.Errorf("%w: %d bytes", ErrTooSmall, size)
	}
	return size, want, true, nil
}

// Name implements tiers.Tier.
func (t *Tier) Name() string { return t.cfg.Name }

// Kind implements tiers.Tier.
func (t *Tier) Kind() tiers.Kind { return tiers.KindCXL }

// Path is the device or file the pool lives on.
func (t *Tier) Path() string { return t.path }

// Epoch counts the read-write opens of the pool, this one included.
func (t *Tier) Epoch() uint64 { return t.epoch }

// Locate returns where id's extent lives, for a read-only attacher.
func (t *Tier) Locate(id artifact.ID) (Location, error) {
	l, err := t.Engine.Locate(id)
	return Location{Slot: l.Slot, Offset: l.Offset, Length: l.Length, Generation: l.Generation}, err
}
