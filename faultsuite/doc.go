// Package faultsuite is the fault scenarios (`pyxis-dev loadtest --fault NAME`, and the
// TestFault tests in e2e): each starts a system of its own (a private Postgres cluster, a
// Temporal server in this process on a SQLite file, the api and the worker as processes of
// their own, the simulated cabinet behind two proxies), puts a load of requests through every
// status with a client that retries as a careful one does (the same Idempotency-Key on every
// try of a POST), injects a fault, heals it, waits for every request to end, runs the
// invariant checker (package check) and gives its verdict (package verdict).
package faultsuite
