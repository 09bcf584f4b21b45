package actors

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/stratacache/stratacache/tiers"
)

// LinkPolicy is how a store travels from a tier to the one below it.
type LinkPolicy uint8

const (
	// WriteThrough: the store reaches the lower tier before Store returns.
	WriteThrough LinkPolicy = iota + 1
	// WriteBack: the upper tier's copy is marked dirty and flushed down in
	// background batches; dirty bytes are bounded and writers wait (with
	// their context) when the bound is reached.
	WriteBack
)

func (p LinkPolicy) String() string {
	switch p {
	case WriteThrough:
		return "write-through"
	case WriteBack:
		return "write-back"
	}
	return fmt.Sprintf("link-policy(%d)", uint8(p))
}

// ParseLinkPolicy maps "write-through"/"writethrough"/"wt" and
// "write-back"/"writeback"/"wb" to a LinkPolicy.
func ParseLinkPolicy(s string) (LinkPolicy, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "_", "-")) {
	case "write-through", "writethrough", "wt":
		return WriteThrough, nil
	case "write-back", "writeback", "wb":
		return WriteBack, nil
	}
	return 0, fmt.Errorf("engine: unknown link policy %q (want write-through or write-back)", s)
}

// LinkConfig configures the link between tier i and tier i+1.
type LinkConfig struct {
	Policy LinkPolicy
	// MaxDirtyBytes bounds the bytes stored above but not yet flushed below
	// (write-back only). A single artifact larger than the bound is still
	// accepted when nothing else is dirty.
	MaxDirtyBytes int64
	// FlushBatchBytes starts a flush once this many bytes are dirty.
	FlushBatchBytes int64
	// FlushInterval flushes whatever is dirty at least this often.
	FlushInterval time.Duration
}

// DefaultLinkConfig is a write-back link with 256 MiB of dirty bytes,
// flushed in 32 MiB batches or every 100 ms.
func DefaultLinkConfig() LinkConfig {
	return LinkConfig{
		Policy:          WriteBack,
		MaxDirtyBytes:   256 << 20,
		FlushBatchBytes: 32 << 20,
		FlushInterval:   100 * time.Millisecond,
	}
}

// Config is the engine's configuration. The engine takes ownership of the
// tiers: Close closes them.
type Config struct {
	// Tiers in order, fastest first. Names must be unique and non-empty.
	Tiers []tiers.Tier
	// Links[i] joins Tiers[i] and Tiers[i+1]; len(Links) == len(Tiers)-1.
	// A nil slice means DefaultLinkConfig for every link.
	Links []LinkConfig
	// MaxArtifactBytes refuses larger payloads with ErrTooLarge.
	MaxArtifactBytes int64
	// PromoteOnHit copies a lower-tier hit (chain mode) into the top tier.
	PromoteOnHit bool
	// RequestTimeout bounds every wait that has no caller's deadline: an
	// actor request, a background flush, demotion or promotion, Close's
	// wait for operations in flight.
	RequestTimeout time.Duration
	// MaxRestarts actors may restart within RestartWindow; one that fails
	// more often is stopped for good and the engine is degraded (Health).
	// Defaults 100 and 1 minute.
	MaxRestarts   int
	RestartWindow time.Duration
	// MaxPendingPromotes bounds the promotions queued for the top tier;
	// lower-tier hits beyond it are served without being promoted.
	// Default 64.
	MaxPendingPromotes int
	// Logger receives engine and actor-system logs; nil discards them.
	Logger *slog.Logger
}

// DefaultMaxArtifactBytes is DESIGN.md's upper payload size.
const DefaultMaxArtifactBytes = 64 << 20

// EnsureDefaults fills zero fields with defaults.
func (c *Config) EnsureDefaults() {
	if c.MaxArtifactBytes == 0 {
		c.MaxArtifactBytes = DefaultMaxArtifactBytes
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.MaxRestarts == 0 {
		c.MaxRestarts = 100
	}
	if c.RestartWindow == 0 {
		c.RestartWindow = time.Minute
	}
	if c.MaxPendingPromotes == 0 {
		c.MaxPendingPromotes = 64
	}
	if c.Links == nil && len(c.Tiers) > 1 {
		c.Links = make([]LinkConfig, len(c.Tiers)-1)
		for i := range c.Links {
			c.Links[i] = DefaultLinkConfig()
		}
	}
	for i := range c.Links {
		l := &c.Links[i]
		d := DefaultLinkConfig()
		if l.Policy == 0 {
			l.Policy = d.Policy
		}
		if l.MaxDirtyBytes == 0 {
			l.MaxDirtyBytes = d.MaxDirtyBytes
		}
		if l.FlushBatchBytes == 0 {
			l.FlushBatchBytes = min(d.FlushBatchBytes, l.MaxDirtyBytes)
		}
		if l.FlushInterval == 0 {
			l.FlushInterval = d.FlushInterval
		}
	}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Tiers) == 0 {
		errs = append(errs, errors.New("engine config: no tiers"))
	}
	seen := map[string]bool{}
	for i, t := range c.Tiers {
		if t == nil {
			errs = append(errs, fmt.Errorf("engine config: tier %d is nil", i))
			continue
		}
		n := t.Name()
		if n == "" {
			errs = append(errs, fmt.Errorf("engine config: tier %d has no name", i))
		}
		if seen[n] {
			errs = append(errs, fmt.Errorf("engine config: duplicate tier name %q", n))
		}
		seen[n] = true
	}
	if len(c.Tiers) > 0 && len(c.Links) != len(c.Tiers)-1 {
		errs = append(errs, fmt.Errorf("engine config: %d links for %d tiers (want %d)", len(c.Links), len(c.Tiers), len(c.Tiers)-1))
	}
	for i, l := range c.Links {
		if l.Policy != WriteThrough && l.Policy != WriteBack {
			errs = append(errs, fmt.Errorf("engine config: link %d: unknown policy %d", i, l.Policy))
		}
		if l.MaxDirtyBytes < 0 || l.FlushBatchBytes < 0 || l.FlushInterval < 0 {
			errs = append(errs, fmt.Errorf("engine config: link %d: negative bound", i))
		}
	}
	if c.MaxArtifactBytes < 0 {
		errs = append(errs, errors.New("engine config: negative max artifact bytes"))
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, errors.New("engine config: negative request timeout"))
	}
	if c.MaxRestarts < 0 || c.RestartWindow < 0 || c.MaxPendingPromotes < 0 {
		errs = append(errs, errors.New("engine config: negative restart budget or promote bound"))
	}
	return errors.Join(errs...)
}
