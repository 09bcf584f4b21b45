// Package kvevents speaks vLLM's KV cache events (docs/kvevents.md): the
// msgpack EventBatch of BlockStored, BlockRemoved and AllBlocksCleared
// events (vllm/distributed/kv_events.py) in both of the encodings vLLM
// releases have used, a ZeroMQ subscriber that follows N pods (SUB socket,
// sequence-gap detection, replay over the pods' ROUTER socket, reconnect
// with backoff, a pod cleared when it restarts, clears or stays
// unreachable), the index those events feed (block hash -> pods and
// media), and a publisher of the same format, with which a StrataCache
// node announces its own KV chunks.
//
// ZeroMQ is github.com/go-zeromq/zmq4 (pure Go, no cgo); docs/kvevents.md
// says why and how it was checked against the C library.
//
// It imports placement/ (block hashes) and nothing else of this module but
// artifact/; clientsdk/ must not import it (the SDK stays light: ZeroMQ
// and msgpack are for the router and the node).
package kvevents
