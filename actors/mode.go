package actors

import (
	"fmt"
	"strings"
)

// Mode selects which tiers an operation touches.
//
//   - ModeChain (the zero value): the whole chain. Store writes the top tier
//     and follows the links down (write-through tiers synchronously,
//     write-back tiers later); Load scans top-down and promotes a lower-tier
//     hit to the top tier.
//   - ModeExact: one named tier only, no links, no promotion.
//   - ModePrefer: the named tier first. Store writes it and follows its links
//     down, falling back to the chain when the tier refuses (too large, no
//     space); Load tries it, then scans the chain.
type Mode uint8

const (
	ModeChain Mode = iota
	ModeExact
	ModePrefer
)

func (m Mode) String() string {
	switch m {
	case ModeChain:
		return "chain"
	case ModeExact:
		return "exact"
	case ModePrefer:
		return "prefer"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode maps "chain", "exact" or "prefer" (any case) to a Mode.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "chain", "":
		return ModeChain, nil
	case "exact":
		return ModeExact, nil
	case "prefer":
		return ModePrefer, nil
	}
	return 0, fmt.Errorf("%w: %q (want chain, exact or prefer)", ErrUnknownMode, s)
}

// Access is how an operation addresses the chain: a mode and, for exact and
// prefer, the tier's name. The zero Access is the whole chain.
type Access struct {
	Mode Mode
	Tier string
}

// Chain, Exact and Prefer build the three kinds of Access.
func Chain() Access             { return Access{Mode: ModeChain} }
func Exact(tier string) Access  { return Access{Mode: ModeExact, Tier: tier} }
func Prefer(tier string) Access { return Access{Mode: ModePrefer, Tier: tier} }
