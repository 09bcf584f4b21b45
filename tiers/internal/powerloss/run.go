package powerloss

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/internal/engine"
)

// EnvCycles overrides Config.Cycles: thousands for a soak.
const EnvCycles = "STRATACACHE_POWERLOSS_CYCLES"

// Config of a power-loss run.
type Config struct {
	// Cycles of open, verify, work, crash (EnvCycles overrides; a fifth
	// under the race detector).
	Cycles int
	// Keys is the key space; the tier must hold every key at MaxSize at
	// once, so that nothing is evicted (an eviction would read as a loss).
	Keys int
	// MinSize and MaxSize bound payload sizes.
	MinSize, MaxSize int
	// MaxOps bounds the operations of a cycle; MaxCrashWrites bounds how
	// many medium writes a cycle runs before the power is cut (mid-op).
	MaxOps, MaxCrashWrites int
	// SyncEachOp: the tier makes every put and delete durable before it
	// returns (disk durability sync); otherwise only Sync does.
	SyncEachOp bool
	// Model and Tear choose what survives of the unsynced writes.
	Model Model
	Tear  bool
	Seed  uint64
	// Dir holds the tier's medium across cycles; empty: a temp dir on
	// /dev/shm when there is one (the medium's durability is simulated, a
	// real fsync only costs time).
	Dir string
}

// Opener opens the tier under test on dir, with the engine's medium wrapped
// by wrap.
type Opener func(dir string, wrap func(engine.Media) engine.Media) (tiers.Tier, error)

// Result counts what a run did and checked.
type Result struct {
	Cycles, Puts, Deletes, Syncs, Checked, Durable int
	CrashesMidOp                                   int
}

// outcome is what a key may hold: a version, or nothing (0).
type outcome = uint64

type keyState struct {
	durable outcome   // what the medium holds for sure
	pending []outcome // outcomes of operations not known durable, in order
}

// Run is the power-loss test: every cycle reopens the medium as the last
// crash left it, checks every key against what was acknowledged durable
// (never lost, never older, never torn or foreign: only the durable state or
// the outcome of an operation not yet durable), then runs seeded puts,
// deletes and syncs until the power is cut in the middle of a write.
func Run(t *testing.T, cfg Config, open Opener) Result {
	cycles := cfg.Cycles / raceScale
	if s := os.Getenv(EnvCycles); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s: %v", EnvCycles, err)
		}
		cycles = n
	}
	dir := cfg.Dir
	if dir == "" {
		dir = tempDir(t)
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b9))
	keys := make([]keyState, cfg.Keys)
	var res Result
	var version uint64
	ctx := context.Background()
	for cycle := 1; cycle <= cycles; cycle++ {
		var med *Medium
		tr, err := open(dir, func(m engine.Media) engine.Media { med = Wrap(m); return med })
		if err != nil {
			t.Fatalf("cycle %d: open: %v", cycle, err)
		}
		if err := verify(tr, cfg, keys, &res); err != nil {
			_ = tr.Close()
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		med.CrashAfter(1+r.IntN(cfg.MaxCrashWrites), func() { med.CrashLocked(r, cfg.Model, cfg.Tear) })
		syncer, _ := tr.(interface{ Sync() error })
		ops := 1 + r.IntN(cfg.MaxOps)
		for op := 0; op < ops && !med.Crashed(); op++ {
			k := r.IntN(cfg.Keys)
			ks := &keys[k]
			switch c := r.IntN(10); {
			case c < 7:
				version++
				size := cfg.MinSize + r.IntN(cfg.MaxSize-cfg.MinSize+1)
				err := tr.Put(ctx, Key(k), Payload(k, version, size), tiers.PutOptions{Meta: artifact.Meta{Version: version}})
				ks.pending = append(ks.pending, version) // a failed put may have landed too
				if err == nil {
					res.Puts++
					if cfg.SyncEachOp {
						ks.durable, ks.pending = version, nil
					}
				}
			case c < 9:
				_, err := tr.Delete(ctx, Key(k), tiers.DeleteOptions{})
				ks.pending = append(ks.pending, 0)
				if err == nil {
					res.Deletes++
					if cfg.SyncEachOp {
						ks.durable, ks.pending = 0, nil
					}
				}
			default:
				if syncer != nil && syncer.Sync() == nil {
					res.Syncs++
					for i := range keys {
						if p := keys[i].pending; len(p) > 0 {
							keys[i].durable, keys[i].pending = p[len(p)-1], nil
						}
					}
				}
			}
		}
		if med.Crashed() {
			res.CrashesMidOp++
		} else {
			med.Crash(r, cfg.Model, cfg.Tear)
		}
		_ = tr.Close() // its syncs fail: the medium is down
		res.Cycles++
	}
	t.Logf("%d power-loss cycles (%v model, tear %v): %d puts, %d deletes, %d syncs acknowledged; %d keys checked, %d of them durable; %d cuts in the middle of an operation",
		res.Cycles, cfg.Model, cfg.Tear, res.Puts, res.Deletes, res.Syncs, res.Checked, res.Durable, res.CrashesMidOp)
	return res
}

