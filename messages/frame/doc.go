// Package frame is the byte layout of StrataCache's native protocol: a fixed
// 32-byte prefix (magic, version, lengths, request id), a protobuf
// messages.FrameHeader, then the raw payload bytes (never a protobuf bytes
// field, so a payload is written from and read into caller buffers without
// an extra copy).
//
// Servers (node/), clients (clientsdk/) and the peer transport (cluster/)
// share it, which is why it lives under messages/ and not in node/. It
// imports messages/ and the protobuf runtime only. docs/protocol.md
// describes the layout for implementers in other languages.
package frame
