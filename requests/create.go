package requests

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/oklog/ulid/v2"
	"go.opentelemetry.io/otel/trace"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/internal/obs"
	"github.com/medreq/pyxis/workflows"
)

// NewRequest is what a person asks for: the request's header (RequiredApprovals is the
// service's to decide), and the Idempotency-Key that makes a retry find the same request.
type NewRequest struct {
	pyxis.RequestHeader
	// IdempotencyKey, when set, maps to the request: a retry with the same key and the same
	// Fingerprint (of what was asked) gets the same request, one with another Fingerprint
	// gets pyxis.ErrIdempotencyMismatch.
	IdempotencyKey string
	Fingerprint    string
}

// Created is a request just created, or found again by its Idempotency-Key (Replayed).
type Created struct {
	State    workflows.State
	Replayed bool
}

// Create checks that the cabinet and every medication exist (a NotFound Error naming what is
// missing), decides how many pharmacists must approve, claims the Idempotency-Key, and starts
// the request's workflow: one request id, one run, ever. A retry of a create that started it
// answers with the request as it is now.
func (s *Service) Create(ctx context.Context, r NewRequest) (Created, error) {
	cab, meds, err := s.lookUp(ctx, r.RequestHeader)
	if err != nil {
		return Created{}, err
	}
	id := newRequestID()
	replay := false
	if r.IdempotencyKey != "" {
		owner, err := s.store.ClaimIdempotencyKey(ctx, r.Requester.ID, r.IdempotencyKey, id, r.Fingerprint)
		if err != nil {
			return Created{}, err
		}
		replay, id = owner != id, owner
	}
	obs.SetWorkflowID(ctx, id)
	trace.SpanFromContext(ctx).SetAttributes(obs.AttrWorkflowID.String(id))

	in := workflows.Input{RequestHeader: r.RequestHeader, CabinetCode: cab.Code, Policy: s.policy(r.Priority)}
	in.RequiredApprovals = s.requiredApprovals(meds)
	_, err = s.temporal.ExecuteWorkflow(ctx, startOptions(id, cab.Code, in), workflows.MedicationRequest, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &started) && replay:
		// The first attempt started it; answer with what it is now.
		state, err := s.State(ctx, id)
		return Created{State: state, Replayed: true}, err
	case err != nil:
		return Created{}, fmt.Errorf("start workflow %s: %w", id, err)
	}
	return Created{State: initialState(id, in), Replayed: replay}, nil
}

// lookUp reads the request's cabinet and medications; what does not exist is a NotFound.
func (s *Service) lookUp(ctx context.Context, h pyxis.RequestHeader) (pyxis.Cabinet, []pyxis.Medication, error) {
	cab, err := s.store.GetCabinet(ctx, h.CabinetID)
	if errors.Is(err, pyxis.ErrNotFound) {
		e := notFound("cabinet")
		e.Missing = []Missing{{Line: -1, ID: h.CabinetID}}
		return cab, nil, e
	} else if err != nil {
		return cab, nil, err
	}
	ids := make([]int64, len(h.Lines))
	for i, l := range h.Lines {
		ids[i] = l.MedicationID
	}
	meds, err := s.store.GetMedications(ctx, ids)
	if err == nil && len(meds) == len(ids) {
		// A deactivated medication is off the catalogue and the cabinets' item masters
		// (MDC): nobody may order it.
		byID := make(map[int64]pyxis.Medication, len(meds))
		for _, m := range meds {
			byID[m.ID] = m
		}
		e := refuse(Invalid, "a medication of the request is deactivated")
		for i, l := range h.Lines {
			if !byID[l.MedicationID].Active {
				e.Missing = append(e.Missing, Missing{Line: i, ID: l.MedicationID, Inactive: true})
			}
		}
		if len(e.Missing) > 0 {
			return cab, nil, e
		}
	}
	if err != nil || len(meds) == len(ids) {
		return cab, meds, err
	}
	known := make(map[int64]bool, len(meds))
	for _, m := range meds {
		known[m.ID] = true
	}
	e := notFound("medication")
	for i, l := range h.Lines {
		if !known[l.MedicationID] {
			e.Missing = append(e.Missing, Missing{Line: i, ID: l.MedicationID})
		}
	}
	return cab, nil, e
}

// newRequestID returns a readable, time-ordered workflow id that carries no patient data.
func newRequestID() string { return "medreq-" + ulid.Make().String() }

// policy is what a request of priority p runs under: the workflow keeps the deadlines it was
// created with.
func (s *Service) policy(p pyxis.Priority) workflows.Policy {
	return workflows.Policy{
		ApprovalTimeout:      s.cfg.ApprovalTimeouts[p],
		WithdrawalTimeout:    s.cfg.WithdrawalTimeout,
		CabinetAttempts:      legacyCabinetAttempts,
		CabinetRetryInterval: s.cfg.CabinetRetryInterval,
	}
}

// legacyCabinetAttempts is what a request tells a worker of v0.1.0, which refuses a request
// without cabinet attempts and fails a command after them: during a rolling upgrade such a
// worker may still run a new request. Workers since read the withdrawal window instead.
const legacyCabinetAttempts = 5

// requiredApprovals is 2 when any medication is on a list that needs two pharmacists
// (Config.DualApprovalLists), else 1.
func (s *Service) requiredApprovals(meds []pyxis.Medication) int32 {
	for _, m := range meds {
		if m.Controlled() && slices.Contains(s.cfg.DualApprovalLists, m.ControlledList) {
			return 2
		}
	}
	return 1
}

// startOptions start request id's workflow: one request id, one run, ever, so a retry can
// find the request but never start a second; the search attributes carry no patient data.
func startOptions(id, cabinetCode string, in workflows.Input) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                workflows.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.RequestStatusKey.ValueSet(string(workflows.StatusSubmitted)),
			workflows.CabinetCodeKey.ValueSet(cabinetCode),
			workflows.PriorityKey.ValueSet(string(in.Priority)),
			workflows.RequestedByKey.ValueSet(in.Requester.ID),
		),
	}
}

// initialState is what a request looks like the moment its workflow starts.
func initialState(id string, in workflows.Input) workflows.State {
	return workflows.State{
		ID: id, Status: workflows.StatusSubmitted, Priority: in.Priority,
		CabinetID: in.CabinetID, CabinetCode: in.CabinetCode, Patient: in.Patient,
		Requester: in.Requester, Lines: in.Lines, RequiredApprovals: max(in.RequiredApprovals, 1),
		Approvals: []workflows.Approval{}, Transitions: []workflows.Transition{},
	}
}
