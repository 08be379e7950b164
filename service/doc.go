// Package service is the api and the worker as processes: their configuration, read from the
// environment (docs/configuration.md, lists every variable), and the wiring of the domain
// packages into them: Postgres and Temporal, the cabinet drivers, the HTTP and MLLP servers,
// metrics, tracing and logs, and the graceful stop of each. The production binary
// (cmd/pyxis) and the development tool (cmd/pyxis-dev, whose dev mode and fault scenarios run
// the same api and worker) both start them from here.
package service
