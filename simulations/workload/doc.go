// Package workload generates seeded synthetic request traces of prefix
// blocks, for runs where no real trace fits: multi-turn chat, agent loops
// with tool calls, shared system prompts and Zipf-popular documents, or a
// mix. The same Config and seed always give the same trace.
//
// Blocks follow the Mooncake convention: a prompt of n tokens has
// ceil(n/BlockTokens) blocks; full blocks are content-addressed (the same
// prefix gives the same block), the trailing partial block is unique to its
// request (its content changes as the conversation grows).
//
// workload imports simulations/trace only.
package workload
