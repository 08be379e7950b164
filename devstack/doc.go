// Package devstack is the whole system in one process, as `pyxis-dev` (dev mode) starts it
// and `pyxis-dev loadtest --dev` measures it: a Temporal server in the process (on SQLite or
// Postgres) with its Web UI, Postgres (found, or a private cluster), migrations and demo data,
// the worker and the api as package service runs them, and a simulated cabinet on the wire.
// Its Temporal server and demo data also serve the fault scenarios (faultsuite). Nothing of it
// is in the production binary.
package devstack
