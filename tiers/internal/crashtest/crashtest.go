package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

// Environment of the child process.
const (
	envChild  = "STRATACACHE_CRASH_CHILD"
	envDir    = "STRATACACHE_CRASH_DIR"
	envCycle  = "STRATACACHE_CRASH_CYCLE"
	envSeed   = "STRATACACHE_CRASH_SEED"
	envCycles = "STRATACACHE_CRASH_CYCLES" // overrides the cycle count: thousands for a soak
)

// Opener opens the tier under test on dir (the same dir every cycle).
type Opener func(dir string) (tiers.Tier, error)

// Config of a crash run.
type Config struct {
	// ChildTest is the name of the test function that calls Child.
	ChildTest string
	// Cycles is the default number of kill/reopen cycles.
	Cycles int
	// Keys is the key space; each store writes a random key with a new
	// version, so the run also replaces artifacts.
	Keys int
	// MaxAcks bounds the acknowledged stores before the kill.
	MaxAcks int
	// MinSize and MaxSize bound payload sizes.
	MinSize, MaxSize int
	Seed             uint64
	// MaxKillDelay bounds the seeded delay between the target
	// acknowledgement and the kill.
	MaxKillDelay time.Duration
	// Dir holds the tier's files; empty means a test temp dir.
	Dir string
}

// IsChild reports whether this process is a crash child.
func IsChild() bool { return os.Getenv(envChild) == "1" }

func key(k int) artifact.ID {
	return artifact.MustID(artifact.NamespaceKV, fmt.Sprintf("crash/key-%d", k))
}

// Payload is the deterministic payload of (key, version): a 24-byte
// self-description, then a 4 KiB block seeded by (key, version) repeated
// with each copy stamped with its index, so any payload read can be checked
// and a mix of two versions or two positions shows. Cheap to make: copies,
// not a random draw per word (which dominated runs under -race).
func Payload(k int, version uint64, size int) []byte {
	size = max(size, 24)
	b := make([]byte, size)
	var block [4096]byte
	r := rand.New(rand.NewPCG(uint64(k), version))
	for i := 0; i < len(block); i += 8 {
		binary.LittleEndian.PutUint64(block[i:], r.Uint64())
	}
	for j, off := 0, 0; off < size; j, off = j+1, off+len(block) {
		n := copy(b[off:], block[:])
		if n >= 8 {
			binary.LittleEndian.PutUint64(b[off:], binary.LittleEndian.Uint64(block[:])^uint64(j))
		}
	}
	binary.LittleEndian.PutUint64(b[0:], uint64(k))
	binary.LittleEndian.PutUint64(b[8:], version)
	binary.LittleEndian.PutUint64(b[16:], uint64(size))
	return b
}

// expected caches the last payload regenerated per key (regenerating every
// key every cycle dominates the run, worse under -race).
type expected map[int][]byte

// check parses a payload read for key k and compares it with its
// regenerated self.
func (ex expected) check(k int, got []byte) (version uint64, err error) {
	if len(got) < 24 {
		return 0, fmt.Errorf("payload of %d bytes", len(got))
	}
	kk := binary.LittleEndian.Uint64(got[0:])
	version = binary.LittleEndian.Uint64(got[8:])
	size := binary.LittleEndian.Uint64(got[16:])
	if kk != uint64(k) || size != uint64(len(got)) {
		return version, fmt.Errorf("payload header (key %d size %d) for key %d of %d bytes", kk, size, k, len(got))
	}
	want := ex[k]
	if len(want) != len(got) || binary.LittleEndian.Uint64(want[8:]) != version {
		want = Payload(k, version, len(got))
		ex[k] = want
	}
	if !bytes.Equal(got, want) {
		return version, fmt.Errorf("torn or mixed payload for key %d version %d", k, version)
	}
	return version, nil
}

// Child runs the storing side; it returns only on error (the parent kills
// it). Call it from the test named in Config.ChildTest when IsChild.
func Child(t *testing.T, cfg Config, open Opener) {
	dir := os.Getenv(envDir)
	cycle, _ := strconv.ParseUint(os.Getenv(envCycle), 10, 64)
	seed, _ := strconv.ParseUint(os.Getenv(envSeed), 10, 64)
	tier, err := open(dir)
	if err != nil {
		fmt.Printf("error %v\n", err)
		t.Fatal(err)
	}
	fmt.Println("ready")
	r := rand.New(rand.NewPCG(seed, cycle))
	next := func(seq uint64) (int, uint64, []byte) {
		k := r.IntN(cfg.Keys)
		version := cycle<<32 | seq
		size := cfg.MinSize + r.IntN(cfg.MaxSize-cfg.MinSize+1)
		return k, version, Payload(k, version, size)
	}
	// The next payload is made before the previous store is acknowledged, so
	// that the parent's kill lands in a store, not in payload generation.
	k, version, p := next(1)
	for seq := uint64(2); ; seq++ {
		if err := tier.Put(context.Background(), key(k), p, tiers.PutOptions{}); err != nil {
			fmt.Printf("error %v\n", err)
			t.Fatal(err)
		}
		ak, av := k, version
		k, version, p = next(seq)
		fmt.Printf("ack %d %d\n", ak, av)
	}
}

