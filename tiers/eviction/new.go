package eviction

import (
	"errors"
	"fmt"
	"strings"

	"github.com/stratacache/stratacache/tiers/eviction/duel"
)

// ErrUnknownPolicy: New was given a name that is not in Names.
var ErrUnknownPolicy = errors.New("eviction: unknown policy")

// names lists the policies New builds, in the order Names reports them.
var names = [...]string{"lru", "fifo", "lfu", "s3fifo", "sieve", "arc", "prefix", "duel"}

// Names returns the policy names New accepts.
func Names() []string {
	out := make([]string, len(names))
	copy(out, names[:])
	return out
}

// New returns the policy called name (case-insensitive). capacity is a hint
// in entries: S3-FIFO and ARC size their queue targets by it, the others only
// presize their tables. capacity 0 means unknown (tiers with byte budgets):
// S3-FIFO and ARC then follow the current Len. Negative capacities are
// treated as 0. No policy evicts on its own: the owner calls Evict.
func New(name string, capacity int) (Policy, error) {
	if capacity < 0 {
		capacity = 0
	}
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "lru":
		return NewLRU(capacity), nil
	case "fifo":
		return NewFIFO(capacity), nil
	case "lfu":
		return NewLFU(capacity), nil
	case "s3fifo", "s3-fifo":
		return NewS3FIFO(capacity), nil
	case "sieve":
		return NewSIEVE(capacity), nil
	case "arc":
		return NewARC(capacity), nil
	case "prefix":
		return NewPrefix(capacity), nil
	case "duel":
		return duel.New(capacity), nil
	}
	return nil, fmt.Errorf("%w: %q (known: %s)", ErrUnknownPolicy, name, strings.Join(names[:], ", "))
}

var (
	_ Policy      = (*LRU)(nil)
	_ Policy      = (*FIFO)(nil)
	_ Policy      = (*LFU)(nil)
	_ Policy      = (*S3FIFO)(nil)
	_ Policy      = (*SIEVE)(nil)
	_ Policy      = (*ARC)(nil)
	_ Policy      = (*Prefix)(nil)
	_ ParentAware = (*Prefix)(nil)
	_ Policy      = (*duel.Duel)(nil)
)
