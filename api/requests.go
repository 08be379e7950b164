package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/oklog/ulid/v2"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/workflows"
)

// Limits of a request body.
const (
	MaxLines       = 50
	MaxQuantity    = 1000
	maxIdemKeyLen  = 255
	requestIDRegex = `^medreq-[0-9A-HJKMNP-TV-Z]{26}$`
)

var requestIDPattern = regexp.MustCompile(requestIDRegex)

// newRequestID returns a readable, time-ordered workflow id that carries no patient data.
func newRequestID() string { return "medreq-" + ulid.Make().String() }

func (s *Server) createRequest(c *gin.Context) {
	var body CreateRequestBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	key := c.GetHeader("Idempotency-Key")
	if err := body.validate(key); err != nil {
		abort(c, err)
		return
	}
	ctx := c.Request.Context()
	cab, err := s.store.GetCabinet(ctx, body.CabinetID)
	if errors.Is(err, pyxis.ErrNotFound) {
		abort(c, newError(http.StatusNotFound, CodeNotFound, "cabinet not found",
			[]FieldError{{Field: "cabinet_id", Message: fmt.Sprintf("no cabinet %d", body.CabinetID)}}))
		return
	} else if err != nil {
		abort(c, err)
		return
	}
	ids := make([]int64, len(body.Items))
	for i, it := range body.Items {
		ids[i] = it.MedicationID
	}
	meds, err := s.store.GetMedications(ctx, ids)
	if err != nil {
		abort(c, err)
		return
	}
	if len(meds) < len(ids) {
		known := make(map[int64]bool, len(meds))
		for _, m := range meds {
			known[m.ID] = true
		}
		var fe fields
		for i, it := range body.Items {
			if !known[it.MedicationID] {
				fe.add(fmt.Sprintf("items[%d].medication_id", i), "no medication %d", it.MedicationID)
			}
		}
		abort(c, newError(http.StatusNotFound, CodeNotFound, "medication not found", []FieldError(fe)))
		return
	}

	me := actor(c)
	id := newRequestID()
	replay := false
	if key != "" {
		owner, err := s.store.ClaimIdempotencyKey(ctx, me.ID, key, id, body.hash())
		if err != nil {
			abort(c, err)
			return
		}
		replay, id = owner != id, owner
	}
	setWorkflowID(ctx, id)

	in := workflows.Input{
		RequestHeader: pyxis.RequestHeader{
			Requester: me, Patient: body.Patient.patient(), CabinetID: cab.ID, Priority: pyxis.Priority(body.Priority),
			Lines: body.lines(), RequiredApprovals: s.requiredApprovals(meds),
		},
		CabinetCode: cab.Code,
		Policy: workflows.Policy{
			ApprovalTimeout:      s.cfg.ApprovalTimeouts[pyxis.Priority(body.Priority)],
			WithdrawalTimeout:    s.cfg.WithdrawalTimeout,
			CabinetAttempts:      s.cfg.CabinetAttempts,
			CabinetRetryInterval: s.cfg.CabinetRetryInterval,
		},
	}
	_, err = s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: workflows.TaskQueue,
		// One request id, one run, ever: a retry can find the request but never start a second.
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.RequestStatusKey.ValueSet(string(workflows.StatusSubmitted)),
			workflows.CabinetCodeKey.ValueSet(cab.Code),
			workflows.PriorityKey.ValueSet(body.Priority),
			workflows.RequestedByKey.ValueSet(me.ID),
		),
	}, workflows.MedicationRequest, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &started) && replay:
		// The first attempt started it; answer with what it is now.
		state, qerr := s.readState(ctx, id)
		if qerr != nil {
			abort(c, qerr)
			return
		}
		c.Header("Idempotent-Replayed", "true")
		c.Header("Location", "/v1/requests/"+id)
		c.JSON(http.StatusCreated, requestView(state))
		return
	case err != nil:
		abort(c, fmt.Errorf("start workflow %s: %w", id, err))
		return
	}
	if replay {
		c.Header("Idempotent-Replayed", "true")
	}
	c.Header("Location", "/v1/requests/"+id)
	c.JSON(http.StatusCreated, requestView(initialState(id, in)))
}

