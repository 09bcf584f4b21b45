// Package actors runs a node's tiers as protoactor-go actors and offers the
// storage engine facade over them.
//
// Each tier is wrapped by a TierActor that performs every mutation of that
// tier (store, delete, promote, demote); each pair of adjacent tiers is joined
// by a LinkActor that implements the link policy (write-through or write-back
// with a bounded dirty set, batched background flush and backpressure) and
// demotes the upper tier's evictions. A ChainActor parents and supervises
// them: a crashed actor restarts with the same tier value, so no data is lost.
//
// The hot read path (Load, Contains) reads the tiers' concurrent indexes
// directly from the caller's goroutine: a mailbox round trip (~3 µs) would
// cap small reads far below their targets (docs/actors.md). Mutations stay in
// the actors.
//
// Only protoactor-go's local actor package is used (never its remote or
// cluster packages; see DESIGN.md). actors may import tiers/, artifact/ and
// messages/; never cluster/, node/ or clientsdk/.
package actors
