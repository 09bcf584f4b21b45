// Package native serves StrataCache's own wire protocol on the node's
// native port, for clientsdk and tools: frames in messages/frame's layout
// (a 32-byte prefix with magic, version, lengths and request id; a protobuf
// FrameHeader from messages/wire.proto; the payload as raw bytes after it,
// never inside the protobuf). Requests carry a request id the reply echoes;
// a connection may pipeline any number of requests; batch ops (MPUT, MGET,
// MEXISTS) carry many artifacts in one frame. docs/protocol.md is the
// specification.
//
// The package holds the node's frame limits over messages/frame (frame.go),
// the server (server.go, ops.go) and a small synchronous client (client.go)
// used by bench net and tests; clientsdk builds its own routing client on
// messages/frame.
//
// native imports actors/, artifact/, messages/ (with messages/frame) and
// tiers/. It must not import node/, the RESP package, cluster/ or
// clientsdk/.
package native
