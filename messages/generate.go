package messages

// Regenerate the .pb.go files after editing a .proto file; see
// docs/protobuf.md and .ci/install-protoc.sh for the toolchain.
//
// The .proto files live under proto/stratacache/v1/ so that they register in
// the global protobuf registry as "stratacache/v1/<name>.proto": a bare
// "actor.proto" is already registered by protoactor-go, and two files of the
// same path in one binary panic at init. module= puts the Go files here.
//
//go:generate protoc --proto_path=proto --go_out=. --go_opt=module=github.com/stratacache/stratacache/messages stratacache/v1/artifact.proto stratacache/v1/actor.proto stratacache/v1/wire.proto
