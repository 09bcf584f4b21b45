// Package messages holds StrataCache's protobuf messages and their generated
// Go code: the artifact identity and metadata (artifact.proto), the storage
// engine's actor messages (actor.proto) and the native protocol's frame
// header (wire.proto), plus conversions to and from package artifact's Go
// types (convert.go).
//
// Messages are headers only: payload bytes never travel inside them. In
// process a payload travels as a reference beside the message; on the wire it
// follows the encoded header as raw bytes.
//
// Every package of the module may import messages. messages imports package
// artifact and the protobuf runtime, and nothing else of this module; package
// artifact must never import messages (that would be a cycle).
//
// Regenerate with `go generate ./messages` (docs/protobuf.md).
package messages
