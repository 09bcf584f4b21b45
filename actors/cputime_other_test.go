//go:build !linux

package actors

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
