// Package deploy holds the checks of the container deployment at the root of the repository:
// the Dockerfile, .dockerignore, docker-compose.yaml and the scripts and configuration under
// deploy/ that the compose file mounts into Postgres and Temporal containers.
//
// There is no Docker engine where the tests run, so the files are checked statically: the
// compose file is parsed (after Compose-style variable interpolation) and its services,
// dependencies, ports, images, volumes and pyxis settings are checked against what the pyxis
// subcommands need; the Dockerfile's stages are read instruction by instruction. The package
// has no non-test code besides this comment.
package deploy
