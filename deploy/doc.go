// Package deploy holds no code: its folders are how StrataCache is run in
// production (docs/operations.md) — docker/ (the image's default config;
// the Dockerfile is at the repository's root), kubernetes/ (a StatefulSet
// of three nodes with its Services, ConfigMap, PodDisruptionBudget, an
// example Secret and an optional DAX overlay), grafana/ (a dashboard) and
// prometheus/ (alert rules).
//
// Its tests check them: the Dockerfile parsed by BuildKit's own parser,
// every Kubernetes document decoded strictly into the Kubernetes API types
// and cross-checked (ports, probes, selectors, secrets, resources against
// the tier sizes, the ConfigMap's config against the node's strict loader),
// and every metric the dashboard and the alert rules query found in a live
// node's /metrics.
package deploy
