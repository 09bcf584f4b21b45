// Package clientsdk is the Go SDK that request schedulers and inference
// workers embed: Put/Get/Exists/Delete (and batch forms) over the native
// protocol with per-node connection pools, retries and errors.Is-able
// sentinels (errors.go lists them; docs/clientsdk.md says when each is
// returned); a per-node handle for placement (Client.On); the chained
// prefix hash helper; a local index of which node holds which KV block,
// answering PrefixLookup, ScoreNodes and Scores in microseconds without a
// network round trip and leaving out members marked down (health.go);
// the nodes' HELLO settings, checked against the client's HashConfig;
// ParamStore for parameter chunks with Prefetch; an embedded mode
// against a node in the same process (through the Embedded interface
// this package declares); and a local-attach mode (Client.Attach) that
// reads a co-located node's CXL pool through a read-only mapping.
//
// It stays light, because schedulers embed it: its non-test code imports
// artifact/, placement/ (the hash scheme and rendezvous placement the nodes
// use too), messages/ (with messages/frame) and attach/ (with extent/, the
// pool format) of this module, and must not
// import cluster/, node/, actors/ or tiers/, nor memberlist, protoactor-go,
// OpenTelemetry or the Prometheus client (TestSDKStaysLight checks it with
// `go list -deps`). node satisfies Embedded and an in-process cluster node
// hands its membership over as a function value (ClusterMembers), so
// neither side imports the other. (Tests build in-process nodes and
// clusters from node/, cluster/ and actors/.)
// docs/clientsdk.md describes the design and the measured figures.
package clientsdk
