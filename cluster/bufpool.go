package cluster

import (
	"math/bits"
	"sync"
)

// Fetched payloads are read into pooled buffers, by power-of-two size class
// from 64 KiB to 64 MiB, so that a stream of remote reads does not allocate
// (and zero, and fault in) a fresh multi-MiB slice per read. A buffer goes
// back only when its one reader releases it; a payload shared by a
// singleflight is left to the GC.

const (
	minPoolClass = 16 // 64 KiB
	maxPoolClass = 26 // 64 MiB
)

var bufPools [maxPoolClass + 1]sync.Pool

func poolClass(n int) int {
	if n <= 1<<minPoolClass {
		return minPoolClass
	}
	return bits.Len(uint(n - 1))
}

// getBuf returns a buffer of length n (pooled when n fits a class).
func getBuf(n int) []byte {
	c := poolClass(n)
	if c > maxPoolClass {
		return make([]byte, n)
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<c)
}

// putBuf returns a buffer from getBuf.
func putBuf(b []byte) {
	c := poolClass(cap(b))
	if c > maxPoolClass || cap(b) != 1<<c {
		return
	}
	b = b[:0]
	bufPools[c].Put(&b)
}