// verify reads every key after a reopen: it must hold its durable state or
// the outcome of an operation not yet durable, whole. What it holds is then
// durable (it is what the medium has).
func verify(tr tiers.Tier, cfg Config, keys []keyState, res *Result) error {
	buf := make([]byte, cfg.MaxSize+64)
	for k := range keys {
		ks := &keys[k]
		got, err := tr.Get(buf, Key(k))
		var have outcome
		switch {
		case errors.Is(err, tiers.ErrNotFound):
			have = 0
		case err != nil:
			return fmt.Errorf("key %d: %w", k, err)
		default:
			v, err := check(k, got)
			if err != nil {
				return err
			}
			have = v
		}
		allowed := have == ks.durable
		for _, p := range ks.pending {
			allowed = allowed || have == p
		}
		if !allowed {
			switch {
			case have == 0:
				return fmt.Errorf("key %d: acknowledged-durable version %d lost (not yet durable: %v)", k, ks.durable, ks.pending)
			case have < ks.durable:
				return fmt.Errorf("key %d: holds version %d, older than the durable %d", k, have, ks.durable)
			default:
				return fmt.Errorf("key %d: holds version %d, neither the durable %d nor a later store %v", k, have, ks.durable, ks.pending)
			}
		}
		res.Checked++
		if ks.durable != 0 {
			res.Durable++
		}
		ks.durable, ks.pending = have, nil
	}
	return nil
}

// Key is the run's artifact k.
func Key(k int) artifact.ID {
	return artifact.MustID(artifact.NamespaceKV, "powerloss/"+strconv.Itoa(k))
}

// Payload of (k, version, size): every 16 bytes carry the key and the
// version, so a read tells both and whether it is whole.
func Payload(k int, version uint64, size int) []byte {
	size = max(size, 16) &^ 15
	b := make([]byte, size)
	for i := 0; i < size; i += 16 {
		binary.LittleEndian.PutUint64(b[i:], uint64(k))
		binary.LittleEndian.PutUint64(b[i+8:], version)
	}
	return b
}

func check(k int, b []byte) (uint64, error) {
	if len(b) < 16 || len(b)%16 != 0 {
		return 0, fmt.Errorf("key %d: payload of %d bytes", k, len(b))
	}
	v := binary.LittleEndian.Uint64(b[8:])
	for i := 0; i < len(b); i += 16 {
		if kk, vv := binary.LittleEndian.Uint64(b[i:]), binary.LittleEndian.Uint64(b[i+8:]); kk != uint64(k) || vv != v {
			return 0, fmt.Errorf("key %d: torn or foreign payload (word %d: key %d version %d, first version %d)", k, i/16, kk, vv, v)
		}
	}
	return v, nil
}

func tempDir(t *testing.T) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "stratacache-powerloss-"); err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

func (m Model) String() string {
	if m == Sectors {
		return "sectors"
	}
	return "ordered"
}
