package clientsdk

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
)

// prompts recycles the Prompts that Scores hashes into.
var prompts = sync.Pool{New: func() any { return new(Prompt) }}

// Scores is the one call a router makes per request: it hashes tokens
// with h, looks the prompt up in the index and returns a score for every
// member that is up (the candidates only, when given), best first (ties
// by name). A node holding the whole cached prefix never scores below one
// holding none with DefaultScoreConfig (ScoreConfig). ErrNoNodes when no
// member is up; ctx is checked before the work starts.
func (ix *Index) Scores(ctx context.Context, h *Hasher, tokens []uint32, candidates ...string) ([]Score, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("%w: Scores needs a Hasher", ErrInvalid)
	}
	p := prompts.Get().(*Prompt)
	defer prompts.Put(p)
	if err := h.Hash(p, tokens); err != nil {
		return nil, err
	}
	var cand []string
	if len(candidates) > 0 {
		cand = candidates
	}
	out := ix.ScoreNodes(nil, p, cand)
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no member is up", ErrNoNodes)
	}
	slices.SortFunc(out, func(a, b Score) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Node, b.Node)
	})
	return out, nil
}

// Scores hashes tokens with the client's HashConfig (WithHashConfig) and
// scores the members of its Index (WithIndex) for them, best first
// (Index.Scores). A router's loop is: Scores, then On(scores[0].Node) to
// read or store the request's KV on the chosen node.
func (c *Client) Scores(ctx context.Context, tokens []uint32, candidates ...string) ([]Score, error) {
	if c.o.Index == nil || c.hasher == nil {
		return nil, fmt.Errorf("%w: Scores needs WithIndex and WithHashConfig", ErrInvalid)
	}
	return c.o.Index.Scores(ctx, c.hasher, tokens, candidates...)
}
