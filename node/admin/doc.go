// Package admin is a node's admin HTTP port: Prometheus metrics of the
// engine and the servers (/metrics), liveness and readiness (/healthz,
// /readyz), Go profiling (/debug/pprof/) and a small human stats page (/).
//
// Metrics are read from the engine's value snapshots at scrape time; the
// engine and tiers know nothing of Prometheus. Handlers live on the
// server's own mux, never on http.DefaultServeMux.
//
// admin imports actors/ and the Prometheus client. It must not import
// node/ (node assembles it), the protocol servers, cluster/ or clientsdk/.
package admin
