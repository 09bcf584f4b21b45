//go:build !linux

package eviction

import "time"

func threadCPU() (time.Duration, bool) { return 0, false }

func lockThread()   {}
func unlockThread() {}
