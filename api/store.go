package api

import (
	"context"

	"github.com/medreq/pyxis/intake"
	"github.com/medreq/pyxis/requests"
)

// Store is what the api needs of the database: what each group of routes uses, declared
// where those routes are (requestReads, catalogueStore, stockStore, userStore,
// directoryStore, auditStore, metricsStore), and what the request service and the intake it
// runs for withdrawal reports use (requests.Store, intake.Store). The wiring hands it the
// database layer's stores (db.Store); NewServer hands each group its part.
type Store interface {
	requestReads
	queueReads
	sessionStore
	catalogueStore
	stockStore
	userStore
	directoryStore
	auditStore
	metricsStore
	requests.Store
	intake.Store
	// Ping checks that the database answers (GET /readyz).
	Ping(ctx context.Context) error
}
