package simulations

import "fmt"

// CostModel turns hits into an estimated time-to-first-token saving: a
// block found in a tier need not be prefilled, but must be loaded from that
// tier. See docs/SIMULATIONS.md for the sources of the defaults.
type CostModel struct {
	// PrefillTokensPerSec is the GPU's prefill throughput.
	PrefillTokensPerSec float64
	// KVBytesPerToken is the KV-cache size of one token.
	KVBytesPerToken int64
}

// DefaultCostModel is Llama-3-8B in fp16 on one H100: 2 (K and V) x 32
// layers x 8 KV heads x 128 dims x 2 bytes = 131,072 bytes per token, and
// prefill at 2 x 8e9 FLOP per token on 989 TFLOPS dense BF16 at 40% MFU,
// about 25,000 tokens/s.
func DefaultCostModel() CostModel {
	return CostModel{PrefillTokensPerSec: 25000, KVBytesPerToken: 131072}
}

// Validate reports a non-positive field.
func (m CostModel) Validate() error {
	if m.PrefillTokensPerSec <= 0 || m.KVBytesPerToken <= 0 {
		return fmt.Errorf("%w: cost model needs positive prefill rate and KV bytes per token", ErrConfig)
	}
	return nil
}

// prefillSec is the time to prefill tokens.
func (m CostModel) prefillSec(tokens float64) float64 { return tokens / m.PrefillTokensPerSec }

// loadSec is the time to load tokens' KV at gbps GB/s.
func (m CostModel) loadSec(tokens, gbps float64) float64 {
	return tokens * float64(m.KVBytesPerToken) / (gbps * 1e9)
}

// saving is the TTFT a hit of tokens from a tier of gbps saves: recompute
// minus load, never negative (a scheduler recomputes when loading is
// slower).
func (m CostModel) saving(tokens, gbps float64) float64 {
	return max(0, m.prefillSec(tokens)-m.loadSec(tokens, gbps))
}

// blockTokens returns the tokens of block i of a request of n blocks and
// input tokens (the last block may be partial).
func blockTokens(i, n int, input uint32, bt int) float64 {
	if i == n-1 && input > 0 {
		if rest := int(input) - (n-1)*bt; rest > 0 && rest < bt {
			return float64(rest)
		}
	}
	return float64(bt)
}
