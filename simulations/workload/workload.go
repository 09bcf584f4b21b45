package workload

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/stratacache/stratacache/simulations/trace"
)

// ErrConfig reports an invalid generator configuration.
var ErrConfig = errors.New("workload: bad configuration")

// Kinds of workload Generate knows.
const (
	KindChat      = "chat"
	KindAgent     = "agent"
	KindSysPrompt = "sysprompt"
	KindDocs      = "docs"
	KindMix       = "mix"
)

// Kinds lists the workload names.
var Kinds = []string{KindChat, KindAgent, KindSysPrompt, KindDocs, KindMix}

// Config holds every generator's parameters. Zero fields take the
// defaults of DefaultConfig (see EnsureDefaults).
type Config struct {
	// Seed makes the trace reproducible.
	Seed uint64
	// Requests is the number of requests to generate (about: sessions are
	// cut at this count).
	Requests int
	// BlockTokens is the tokens per block (512 as in Mooncake traces).
	BlockTokens int
	// ArrivalPerSec is the mean arrival rate of new sessions (Poisson).
	ArrivalPerSec float64

	// SystemPrompts is the number of distinct system prompts, picked with
	// Zipf exponent PromptZipf (> 1), each SystemPromptTokens long.
	SystemPrompts      int
	SystemPromptTokens int
	PromptZipf         float64
	// SystemPromptShare is the share of sessions that open with one of the
	// shared system prompts; the others open with a private prompt of the
	// same length. DefaultConfig sets 1; unlike the other fields, 0 is
	// kept as 0 (no session shares a prompt).
	SystemPromptShare float64

	// Chat: turns per conversation are geometric with mean ChatTurns; each
	// turn adds UserTokens (exponential mean) and an answer of
	// OutputTokens (exponential mean) to the history; a user thinks
	// ThinkSeconds (exponential mean) between turns.
	ChatTurns    float64
	UserTokens   float64
	OutputTokens float64
	ThinkSeconds float64

	// Agent: a task re-sends its whole context at each of AgentSteps steps
	// (geometric mean); each step appends a tool call (ToolCallTokens,
	// exponential mean) and its result (ToolResultTokens, exponential
	// mean); steps are ToolSeconds apart (exponential mean). Every agent
	// shares one tool-description preamble of ToolSpecTokens after its
	// system prompt.
	AgentSteps       float64
	ToolCallTokens   float64
	ToolResultTokens float64
	ToolSeconds      float64
	ToolSpecTokens   int

	// Docs: a request reads one of Documents documents (Zipf exponent
	// DocZipf > 1) of DocTokens tokens, after a system prompt, then a
	// question of UserTokens.
	Documents int
	DocTokens int
	DocZipf   float64
}

// DefaultConfig returns parameters that give conversation-like traces of
// about 10,000 requests.
func DefaultConfig() Config {
	return Config{
		Seed:               1,
		Requests:           10000,
		BlockTokens:        512,
		ArrivalPerSec:      2,
		SystemPrompts:      20,
		SystemPromptTokens: 1500,
		PromptZipf:         1.2,
		SystemPromptShare:  1,
		ChatTurns:          4,
		UserTokens:         600,
		OutputTokens:       350,
		ThinkSeconds:       60,
		AgentSteps:         8,
		ToolCallTokens:     150,
		ToolResultTokens:   1200,
		ToolSeconds:        3,
		ToolSpecTokens:     3000,
		Documents:          2000,
		DocTokens:          6000,
		DocZipf:            1.1,
	}
}

