// Package e2e holds the end-to-end tests: a real Temporal server started in the test's
// process, a real Postgres, the real worker and API over HTTP (every exchange checked against
// the OpenAPI document), `pyxis api`, `pyxis worker` and `pyxis-dev` run as subprocesses (the
// test binary re-executed as them), and the fault scenarios of package faultsuite. It is one
// of the two packages whose tests start a Temporal server (the other is devstack): each such
// test binary is large and slow to link.
package e2e
