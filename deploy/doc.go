// Package deploy holds the checks of what runs the system outside dev mode: the Dockerfile,
// .dockerignore, docker-compose.yaml and the scripts it mounts into the Postgres and Temporal
// containers, the Kubernetes manifests under deploy/kubernetes, and the Prometheus alert
// rules and Grafana dashboard under deploy/observability.
//
// There is no Docker engine, cluster or Prometheus where the tests run, so the files are
// checked statically, with the parsers the real tools use where one is small enough to
// import: the compose file is loaded with compose-go (docker compose's own loader:
// interpolation, schema validation, consistency checks) and its services, dependencies,
// ports, images, volumes, database roles and pyxis settings are checked against what the
// pyxis subcommands need; the Kubernetes manifests are decoded strictly into the API's Go
// types and rendered the way kustomize would; the Dockerfile's stages are read instruction
// by instruction. The postgres init scripts also run against a private PostgreSQL cluster
// when its binaries are installed. The package has no non-test code besides this comment.
package deploy