// EnsureDefaults fills zero fields from DefaultConfig.
func (c *Config) EnsureDefaults() {
	d := DefaultConfig()
	setI := func(v *int, dv int) {
		if *v == 0 {
			*v = dv
		}
	}
	setF := func(v *float64, dv float64) {
		if *v == 0 {
			*v = dv
		}
	}
	setI(&c.Requests, d.Requests)
	setI(&c.BlockTokens, d.BlockTokens)
	setF(&c.ArrivalPerSec, d.ArrivalPerSec)
	setI(&c.SystemPrompts, d.SystemPrompts)
	setI(&c.SystemPromptTokens, d.SystemPromptTokens)
	setF(&c.PromptZipf, d.PromptZipf)
	setF(&c.ChatTurns, d.ChatTurns)
	setF(&c.UserTokens, d.UserTokens)
	setF(&c.OutputTokens, d.OutputTokens)
	setF(&c.ThinkSeconds, d.ThinkSeconds)
	setF(&c.AgentSteps, d.AgentSteps)
	setF(&c.ToolCallTokens, d.ToolCallTokens)
	setF(&c.ToolResultTokens, d.ToolResultTokens)
	setF(&c.ToolSeconds, d.ToolSeconds)
	setI(&c.ToolSpecTokens, d.ToolSpecTokens)
	setI(&c.Documents, d.Documents)
	setI(&c.DocTokens, d.DocTokens)
	setF(&c.DocZipf, d.DocZipf)
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case c.Requests <= 0 || c.Requests > 1<<26:
		return fmt.Errorf("%w: Requests %d", ErrConfig, c.Requests)
	case c.BlockTokens <= 0:
		return fmt.Errorf("%w: BlockTokens %d", ErrConfig, c.BlockTokens)
	case c.ArrivalPerSec <= 0:
		return fmt.Errorf("%w: ArrivalPerSec %g", ErrConfig, c.ArrivalPerSec)
	case c.PromptZipf <= 1 || c.DocZipf <= 1:
		return fmt.Errorf("%w: Zipf exponents must exceed 1", ErrConfig)
	case c.SystemPrompts <= 0 || c.Documents <= 0:
		return fmt.Errorf("%w: SystemPrompts and Documents must be positive", ErrConfig)
	case c.ChatTurns < 1 || c.AgentSteps < 1:
		return fmt.Errorf("%w: ChatTurns and AgentSteps must be >= 1", ErrConfig)
	case !(c.SystemPromptShare >= 0 && c.SystemPromptShare <= 1):
		return fmt.Errorf("%w: SystemPromptShare %g (want 0..1)", ErrConfig, c.SystemPromptShare)
	case c.ChatTurns > 1e6 || c.AgentSteps > 1e6:
		return fmt.Errorf("%w: ChatTurns and AgentSteps must be at most 1e6", ErrConfig)
	case c.SystemPromptTokens < 0 || c.ToolSpecTokens < 0 || c.DocTokens < 0:
		return fmt.Errorf("%w: negative token count", ErrConfig)
	}
	return nil
}

// Generate builds the named workload (see Kinds).
func Generate(kind string, cfg Config) (*trace.Trace, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := newGen(cfg)
	var sessions func(*gen)
	switch strings.ToLower(kind) {
	case KindChat:
		sessions = (*gen).chat
	case KindAgent:
		sessions = (*gen).agent
	case KindSysPrompt:
		sessions = (*gen).sysPrompt
	case KindDocs:
		sessions = (*gen).doc
	case KindMix:
		kinds := []func(*gen){(*gen).chat, (*gen).agent, (*gen).sysPrompt, (*gen).doc}
		sessions = func(g *gen) { kinds[g.r.IntN(len(kinds))](g) }
	default:
		return nil, fmt.Errorf("%w: unknown workload %q (want %s)", ErrConfig, kind, strings.Join(Kinds, ", "))
	}
	for len(g.events) < cfg.Requests {
		g.now += g.r.ExpFloat64() / cfg.ArrivalPerSec
		sessions(g)
	}
	return g.build("gen-" + strings.ToLower(kind))
}

// event is one request before time ordering.
type event struct {
	t       float64 // seconds
	seq     int
	tokens  int
	out     int
	content []uint64 // content keys of the full blocks
}

// gen holds the generator state.
type gen struct {
	cfg     Config
	r       *rand.Rand
	now     float64 // arrival time of the current session
	events  []event
	nextKey uint64
	prompts *rand.Zipf
	docs    *rand.Zipf
}

