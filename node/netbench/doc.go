// Package netbench is the load generator behind `stratacache bench net`:
// one harness (fixed duration, N connections, per-request latencies) and
// one minimal client per target protocol — StrataCache's native port, any
// RESP server (our RESP port, redis-server), memcached's text protocol, and
// a raw-TCP echo of the same byte counts as the loopback ceiling. The same
// harness and the same buffer handling drive every target, so the figures
// compare like with like.
//
// netbench imports node/native (its client) and artifact/. It must not
// import node/ itself, cluster/ or clientsdk/.
package netbench
