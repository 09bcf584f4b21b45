// Package native is StrataCache's own wire protocol, for clientsdk and for
// peers: length-prefixed frames, each a fixed 16-byte prefix (magic,
// version, header length, payload length), a protobuf FrameHeader
// (messages/wire.proto) and the payload as raw bytes after it, never inside
// the protobuf. Requests carry a request id the reply echoes; a connection
// may pipeline any number of requests; batch ops (MPUT, MGET, MEXISTS) carry
// many artifacts in one frame. docs/protocol.md is the specification.
//
// The package holds the frame codec (frame.go), the server (server.go,
// ops.go) and a small synchronous client (client.go) used by bench net and
// tests; clientsdk builds its own routing client on the codec.
//
// native imports actors/, artifact/, messages/ and tiers/. It must not
// import node/, the RESP package, cluster/ or clientsdk/.
package native