// requiredApprovals is 2 when any medication is on a list that needs two pharmacists
// (Config.DualApprovalLists), else 1.
func (s *Server) requiredApprovals(meds []pyxis.Medication) int32 {
	for _, m := range meds {
		if m.Controlled() && slices.Contains(s.cfg.DualApprovalLists, m.ControlledList) {
			return 2
		}
	}
	return 1
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

func (s *Server) getRequest(c *gin.Context) {
	id, err := requestPathID(c)
	if err != nil {
		abort(c, err)
		return
	}
	ctx := c.Request.Context()
	state, err := s.readState(ctx, id)
	if err == nil {
		err = s.mayRead(ctx, principal(c), state.Requester.ID, state.CabinetID)
	}
	if err == nil {
		err = s.logAccess(c, AccessRequestRead, []string{id}, nil)
	}
	if err != nil {
		abort(c, err)
		return
	}
	c.JSON(http.StatusOK, requestView(state))
}

// seesAll reports whether p may read every request: pharmacists and admins. Anyone else who
// reads requests (a nurse) sees only those she made and those of the cabinets of her unit.
func seesAll(p Principal) bool {
	return p.Role == pyxis.RolePharmacist || p.Role == pyxis.RoleAdmin
}

// mayRead answers nil when p may read a request made by requesterID at cabinetID, and 404
// otherwise: not 403, which would confirm that the request exists.
func (s *Server) mayRead(ctx context.Context, p Principal, requesterID string, cabinetID int64) error {
	if seesAll(p) || requesterID == p.ID {
		return nil
	}
	if p.Unit != "" {
		cab, err := s.store.GetCabinet(ctx, cabinetID)
		switch {
		case err == nil && cab.Unit == p.Unit:
			return nil
		case err != nil && !errors.Is(err, pyxis.ErrNotFound):
			return err
		}
	}
	return notFound("request")
}

// readState answers from the Postgres projection, which the workflow writes in the same
// transaction as each step, so a read does not wake the workflow (a query waits for a worker
// and, for a workflow not in its cache, a replay of its history). A request whose first step
// is not recorded yet is still submitted: its start event says all there is to say, and
// Temporal answers that without a worker (under a burst the first workflow task of a new
// request may wait seconds for one). The workflow is asked only when the projection cannot
// answer: a request recorded before the projection kept transitions, or a database that does
// not answer.
func (s *Server) readState(ctx context.Context, id string) (workflows.State, error) {
	d, err := s.store.GetRequestDetail(ctx, id)
	switch {
	case err == nil && d.Complete:
		return stateFromProjection(d), nil
	case errors.Is(err, pyxis.ErrNotFound):
		return s.startedState(ctx, id)
	case err != nil:
		slog.WarnContext(ctx, "projection not read; asking the workflow", "request", id, "error", err)
	}
	return s.queryState(ctx, id)
}

// startedState is a request's state from its workflow's start event: what initialState
// answered when it was created. The projection is written by the workflow's first step,
// in the same transaction as anything else that step does, so a request with no row has
// done nothing yet (or its first step is being retried: still nothing done).
func (s *Server) startedState(ctx context.Context, id string) (workflows.State, error) {
	it := s.temporal.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var state workflows.State
	if !it.HasNext() {
		return state, notFound("request")
	}
	ev, err := it.Next()
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return state, notFound("request")
	}
	if err != nil {
		return state, fmt.Errorf("read start of %s: %w", id, err)
	}
	attrs := ev.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil || attrs.GetWorkflowType().GetName() != workflows.MedicationRequestName {
		return state, notFound("request")
	}
	var in workflows.Input
	if err := s.dataConverter().FromPayloads(attrs.GetInput(), &in); err != nil {
		return state, fmt.Errorf("decode start of %s: %w", id, err)
	}
	return initialState(id, in), nil
}

// dataConverter decodes what the api's own Temporal client encoded: the same codec.
func (s *Server) dataConverter() converter.DataConverter {
	if s.cfg.Codec == nil {
		return converter.GetDefaultDataConverter()
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), s.cfg.Codec)
}

// queryState reads the live state from the workflow.
func (s *Server) queryState(ctx context.Context, id string) (workflows.State, error) {
	var state workflows.State
	resp, err := s.temporal.QueryWorkflow(ctx, id, "", workflows.StateQuery)
	if err == nil {
		err = resp.Get(&state)
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return state, notFound("request")
	}
	if err != nil {
		return state, fmt.Errorf("query %s: %w", id, err)
	}
	return state, nil
}

func (s *Server) listRequests(c *gin.Context) {
	f := db.RequestFilter{Status: c.Query("status"), Cursor: c.Query("cursor")}
	var fe fields
	if f.Status != "" && !workflows.Status(f.Status).Valid() {
		fe.add("status", "unknown status %q", f.Status)
	}
	f.CabinetID = fe.queryID(c, "cabinet_id")
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			fe.add("limit", "must be between 1 and 200")
		}
		f.Limit = n
	}
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	if p := principal(c); !seesAll(p) {
		f.VisibleTo = &db.Viewer{ID: p.ID, Unit: p.Unit}
	}
	rows, next, err := s.store.ListRequests(c.Request.Context(), f)
	if err == nil {
		ids := make([]string, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		filter := map[string]any{}
		for _, k := range []string{"status", "cabinet_id", "limit", "cursor"} {
			if v := c.Query(k); v != "" {
				filter[k] = v
			}
		}
		err = s.logAccess(c, AccessRequestList, ids, map[string]any{"filter": filter})
	}
	if err != nil {
		abort(c, err)
		return
	}
	writeList(c, rows, summaryView, next)
}

func (s *Server) listAudit(c *gin.Context) {
	id, err := requestPathID(c)
	if err != nil {
		abort(c, err)
		return
	}
	ctx := c.Request.Context()
	// One answer for a request that does not exist and one she may not read.
	missing := func(err error) error {
		if errors.Is(err, pyxis.ErrNotFound) {
			return notFound("request")
		}
		return err
	}
	if p := principal(c); !seesAll(p) {
		req, err := s.store.GetRequest(ctx, id)
		if err == nil {
			err = s.mayRead(ctx, p, req.Requester.ID, req.CabinetID)
		}
		if err != nil {
			abort(c, missing(err))
			return
		}
	}
	entries, err := s.store.ListAudit(ctx, id)
	if err != nil {
		abort(c, err)
		return
	}
	if len(entries) == 0 {
		if _, err := s.store.GetRequest(ctx, id); err != nil {
			abort(c, missing(err))
			return
		}
	}
	if err := s.logAccess(c, AccessRequestAudit, []string{id}, nil); err != nil {
		abort(c, err)
		return
	}
	writeList(c, entries, auditView, "")
}

func requestPathID(c *gin.Context) (string, error) {
	id := c.Param("id")
	if !requestIDPattern.MatchString(id) {
		return "", notFound("request")
	}
	return id, nil
}

// hash fingerprints a create body so a reused Idempotency-Key with a different body is caught.
func (b CreateRequestBody) hash() string {
	raw, _ := json.Marshal(b)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}
