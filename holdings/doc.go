// Package holdings is the wire form of what one node holds, as schedulers
// follow it without the cluster's directory: the node's change feed (put
// and delete records with per-node sequence numbers, or a whole snapshot
// flagged as a resync) and its summary, a blocked Bloom filter over the
// held block hashes. cluster/ encodes both (OP_PEER_SUBSCRIBE,
// OP_PEER_SUMMARY); clientsdk/ decodes them. It imports nothing of the
// project, so that the SDK stays light.
package holdings
