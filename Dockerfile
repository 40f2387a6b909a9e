# The one image of journey-operator: `journey manager` runs from it, and so
# does every workload the manager creates (ingest, receive, evaluate).
# Build with `make docker-build IMG=...`.

FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
# Build with the image's Go, never a downloaded toolchain; a static binary
# (the SQLite driver is pure Go) so the final image needs no libc.
ENV GOTOOLCHAIN=local CGO_ENABLED=0
WORKDIR /workspace

# Modules first: this layer is reused until go.mod or go.sum changes.
COPY go.mod go.sum ./
RUN go mod download

# Only what the binary is built from (.dockerignore keeps the rest out).
COPY main.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/
RUN GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/journey .

# distroless/static: no shell, no package manager, runs as nonroot.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /out/journey /journey
USER 65532:65532
ENTRYPOINT ["/journey"]
