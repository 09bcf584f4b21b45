package disk

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stratacache/stratacache/extent"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/eviction"
	"github.com/stratacache/stratacache/tiers/internal/engine"
)

// magic starts the superblock of a disk tier file.
var magic = extent.Magic{'S', 'T', 'R', 'A', 'D', 'S', 'K', '1'}

// Tier is a disk tier. It implements tiers.Tier; every method is safe for
// concurrent use.
type Tier struct {
	*engine.Engine
	cfg       Config
	epoch     uint64
	stop      chan struct{}
	syncer    sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ tiers.Tier = (*Tier)(nil)

// Open opens (creating and pre-allocating it if absent) the tier file of
// cfg. A second opener gets ErrLocked. A file that is not a disk tier, of a
// newer version or of another geometry is refused and left untouched unless
// cfg.Reset is set.
func Open(cfg Config) (*Tier, error) {
	cfg.ensureDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(cfg.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("disk: open: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, cfg.Path)
		}
		return nil, fmt.Errorf("disk: lock %s: %w", cfg.Path, err)
	}
	size, want, strict, err := sizeFile(f, &cfg)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("disk: %s: %w", cfg.Path, err)
	}
	var m engine.Media = &file{f: f}
	if cfg.wrapMedia != nil {
		m = cfg.wrapMedia(m)
	}
	sb, err := engine.PreparePool(m, engine.Prepare{
		Magic: magic, Want: want, Strict: strict, Reset: cfg.Reset,
		MediumSize: size, Now: time.Now().UnixNano(),
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("disk: open %s: %w", cfg.Path, err)
	}
	pol, err := eviction.New(cfg.Policy, int(sb.Geometry.SlotCount))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	eng, err := engine.Open(m, engine.Options{
		Name: cfg.Name, Kind: tiers.KindDisk, Geometry: sb.Geometry, Superblock: sb, Policy: pol,
		SyncEachPut:  cfg.Durability == DurabilitySync,
		VerifyAlways: cfg.VerifyAlways, TrustPutChecksum: cfg.TrustPutChecksum, Epoch: sb.Epoch,
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("disk: open %s: %w", cfg.Path, err)
	}
	t := &Tier{Engine: eng, cfg: cfg, epoch: sb.Epoch, stop: make(chan struct{})}
	if cfg.Durability == DurabilityBatch {
		t.syncer.Add(1)
		go t.syncLoop()
	}
	return t, nil
}

// sizeFile pre-allocates a new (empty) or reset file to the configured
// geometry; fallocate reserves the blocks so that later writes inside the
// file cannot fail for space.
func sizeFile(f *os.File, cfg *Config) (size uint64, want extent.Geometry, strict bool, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, want, false, err
	}
	size = uint64(st.Size())
	fresh := size == 0 || cfg.Reset
	if cfg.CapacityBytes == 0 || (cfg.AdoptGeometry && !fresh) {
		if fresh {
			return 0, want, false, fmt.Errorf("%w: a new tier file needs CapacityBytes", ErrConfig)
		}
		return size, want, false, nil
	}
	c := uint64(cfg.CapacityBytes)
	want, err = extent.NewGeometry(uint32(cfg.BlockSize), cfg.slotsFor(c), c, uint64(cfg.BlockSize))
	if err != nil {
		return 0, want, false, err
	}
	if fresh {
		if err := unix.Fallocate(int(f.Fd()), 0, 0, int64(want.TotalSize())); err != nil {
			if !errors.Is(err, unix.EOPNOTSUPP) {
				return 0, want, false, fmt.Errorf("fallocate %d bytes: %w", want.TotalSize(), err)
			}
		}
		if size != want.TotalSize() {
			if err := f.Truncate(int64(want.TotalSize())); err != nil {
				return 0, want, false, err
			}
		}
		size = want.TotalSize()
	}
	if size < extent.SuperblockSize {
		return 0, want, false, fmt.Errorf("%w: %d bytes", ErrTooSmall, size)
	}
	return size, want, true, nil
}

func (t *Tier) syncLoop() {
	defer t.syncer.Done()
	tick := time.NewTicker(t.cfg.BatchInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			// A failed sync fails the tier for good (see engine.Sync):
			// every later call reports it.
			_ = t.Engine.Sync()
		}
	}
}

// Name implements tiers.Tier.
func (t *Tier) Name() string { return t.cfg.Name }

// Kind implements tiers.Tier.
func (t *Tier) Kind() tiers.Kind { return tiers.KindDisk }

// Path is the tier file.
func (t *Tier) Path() string { return t.cfg.Path }

// Epoch counts the opens of the file, this one included.
func (t *Tier) Epoch() uint64 { return t.epoch }

// Close stops the batch syncer, syncs and closes the file. Safe to call twice.
func (t *Tier) Close() error {
	t.closeOnce.Do(func() {
		close(t.stop)
		t.syncer.Wait()
		t.closeErr = t.Engine.Close()
	})
	return t.closeErr
}
