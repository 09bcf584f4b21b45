#!/usr/bin/env bash
# Installs the protobuf toolchain that `go generate ./messages` needs:
# Debian's protoc and protoc-gen-go at the version go.mod pins for
# google.golang.org/protobuf (generated code and runtime must agree).
# Idempotent: each step is skipped when its tool is already present at the
# wanted version. Only needed to regenerate; the generated .pb.go files are
# committed, so building and testing do not need it.
set -euo pipefail

cd "$(dirname "$0")/.."

# The protoc-gen-go version follows go.mod's google.golang.org/protobuf.
want_gen="$(go list -m -f '{{.Version}}' google.golang.org/protobuf)"

if command -v protoc >/dev/null 2>&1; then
	echo "install-protoc: protoc present: $(protoc --version)"
else
	echo "install-protoc: installing protoc from Debian (protobuf-compiler)"
	sudo_cmd=""
	if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
	$sudo_cmd apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq protobuf-compiler
	echo "install-protoc: $(protoc --version)"
fi

gobin="$(go env GOBIN)"
if [ -z "$gobin" ]; then gobin="$(go env GOPATH)/bin"; fi
gen="$gobin/protoc-gen-go"
have_gen=""
if [ -x "$gen" ]; then
	# `protoc-gen-go --version` prints "protoc-gen-go v1.36.12".
	have_gen="$("$gen" --version 2>/dev/null | awk '{print $2}')"
fi
if [ "$have_gen" = "$want_gen" ]; then
	echo "install-protoc: protoc-gen-go $have_gen present at $gen"
else
	echo "install-protoc: installing protoc-gen-go $want_gen (found: ${have_gen:-none})"
	go install "google.golang.org/protobuf/cmd/protoc-gen-go@$want_gen"
fi

case ":$PATH:" in
*":$gobin:"*) ;;
*) echo "install-protoc: note: add $gobin to PATH so protoc finds protoc-gen-go" ;;
esac
