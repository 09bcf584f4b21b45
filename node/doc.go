// Package node assembles one StrataCache node from its configuration: the
// storage engine (tiers and links, BuildEngine), the Redis-compatible port
// (node/resp), the native protocol port (node/native), the admin HTTP port
// (node/admin), auth, TLS, limits, stats logging and graceful shutdown.
//
// Configuration (Config) is YAML with the seed StrataCache's keys, overridden
// by STRATACACHE_* environment variables, overridden in turn by the serve
// command's flags; docs/config.md lists every key.
//
// node sits just below cmd/: it may import actors/, tiers/, messages/,
// artifact/ and its own sub-packages (and cluster/ once it exists). It must
// not import cmd/ or clientsdk/ (clientsdk talks to a node over the wire or
// through an interface it declares itself).
package node
