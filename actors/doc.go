// Package actors runs a node's tiers as protoactor-go actors and offers the
// storage engine facade over them.
//
// Each tier is wrapped by a TierActor that performs the chain's background
// and ordered mutations of that tier (promote, delete); each pair of
// adjacent tiers is joined by a LinkActor that implements the link policy
// (write-through or write-back with a bounded dirty set, batched background
// flush and backpressure) and demotes the upper tier's evictions. A ChainActor parents and supervises
// them: a crashed actor restarts with the same tier value, so no data is lost.
//
// The hot paths run on the caller's goroutine against the tiers' concurrent
// indexes: reads (Load, View, Contains) and the copy of a foreground Store.
// A mailbox round trip (3-6 µs measured) capped small operations far below
// their targets and serialised every connection's copies on one goroutine
// (docs/actors.md). What needs ordering or outlives the call stays in the
// actors: dirty sets, flushes, demotion of evictions, promotion, deletes.
//
// Only protoactor-go's local actor package is used (never its remote or
// cluster packages; see DESIGN.md). actors may import tiers/, artifact/ and
// messages/; never cluster/, node/ or clientsdk/.
package actors
