// Package placement is what the nodes of a StrataCache fleet and the
// clients that route to them must compute identically, and nothing else:
//
//   - the block hash schemes that name a prompt's KV blocks, specified
//     with test vectors in docs/hashing.md: "stratacache", the chained
//     xxhash64 prefix hash of prefixhash.go, and "vllm", vLLM v1's
//     sha256_cbor block hash (vllm.go);
//   - rendezvous placement (rendezvous.go): an artifact's home node and its
//     directory replicas, from its 64-bit id hash and the member names.
//
// It is small on purpose: cluster/ (the nodes) and clientsdk/ (schedulers,
// which stay light) both import it, so it imports nothing of this module
// and no library beyond github.com/cespare/xxhash/v2 and, for the vllm
// scheme's canonical CBOR, github.com/fxamacker/cbor/v2 (which brings only
// github.com/x448/float16). It must not import cluster/, node/,
// clientsdk/, actors/, tiers/ or messages/.
package placement
