# syntax=docker/dockerfile:1
#
# dockhand: one static binary on a distroless base. The image runs
# `dockhand controller` on Kubernetes (config/manager) and works for the
# other commands too (`docker run IMAGE run --once -f /manifests`).
#
#   docker build -t dockhand:dev --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) .
#
# Multi-platform builds cross-compile on the build machine's platform
# (CGO is off, so no C toolchain is needed for the target):
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t dockhand:dev .

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src

# Dependencies first, so that a source change reuses this layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X github.com/dockhand-dev/dockhand/internal/version.Version=${VERSION} -X github.com/dockhand-dev/dockhand/internal/version.Commit=${COMMIT}" \
      -o /out/dockhand ./cmd/dockhand

# distroless/static: CA certificates, /etc/passwd with the nonroot user
# (65532), tzdata; no shell, no libc. Nothing else is needed: registries
# and git remotes are reached from Go (go-containerregistry's protocol code
# and go-git), never through external programs.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dockhand /usr/local/bin/dockhand
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/dockhand"]
CMD ["controller"]
