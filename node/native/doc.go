// Package native serves StrataCache's own wire protocol on the node's
// native port, for clientsdk and tools: frames in messages/frame's layout
// (a 32-byte prefix with magic, version, lengths and request id; a protobuf
// FrameHeader from messages/wire.proto; the payload as raw bytes after it,
// never inside the protobuf). Requests carry a request id the reply echoes;
// a connection may pipeline any number of requests; batch ops (MPUT, MGET,
// MEXISTS) carry many artifacts in one frame. docs/protocol.md is the
// specification.
//
// The package holds the node's frame limits over messages/frame's Reader
// (frame.go), the server (server.go, ops.go) and a small client
// (client.go) on messages/frame's Conn, used by bench net, tools and
// tests; clientsdk's routing client uses the same Conn.
//
// native imports actors/, artifact/, messages/ (with messages/frame) and
// tiers/. It must not import node/, the RESP package, cluster/ or
// clientsdk/.
package native
