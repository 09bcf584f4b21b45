package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/cxl"
	"github.com/stratacache/stratacache/tiers/disk"
)

// tierBenchResult is one JSON line of `bench tiers` (issue 4): name, size,
// gbps, baseline_gbps, ratio; disk_reopen adds seconds and artifacts.
type tierBenchResult struct {
	Name         string  `json:"name"`
	Size         int64   `json:"size,omitempty"`
	GBps         float64 `json:"gbps,omitempty"`
	BaselineGBps float64 `json:"baseline_gbps,omitempty"`
	Ratio        float64 `json:"ratio,omitempty"`
	Seconds      float64 `json:"seconds,omitempty"`
	Artifacts    int64   `json:"artifacts,omitempty"`
	Note         string  `json:"note,omitempty"`
}

type tierBench struct {
	size      int
	set       int // distinct artifacts cycled through (working set = set*size)
	rounds    int
	perRound  time.Duration
	emit      func(tierBenchResult)
	dir       string // repo filesystem
	shmDir    string
	nArtifact int
	artSize   int
}

// runBenchTiers measures the persistent tiers against plain baselines in
// the same run: cxl_load/cxl_store vs copy() on a /dev/shm pool,
// disk_store/disk_load vs pwrite/pread on the same filesystem, disk_reopen.
func runBenchTiers(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench tiers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	size := fs.Int("size", 4<<20, "payload bytes of the load/store cases")
	set := fs.Int("set", 16, "distinct artifacts the load/store cases cycle through")
	rounds := fs.Int("rounds", 7, "alternating tier/baseline rounds; medians are reported")
	dur := fs.Duration("duration", 2*time.Second, "time per case, split into rounds")
	dir := fs.String("dir", ".", "directory (on the filesystem under test) for the disk cases' temp files")
	shmDir := fs.String("shm-dir", "/dev/shm", "directory for the cxl pool file")
	nArt := fs.Int("reopen-artifacts", 100000, "artifacts held by the disk_reopen tier")
	artSize := fs.Int("reopen-size", 1024, "payload bytes of each disk_reopen artifact")
	cases := fs.String("cases", "cxl_load,cxl_store,disk_store,disk_load,disk_reopen", "comma-separated cases; add cxl_store_hashed, cxl_load_verified, disk_store_hashed, disk_load_verified for the full-checksum paths")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *size <= 0 || *set <= 0 || *rounds <= 0 || *dur <= 0 || *nArt <= 0 || *artSize <= 0 {
		return errors.New("bench tiers: -size, -set, -rounds, -duration, -reopen-artifacts and -reopen-size must be positive")
	}
	b := &tierBench{
		size: *size, set: *set, rounds: *rounds, perRound: *dur / time.Duration(2**rounds),
		shmDir: *shmDir, nArtifact: *nArt, artSize: *artSize,
		emit: func(r tierBenchResult) {
			if *asJSON {
				j, _ := json.Marshal(r)
				fmt.Fprintln(stdout, string(j))
				return
			}
			if r.Name == "disk_reopen" {
				fmt.Fprintf(stdout, "%-20s %8d artifacts  %.3f s\n", r.Name, r.Artifacts, r.Seconds)
				return
			}
			fmt.Fprintf(stdout, "%-20s %9d B  %6.2f GB/s  baseline %6.2f GB/s  ratio %.2f\n", r.Name, r.Size, r.GBps, r.BaselineGBps, r.Ratio)
		},
	}
	tmp, err := os.MkdirTemp(*dir, "stratacache-bench-tiers-")
	if err != nil {
		return fmt.Errorf("bench tiers: -dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	b.dir = tmp
	for _, c := range strings.Split(*cases, ",") {
		var err error
		switch strings.TrimSpace(c) {
		case "cxl_load":
			err = b.cxl("cxl_load", false, false)
		case "cxl_load_verified":
			err = b.cxl("cxl_load_verified", false, true)
		case "cxl_store":
			err = b.cxl("cxl_store", true, false)
		case "cxl_store_hashed":
			err = b.cxl("cxl_store_hashed", true, true)
		case "disk_store":
			err = b.disk("disk_store", true, false)
		case "disk_store_hashed":
			err = b.disk("disk_store_hashed", true, true)
		case "disk_load":
			err = b.disk("disk_load", false, false)
		case "disk_load_verified":
			err = b.disk("disk_load_verified", false, true)
		case "disk_reopen":
			err = b.reopen()
		case "":
		default:
			err = fmt.Errorf("unknown case %q", c)
		}
		if err != nil {
			return fmt.Errorf("bench tiers: %s: %w", c, err)
		}
	}
	return nil
}

// payloads returns set deterministic payloads, their ids and checksums.
func (b *tierBench) payloads(prefix string) ([][]byte, []artifact.ID, []uint64) {
	ps := make([][]byte, b.set)
	ids := make([]artifact.ID, b.set)
	sums := make([]uint64, b.set)
	for i := range ps {
		ps[i] = make([]byte, b.size)
		for j := range ps[i] {
			ps[i][j] = byte(i*131 + j*7)
		}
		ids[i] = artifact.MustID(artifact.NamespaceKV, fmt.Sprintf("bench/%s/%d", prefix, i))
		sums[i] = artifact.Checksum(ps[i])
	}
	return ps, ids, sums
}

// alternate runs tier and baseline rounds in turn and returns the median
// GB/s of each; op(i) moves b.size bytes.
func (b *tierBench) alternate(tier, base func(i int) error) (gbps, baseGBps float64, err error) {
	var t, s []float64
	for range b.rounds {
		g, err := b.round(base)
		if err != nil {
			return 0, 0, fmt.Errorf("baseline: %w", err)
		}
		s = append(s, g)
		if g, err = b.round(tier); err != nil {
			return 0, 0, err
		}
		t = append(t, g)
	}
	return tierMedian(t), tierMedian(s), nil
}

func (b *tierBench) round(op func(i int) error) (float64, error) {
	for i := range b.set { // warm: first touch is not what we measure
		if err := op(i); err != nil {
			return 0, err
		}
	}
	n := 0
	start := time.Now()
	for time.Since(start) < b.perRound || n < b.set {
		if err := op(n % b.set); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) * float64(b.size) / time.Since(start).Seconds() / 1e9, nil
}

func tierMedian(xs []float64) float64 {
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

func (b *tierBench) result(name string, gbps, base float64, note string) {
	b.emit(tierBenchResult{Name: name, Size: int64(b.size), GBps: tierRound3(gbps), BaselineGBps: tierRound3(base), Ratio: tierRound3(gbps / base), Note: note})
}

func tierRound3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }

// cxl measures Put (store) or Get (load) on a /dev/shm pool against copy()
// of the same bytes between heap buffers of the same working set.
func (b *tierBench) cxl(name string, store, full bool) error {
	path := filepath.Join(b.shmDir, fmt.Sprintf("stratacache-bench-%d.pool", os.Getpid()))
	defer os.Remove(path)
	c := cxl.DefaultLocalConfig(path)
	c.CapacityBytes = int64(3*b.set*b.size) + 64<<20
	c.ResetMetadata = true
	c.VerifyAlways = full && !store
	c.TrustPutChecksum = !full
	p, err := cxl.Open(c)
	if err != nil {
		return err
	}
	defer p.Close()
	ps, ids, sums := b.payloads(name)
	dst := make([]byte, b.size)
	regions := make([][]byte, b.set)
	for i := range regions {
		regions[i] = make([]byte, b.size)
	}
	for i := range ps {
		if err := p.Put(context.Background(), ids[i], ps[i], tiers.PutOptions{Meta: artifact.Meta{Checksum: sums[i]}}); err != nil {
			return err
		}
	}
	var tierOp, baseOp func(i int) error
	note := ""
	if store {
		tierOp = func(i int) error {
			meta := artifact.Meta{Checksum: sums[i]}
			if full {
				meta.Checksum = 0
			}
			return p.Put(context.Background(), ids[i], ps[i], tiers.PutOptions{Meta: meta})
		}
		baseOp = func(i int) error { copy(regions[i], ps[i]); return nil }
		note = "checksum supplied by the upper tier (TrustPutChecksum), verified on first read"
		if full {
			note = "tier hashes every payload on Put"
		}
	} else {
		tierOp = func(i int) error { _, err := p.Get(dst, ids[i]); return err }
		baseOp = func(i int) error { copy(dst, regions[i]); return nil }
		for i := range ps {
			copy(regions[i], ps[i])
		}
		note = "checksum verified on the first read after open (default)"
		if full {
			note = "checksum verified on every read (VerifyAlways)"
		}
	}
	g, base, err := b.alternate(tierOp, baseOp)
	if err != nil {
		return err
	}
	b.result(name, g, base, note)
	return nil
}

// disk measures Put (durability none) or Get (page cache) against pwrite or
// pread of the same bytes in a plain pre-allocated file in the same dir.
func (b *tierBench) disk(name string, store, full bool) error {
	c := disk.DefaultLocalConfig(filepath.Join(b.dir, name+".tier"))
	c.CapacityBytes = int64(3*b.set*b.size) + 64<<20
	c.Reset = true
	c.Durability = disk.DurabilityNone
	c.VerifyAlways = full && !store
	c.TrustPutChecksum = !full
	d, err := disk.Open(c)
	if err != nil {
		return err
	}
	defer d.Close()
	plainPath := filepath.Join(b.dir, name+".plain")
	plain, err := os.OpenFile(plainPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(plainPath)
	defer plain.Close()
	ps, ids, sums := b.payloads(name)
	for i := range ps {
		if err := d.Put(context.Background(), ids[i], ps[i], tiers.PutOptions{Meta: artifact.Meta{Checksum: sums[i]}}); err != nil {
			return err
		}
		if _, err := plain.WriteAt(ps[i], int64(i)*int64(b.size)); err != nil {
			return err
		}
	}
	// Start both sides clean: writeback of the setup must not land in one
	// side's rounds.
	if err := errors.Join(d.Sync(), plain.Sync()); err != nil {
		return err
	}
	dst := make([]byte, b.size)
	var tierOp, baseOp func(i int) error
	note := ""
	if store {
		tierOp = func(i int) error {
			meta := artifact.Meta{Checksum: sums[i]}
			if full {
				meta.Checksum = 0
			}
			return d.Put(context.Background(), ids[i], ps[i], tiers.PutOptions{Meta: meta})
		}
		baseOp = func(i int) error { _, err := plain.WriteAt(ps[i], int64(i)*int64(b.size)); return err }
		note = "durability none; checksum supplied by the upper tier (TrustPutChecksum)"
		if full {
			note = "durability none; tier hashes every payload on Put"
		}
	} else {
		tierOp = func(i int) error { _, err := d.Get(dst, ids[i]); return err }
		baseOp = func(i int) error { _, err := plain.ReadAt(dst, int64(i)*int64(b.size)); return err }
		note = "page cache; checksum verified on the first read after open (default)"
		if full {
			note = "page cache; checksum verified on every read (VerifyAlways)"
		}
	}
	g, base, err := b.alternate(tierOp, baseOp)
	if err != nil {
		return err
	}
	b.result(name, g, base, note)
	return nil
}

// reopen fills a disk tier with nArtifact artifacts, closes it and times
// Open (index rebuilt from the slot table; page cache warm). Median of 3.
func (b *tierBench) reopen() error {
	c := disk.DefaultLocalConfig(filepath.Join(b.dir, "reopen.tier"))
	ext := uint64(b.artSize) + 256 // header room
	ext = (ext + 4095) / 4096 * 4096
	c.CapacityBytes = int64(ext)*int64(b.nArtifact) + 16<<20
	c.MaxArtifacts = b.nArtifact + b.nArtifact/8
	c.Reset = true
	d, err := disk.Open(c)
	if err != nil {
		return err
	}
	p := make([]byte, b.artSize)
	for i := range b.nArtifact {
		for j := 0; j < len(p) && j < 8; j++ {
			p[j] = byte(i >> (8 * j))
		}
		id := artifact.MustID(artifact.NamespaceKV, fmt.Sprintf("bench/reopen/%d", i))
		if err := d.Put(context.Background(), id, p, tiers.PutOptions{}); err != nil {
			d.Close()
			return err
		}
	}
	if err := d.Close(); err != nil {
		return err
	}
	c.Reset = false
	var secs []float64
	var held int64
	for range 3 {
		start := time.Now()
		d, err := disk.Open(c)
		if err != nil {
			return err
		}
		secs = append(secs, time.Since(start).Seconds())
		var s tiers.Stats
		d.Stats(&s)
		held = s.Artifacts
		last := artifact.MustID(artifact.NamespaceKV, fmt.Sprintf("bench/reopen/%d", b.nArtifact-1))
		if _, err := d.Get(make([]byte, b.artSize), last); err != nil {
			d.Close()
			return fmt.Errorf("after reopen: %w", err)
		}
		if err := d.Close(); err != nil {
			return err
		}
	}
	if held != int64(b.nArtifact) {
		return fmt.Errorf("reopened tier holds %d of %d artifacts", held, b.nArtifact)
	}
	b.emit(tierBenchResult{Name: "disk_reopen", Size: int64(b.artSize), Seconds: tierRound3(tierMedian(secs)), Artifacts: held,
		Note: "index rebuilt from the slot table, page cache warm; median of 3 opens"})
	return nil
}
