package activities

import (
	"context"

	"github.com/medreq/pyxis"
)

// Store is what the activities need of the database, in the domain's types: the steps of a
// request, the catalogue entries a cabinet command names, refill tasks, and the audit trail.
// The wiring hands it the database layer's stores (db.Store); a test may hand it a stand-in
// that fails on purpose.
type Store interface {
	Steps
	Catalogue
	Refills
	Deliveries
	// AppendAudit appends an audit entry that no transition carries; a non-empty idemKey
	// makes a retried write land once.
	AppendAudit(ctx context.Context, e pyxis.AuditEntry, idemKey string) error
}

// Steps records the steps of a request, each in one transaction with its stock change and
// audit entries (db.RequestStore).
type Steps interface {
	// Admit records the submission and reserves every line, or records the refusal.
	Admit(ctx context.Context, a pyxis.Admission) (pyxis.AdmissionResult, error)
	// RecordStep records transitions with the vends and the stock change they go with.
	RecordStep(ctx context.Context, st pyxis.Step) (pyxis.StepResult, error)
}

// Catalogue reads the cabinets and medications a cabinet command names (db.CabinetStore,
// db.CatalogueStore).
type Catalogue interface {
	GetCabinet(ctx context.Context, id int64) (pyxis.Cabinet, error)
	// GetMedications leaves unknown ids out.
	GetMedications(ctx context.Context, ids []int64) ([]pyxis.Medication, error)
	GetMedication(ctx context.Context, id int64) (pyxis.Medication, error)
	// ItemMasterCabinets returns the HL7 cabinets that stock a medication.
	ItemMasterCabinets(ctx context.Context, medicationID int64) ([]pyxis.Cabinet, error)
}

// Refills keeps the refill tasks of the Restock workflows (db.StockStore).
type Refills interface {
	OpenRefillTask(ctx context.Context, cabinetID, medicationID int64, workflowID string, by pyxis.Actor) (pyxis.OpenedRefill, error)
	CompleteRefill(ctx context.Context, c pyxis.RefillCompletion) (pyxis.CompletedRefill, error)
	CancelRefill(ctx context.Context, taskID int64, by pyxis.Actor, reason string) error
}

// Deliveries records the failed attempts of a request's cabinet command, which Temporal
// retries without the workflow seeing them (db.RequestStore).
type Deliveries interface {
	RecordDeliveryAttempt(ctx context.Context, at pyxis.DeliveryAttempt) error
	// SettleDelivery closes a command the cabinet answered, reporting whether an earlier
	// attempt of it may have reached the cabinet unanswered.
	SettleDelivery(ctx context.Context, requestID, command string) (maybeDelivered bool, err error)
}
