// Package admin is a node's admin HTTP port: Prometheus metrics of the
// engine and the servers (/metrics), liveness and readiness (/healthz,
// /readyz), Go profiling (/debug/pprof/), the live web view (/: members,
// tiers, links, recent errors and charts of the last minutes, polling its
// JSON at /v1/stats) and a plain-text stats page (/stats.txt).
//
// Metrics are read from the engine's value snapshots at scrape time; the
// engine and tiers know nothing of Prometheus. Handlers live on the
// server's own mux, never on http.DefaultServeMux. The web view's page,
// script and chart library (uPlot, web/vendor/uplot/SOURCE.md) are
// embedded: it works offline and has no build step.
//
// admin imports actors/ and the Prometheus client. It must not import
// node/ (node assembles it and fills what only it knows through
// Config.Status), the protocol servers, cluster/ or clientsdk/.
package admin
