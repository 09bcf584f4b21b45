# syntax=docker/dockerfile:1
#
# StrataCache's container image: one static binary on distroless, run as a
# non-root user. Build and run (docs/operations.md):
#
#   docker build -t stratacache:dev .
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t stratacache:dev .
#   docker run --rm -e STRATACACHE_AUTH_TOKEN=$(openssl rand -hex 32) \
#       -p 6380:6380 -p 7380:7380 -p 9380:9380 stratacache:dev
#
# deploy/dockerfile_test.go parses this file and checks what matters (stages,
# static build, non-root user, ports, entrypoint, Go version).

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first: this layer stays cached while go.mod and go.sum do not change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download && go mod verify
COPY . .
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH=amd64
# CGO off: a static binary that runs on distroless/static (no libc).
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION} -X github.com/stratacache/stratacache/node/admin.Version=${VERSION}" \
        -o /out/stratacache ./cmd/stratacache
# The data directory (disk tier), owned by the image's non-root user.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/stratacache /stratacache
# Container defaults: every port on all interfaces, tiers under /data. A node
# that binds beyond loopback refuses to start without an auth token
# (STRATACACHE_AUTH_TOKEN). Kubernetes mounts its ConfigMap over this file.
COPY deploy/docker/stratacache.yaml /etc/stratacache/stratacache.yaml
COPY --from=build --chown=65532:65532 /out/data /data
# distroless's "nonroot" user.
USER 65532:65532
WORKDIR /data
# RESP (Redis), native protocol, admin HTTP (metrics, probes, web view),
# gossip (TCP and UDP), peer transport.
EXPOSE 6380/tcp 7380/tcp 9380/tcp 7946/tcp 7946/udp 7947/tcp
VOLUME ["/data"]
ENTRYPOINT ["/stratacache"]
CMD ["serve", "-config", "/etc/stratacache/stratacache.yaml"]
