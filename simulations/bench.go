package simulations

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stratacache/stratacache/simulations/trace"
)

// BenchResult is the speed and memory of one policy at one capacity.
type BenchResult struct {
	Trace    string  `json:"trace"`
	Policy   string  `json:"policy"`
	Capacity int     `json:"capacity"`
	HitRate  float64 `json:"hit_rate"`
	Accesses int     `json:"accesses"`
	Rounds   int     `json:"rounds"`
	// Wall-clock rate, and the rate per CPU second of the running thread
	// (robust to other processes sharing the cores).
	Seconds           float64 `json:"seconds"`
	AccessesPerSec    float64 `json:"accesses_per_sec"`
	CPUSeconds        float64 `json:"cpu_seconds"`
	AccessesPerCPUSec float64 `json:"accesses_per_cpu_sec"`
	// Heap bytes held by the cache after a run, per cached block: the
	// whole simulated cache (policy plus the simulator's per-block
	// arrays), and the part that grows with the capacity.
	BytesPerBlock       float64 `json:"bytes_per_block"`
	BytesPerCachedBlock float64 `json:"bytes_per_cached_block"`
	CachedBlocks        int     `json:"cached_blocks"`
}

// threadCPU returns the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Bench replays tr through fresh caches of policy and capacity for at
// least minTime (and at least one round) and measures speed; it then
// measures the heap one cache holds. MIN's oracle (4 bytes per access,
// shared by every capacity) is built outside the timed region and the
// memory figure. Per-cached-block memory subtracts the same cache's
// footprint at a tenth of the capacity, isolating what grows per block.
func Bench(tr *trace.Trace, policy string, capacity int, minTime time.Duration) (BenchResult, error) {
	var o *Oracle
	if policy == PolicyMIN {
		o = NewOracle(tr)
	}
	mk := func(c int) (Cache, error) {
		if o != nil {
			return NewMIN(c, o), nil
		}
		return NewCache(policy, c, tr)
	}
	res := BenchResult{Trace: tr.Name, Policy: policy, Capacity: capacity}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var wall, cpu time.Duration
	for res.Rounds == 0 || wall < minTime {
		c, err := mk(capacity)
		if err != nil {
			return res, err
		}
		c0, t0 := threadCPU(), time.Now()
		r := Replay(tr, c, capacity, nil)
		wall += time.Since(t0)
		cpu += threadCPU() - c0
		res.HitRate = r.HitRate
		res.Accesses += r.Blocks
		res.Rounds++
	}
	res.Seconds = wall.Seconds()
	res.CPUSeconds = cpu.Seconds()
	if res.Seconds > 0 {
		res.AccessesPerSec = float64(res.Accesses) / res.Seconds
	}
	if res.CPUSeconds > 0 {
		res.AccessesPerCPUSec = float64(res.Accesses) / res.CPUSeconds
	}
	footprint := func(c int) (uint64, int, error) {
		before := heapInUse()
		cache, err := mk(c)
		if err != nil {
			return 0, 0, err
		}
		Replay(tr, cache, c, nil)
		after := heapInUse()
		n := cache.Len()
		runtime.KeepAlive(cache)
		if after < before {
			return 0, n, nil
		}
		return after - before, n, nil
	}
	full, n, err := footprint(capacity)
	if err != nil {
		return res, err
	}
	res.CachedBlocks = n
	if n > 0 {
		res.BytesPerBlock = float64(full) / float64(n)
	}
	if small, m, err := footprint(max(1, capacity/10)); err == nil && n > m {
		res.BytesPerCachedBlock = (float64(full) - float64(small)) / float64(n-m)
	}
	return res, nil
}
