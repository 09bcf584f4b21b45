//go:build linux

package actors

import (
	"time"

	"golang.org/x/sys/unix"
)

// processCPU returns the CPU time (user + system) the whole process has
// used: the benchmarks report it per operation next to ns/op, because on a
// shared machine it is the steadier figure, and it counts what a store
// costs beyond its own goroutine (the collector, the actors).
func processCPU() (time.Duration, bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
