# syntax=docker/dockerfile:1
#
# The pyxis binary (api, worker, migrate, check, token, healthcheck subcommands) in a
# distroless, non-root image. docker-compose.yaml builds it once and runs it as migrate,
# worker and api.
#
#   docker build -t medreq/pyxis:local .
#
# The development tool, pyxis-dev (dev mode, the load test, the cabinet simulator), has a
# target of its own, which the production image never contains; compose and the Kubernetes
# dev overlay run its cabinet-sim command:
#
#   docker build --target dev -t medreq/pyxis-dev:local .

# Build stage. The Go minor version must match the `go` line of go.mod (deploy/dockerfile_test.go
# checks it); the golang image sets GOTOOLCHAIN=local, so an image older than go.mod's patch
# release fails here instead of downloading another toolchain.
FROM golang:1.26 AS build
WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
# The build cache mount speeds up rebuilds with BuildKit; the module cache is the layer above.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/pyxis ./cmd/pyxis

# The development tool, built only when the dev target is asked for.
FROM build AS build-dev
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/pyxis-dev ./cmd/pyxis-dev

# The development tool's image (--target dev): the same distroless, non-root base.
FROM gcr.io/distroless/static-debian12:nonroot AS dev
LABEL org.opencontainers.image.title="pyxis-dev" \
      org.opencontainers.image.description="Development tools of pyxis: dev mode, load test, cabinet simulator" \
      org.opencontainers.image.source="https://github.com/medreq/pyxis"
COPY --from=build-dev /out/pyxis-dev /pyxis-dev
USER nonroot:nonroot
# cabinet-sim: MLLP 2576 (orders), admin HTTP 2577.
EXPOSE 2576 2577
ENTRYPOINT ["/pyxis-dev"]
CMD ["help"]

# Runtime stage, the default target: no shell, no package manager; CA certificates, tzdata and
# a nonroot user (uid 65532) only. Container health checks use `pyxis healthcheck URL`, since
# there is no curl.
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="pyxis" \
      org.opencontainers.image.description="Medication requests for BD Pyxis cabinets, on Temporal" \
      org.opencontainers.image.source="https://github.com/medreq/pyxis"
COPY --from=build /out/pyxis /pyxis
USER nonroot:nonroot
# api: HTTP 8080 and MLLP 2575 (cabinet reports); worker: metrics and health 9090.
EXPOSE 8080 2575 9090
ENTRYPOINT ["/pyxis"]
CMD ["help"]
