// Package clientsdk is the Go SDK that request schedulers and inference
// workers embed: Put/Get/Exists/Delete (and batch forms) over the native
// protocol with per-node connection pools, retries and errors.Is-able
// sentinels; the chained prefix hash helper; a local index of which node
// holds which KV block, answering PrefixLookup and ScoreNodes in
// microseconds without a network round trip; ParamStore for parameter
// chunks with Prefetch; and an embedded mode against a node in the same
// process (through the Embedded interface this package declares).
//
// It imports artifact/, messages/ (with messages/frame), tiers/ (tier
// kinds) and cluster/ (the shared rendezvous placement, and following an
// in-process cluster node's membership). It must not import node/, and
// its non-test code must not import actors/: node satisfies Embedded, and
// neither side imports the other. (Tests build a live in-process cluster
// from cluster/ and actors/.)
// docs/clientsdk.md describes the design and the measured figures.
package clientsdk
