package intake

import (
	"context"
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
)

// Store is what the intake needs of the database: the inbox it keeps reports in and applies
// them from, the cabinets and medications a report names, the stock a pocket report moves,
// the projection a vend for an ended request is checked against, and the audit trail. The
// wiring hands it the database layer's stores (db.Store).
type Store interface {
	Inbox
	Pockets
	GetCabinet(ctx context.Context, id int64) (pyxis.Cabinet, error)
	GetCabinetByCode(ctx context.Context, code string) (pyxis.Cabinet, error)
	GetMedicationByCode(ctx context.Context, code string) (pyxis.Medication, error)
	GetRequestDetail(ctx context.Context, id string) (db.RequestDetail, error)
	AppendAudit(ctx context.Context, e pyxis.AuditEntry, idemKey string) error
}

// Inbox keeps the cabinets' reports from their acknowledgment until they are applied, in
// order per cabinet, by the one process that holds the lead (db.CabinetStore).
type Inbox interface {
	AcceptReport(ctx context.Context, r db.InboxReport) (db.AcceptOutcome, error)
	PendingReports(ctx context.Context, limit int) ([]db.InboxReport, error)
	SettleReport(ctx context.Context, id int64, failed bool, outcome, lastError string) error
	DeferReport(ctx context.Context, id int64, lastError string, next time.Time) error
	TryLead(ctx context.Context, key int64) (*db.Lead, error)
	PurgeReports(ctx context.Context, retention time.Duration) (int64, error)
	PurgeInboxRaw(ctx context.Context, cutoff time.Time) (int64, error)
}

// Pockets moves the stock a cabinet reports (db.StockStore): returns, wastes, unloads and
// loads, counts, refills confirmed by a load, and dispenses no request took.
type Pockets interface {
	ListStock(ctx context.Context, cabinetID int64) ([]db.StockRow, error)
	CabinetMessageApplied(ctx context.Context, cabinetID int64, messageControlID string) (bool, error)
	RecordPocketChange(ctx context.Context, c db.PocketChange) (db.PocketChangeResult, error)
	RecordCount(ctx context.Context, c db.Count) (db.CountResult, error)
	OpenRefillTaskOf(ctx context.Context, cabinetID, medicationID int64) (db.RefillTask, error)
	CompleteRefill(ctx context.Context, c pyxis.RefillCompletion) (pyxis.CompletedRefill, error)
	RecordUnmatchedDispense(ctx context.Context, u db.UnmatchedDispense) (db.UnmatchedResult, error)
	RecordLateVend(ctx context.Context, requestID string, v pyxis.Vend) (db.LateVendResult, error)
}
