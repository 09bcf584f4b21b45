// Package router is `stratacache router`: KV-aware routing for schedulers
// that are not written in Go, over HTTP (docs/router.md). It follows
// vLLM pods' KV events (kvevents/) and, optionally, a StrataCache cluster
// through the SDK (clientsdk/: a Follower feeding an Index), and scores a
// prompt for every pod with one rule: a leading block counts what it is
// worth where the pod can get it from — its own GPU (or CPU offload), or
// a StrataCache node's tiers, which the pod's connector loads over the
// network — and the prompt's usable prefix ends at the first block nobody
// holds.
//
// It is a service at the edge (cmd/stratacache router runs it): it may
// import kvevents/, clientsdk/, placement/, artifact/ and the Prometheus
// client; nothing imports it but cmd/.
package router