// Run is the parent: cycles of start child, kill at a seeded moment,
// reopen, verify.
func Run(t *testing.T, cfg Config, open Opener) {
	cycles := cfg.Cycles
	if s := os.Getenv(envCycles); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s: %v", envCycles, err)
		}
		cycles = n
	}
	dir := cfg.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	acked := map[int]uint64{} // key -> newest acknowledged version
	ex := expected{}
	r := rand.New(rand.NewPCG(cfg.Seed, 99))
	killedMidStore := 0
	for cycle := 1; cycle <= cycles; cycle++ {
		target := r.IntN(cfg.MaxAcks + 1)
		acks, err := runChild(cfg, dir, cycle, target, acked, r)
		if err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		if acks == target {
			killedMidStore++
		}
		tier, err := open(dir)
		if err != nil {
			t.Fatalf("cycle %d: reopen: %v", cycle, err)
		}
		if err := verify(tier, cfg, acked, ex); err != nil {
			tier.Close()
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		var s tiers.Stats
		tier.Stats(&s)
		if err := tier.Close(); err != nil {
			t.Fatalf("cycle %d: close: %v", cycle, err)
		}
		if s.Corruptions != 0 {
			t.Logf("cycle %d: %d torn extents dropped (never served)", cycle, s.Corruptions)
		}
	}
	t.Logf("%d kill/reopen cycles, %d keys acknowledged, %d kills while storing", cycles, len(acked), killedMidStore)
}

// runChild starts a child, reads its acknowledgements into acked and kills
// it once it has acknowledged target stores.
func runChild(cfg Config, dir string, cycle, target int, acked map[int]uint64, killJitter *rand.Rand) (int, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^"+cfg.ChildTest+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"=1", envDir+"="+dir,
		envCycle+"="+strconv.Itoa(cycle), envSeed+"="+strconv.FormatUint(cfg.Seed, 10))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(out)
	acks := 0
	ready := false
	var childErr error
	for (!ready || acks < target) && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "ready":
			ready = true
		case strings.HasPrefix(line, "ack "):
			var k int
			var v uint64
			if _, err := fmt.Sscanf(line, "ack %d %d", &k, &v); err != nil {
				childErr = fmt.Errorf("bad line %q", line)
				break
			}
			if v > acked[k] {
				acked[k] = v
			}
			acks++
		case strings.HasPrefix(line, "error "):
			childErr = errors.New(line)
		}
		if childErr != nil {
			break
		}
	}
	// A seeded extra moment (busy-waited: a sleep's granularity is coarser
	// than a store) spreads the kills over the whole store.
	if delay := time.Duration(killJitter.IntN(int(cfg.MaxKillDelay) + 1)); delay > 0 {
		for start := time.Now(); time.Since(start) < delay; {
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_, _ = io.Copy(io.Discard, out)
	_ = cmd.Wait()
	if childErr != nil {
		return acks, fmt.Errorf("child: %w (stderr: %s)", childErr, stderr.Bytes())
	}
	if !ready {
		return acks, fmt.Errorf("child died before ready: %s", stderr.Bytes())
	}
	return acks, nil
}

// verify checks every key: an acknowledged key must be served with a
// version at least the acknowledged one (a later store may have landed
// before the kill); whatever is served must be intact.
func verify(tier tiers.Tier, cfg Config, acked map[int]uint64, ex expected) error {
	buf := make([]byte, cfg.MaxSize+64)
	for k := range cfg.Keys {
		got, err := tier.Get(buf, key(k))
		want, wasAcked := acked[k]
		if err != nil {
			if wasAcked {
				return fmt.Errorf("acknowledged key %d (version %x) lost: %w", k, want, err)
			}
			continue
		}
		v, err := ex.check(k, got)
		if err != nil {
			return err
		}
		if v < want {
			return fmt.Errorf("key %d: served version %x older than acknowledged %x", k, v, want)
		}
		if v > want {
			acked[k] = v // a store that landed before the kill: it is now the floor
		}
	}
	return nil
}
