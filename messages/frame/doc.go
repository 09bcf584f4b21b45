// Package frame is StrataCache's native protocol on the wire: the byte
// layout of a frame (a fixed 32-byte prefix with magic, version, lengths
// and request id; a protobuf messages.FrameHeader; then the raw payload
// bytes, never a protobuf bytes field, so a payload is written from and
// read into caller buffers without an extra copy), the one frame Reader,
// and the one client connection, Conn (with Dial).
//
// Every party uses these and no copy of them: node/native's server reads
// with Reader (its limits on top), the cluster's peer server too; and
// clientsdk, node/native's Client and the cluster's peer transport send
// requests through Conn, which pipelines requests of many goroutines on
// one connection, or serves one request at a time for a pool, with
// per-request deadlines that leave the stream in step when a request gives
// up. That is why it lives under messages/ and not in node/: it imports
// messages/ and the protobuf runtime only, and clientsdk can link it
// without the node. docs/protocol.md describes the layout and the client
// behaviour for implementers in other languages.
package frame