func newGen(cfg Config) *gen {
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	return &gen{
		cfg:     cfg,
		r:       r,
		prompts: rand.NewZipf(r, cfg.PromptZipf, 1, uint64(cfg.SystemPrompts-1)),
		docs:    rand.NewZipf(r, cfg.DocZipf, 1, uint64(cfg.Documents-1)),
	}
}

// exp draws an exponential token count with the given mean (at least 1).
func (g *gen) exp(mean float64) int {
	return max(1, int(math.Round(g.r.ExpFloat64()*mean)))
}

// geometric draws a count >= 1 with the given mean.
func (g *gen) geometric(mean float64) int {
	if mean <= 1 {
		return 1
	}
	p := 1 / mean
	return 1 + int(math.Floor(math.Log(1-g.r.Float64())/math.Log(1-p)))
}

// ctx is a growing prompt, content-addressed like a real prefix hash: a
// block's key is a hash of its parent's key and the pieces of segments it
// holds, so the same content after the same prefix is the same block and
// the trace stays a tree.
type ctx struct {
	tokens int
	keys   []uint64 // full blocks
	h      uint64   // running hash of the open (partial) block
	parent uint64
}

func mix(h, v uint64) uint64 {
	h ^= v + 0x9e3779b97f4a7c15 + h<<6 + h>>2
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 29
	return h
}

// appendSeg appends n tokens of segment seg.
func (g *gen) appendSeg(c *ctx, seg uint64, n int) {
	bt := g.cfg.BlockTokens
	off := 0
	for off < n {
		used := c.tokens % bt
		if used == 0 {
			c.h = mix(c.parent, 0x5bd1e995)
		}
		m := min(n-off, bt-used)
		c.h = mix(mix(mix(c.h, seg), uint64(off)), uint64(m))
		off += m
		c.tokens += m
		if c.tokens%bt == 0 {
			k := c.h | 1 // never 0
			c.keys = append(c.keys, k)
			c.parent = k
		}
	}
}

// appendShared appends shared content (class, id) of n tokens: a system
// prompt, a tool preamble, a document.
func (g *gen) appendShared(c *ctx, class, id, n int) {
	g.appendSeg(c, mix(uint64(class)<<32|uint64(id), 0xa0761d6478bd642f), n)
}

// appendUnique appends n fresh tokens.
func (g *gen) appendUnique(c *ctx, n int) {
	g.nextKey++
	g.appendSeg(c, mix(g.nextKey, 0xe7037ed1a0b428db), n)
}

// emit records a request for the context at time t with out output tokens.
// The open partial block, if any, is the request's last block.
func (g *gen) emit(t float64, c *ctx, out int) {
	e := event{t: t, seq: len(g.events), tokens: c.tokens, out: out}
	e.content = make([]uint64, len(c.keys), len(c.keys)+1)
	copy(e.content, c.keys)
	if c.tokens%g.cfg.BlockTokens != 0 {
		e.content = append(e.content, c.h|1)
	}
	g.events = append(g.events, e)
}

// build orders the events by time and writes the trace.
func (g *gen) build(name string) (*trace.Trace, error) {
	ev := g.events
	if len(ev) > g.cfg.Requests {
		// Keep the earliest arrivals: cut by time, not by generation order.
		sort.Slice(ev, func(i, j int) bool {
			if ev[i].t != ev[j].t {
				return ev[i].t < ev[j].t
			}
			return ev[i].seq < ev[j].seq
		})
		ev = ev[:g.cfg.Requests]
	}
	sort.Slice(ev, func(i, j int) bool {
		if ev[i].t != ev[j].t {
			return ev[i].t < ev[j].t
		}
		return ev[i].seq < ev[j].seq
	})
	b := trace.NewBuilder(name, trace.FormatGenerated, g.cfg.BlockTokens, false)
	for _, e := range ev {
		if err := b.Add(int64(e.t*1000), uint32(e.tokens), uint32(e.out), e.content); err != nil {
			return nil, err
		}
	}
	return b.Trace(), nil
}
