// Package requests is the application service of medication requests: creating one (the
// lookups, the dual-approval rule, the idempotency key, the workflow's start), acting on one
// (approve, reject, cancel), reporting a withdrawal, and reading where one stands. The REST
// API calls it, and so will the web console: one code path per behaviour, whatever the door.
// It knows nothing of HTTP; its refusals are typed (Error), and each caller maps them to its
// own answers in one place.
package requests

import (
	"context"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/intake"
)

// Policy is what requests are created and acted on under.
type Policy struct {
	// ApprovalTimeouts is the approval deadline per priority.
	ApprovalTimeouts map[pyxis.Priority]time.Duration
	// WithdrawalTimeout is how long an authorization waits at the cabinet.
	WithdrawalTimeout time.Duration
	// CabinetRetryInterval is the first wait between attempts of a cabinet command, which
	// is retried until the cabinet acknowledges it or the withdrawal window closes.
	CabinetRetryInterval time.Duration
	// UpdateTimeout bounds how long a call waits for the workflow to take an action.
	UpdateTimeout time.Duration
	// DualApprovalLists are the controlled lists whose medications need two different
	// pharmacists to approve.
	DualApprovalLists []string
}

// Store is what the service needs of the database: the catalogue entries a request names,
// idempotency keys, the projection that answers reads, the approvers a deactivation voids,
// and the audit trail (db.Store's RequestStore, CabinetStore, CatalogueStore, AuditStore).
type Store interface {
	GetCabinet(ctx context.Context, id int64) (pyxis.Cabinet, error)
	GetMedications(ctx context.Context, ids []int64) ([]pyxis.Medication, error)
	ClaimIdempotencyKey(ctx context.Context, requesterID, key, requestID, bodyHash string) (string, error)
	GetRequestDetail(ctx context.Context, id string) (db.RequestDetail, error)
	InactiveApprovers(ctx context.Context, requestID string) ([]string, error)
	AppendAudit(ctx context.Context, e pyxis.AuditEntry, idemKey string) error
}

// Withdrawals applies a withdrawal report the way every door applies it (intake.Intake).
type Withdrawals interface {
	ApplyVend(ctx context.Context, v intake.Vend, strict bool) (intake.VendResult, error)
}

// Service creates medication requests, acts on them and reads them. It is safe for
// concurrent use.
type Service struct {
	store       Store
	temporal    client.Client
	withdrawals Withdrawals
	cfg         Policy
	// codec is the payload codec of the Temporal client (nil: none): a request's start event
	// is read with it.
	codec converter.PayloadCodec
}

// New returns the service over its dependencies: the database, Temporal (whose client
// encodes payloads with codec, nil for none), and the intake that applies withdrawals.
func New(store Store, tc client.Client, withdrawals Withdrawals, p Policy, codec converter.PayloadCodec) *Service {
	return &Service{store: store, temporal: tc, withdrawals: withdrawals, cfg: p, codec: codec}
}
