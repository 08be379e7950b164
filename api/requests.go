package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/requests"
	"github.com/medreq/pyxis/workflows"
)

// Limits of a request body.
const (
	MaxLines      = 50
	MaxQuantity   = 1000
	maxIdemKeyLen = 255
)

// requestReads is what the request routes read of the database beyond the request service:
// the projection's lists and rows, the audit trail of a request, and a request's cabinet
// (db.RequestStore, db.AuditStore, db.CabinetStore).
type requestReads interface {
	ListRequests(ctx context.Context, f db.RequestFilter) ([]db.RequestSummary, string, error)
	GetRequest(ctx context.Context, id string) (db.RequestSummary, error)
	ListAudit(ctx context.Context, requestID string) ([]pyxis.AuditEntry, error)
	GetCabinet(ctx context.Context, id int64) (pyxis.Cabinet, error)
	// ListenChanges tells of committed changes of requests until ctx ends (?wait).
	ListenChanges(ctx context.Context) *db.RequestChanges
}

// requestChanges is what a waiting read subscribes to (db.RequestChanges).
type requestChanges interface {
	Subscribe(ctx context.Context, id string) (<-chan struct{}, func())
}

// createRequest checks the body, and asks the request service to create the request.
func (s *Server) createRequest(c *gin.Context, p CreateRequestParams) {
	var body CreateRequestBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	key := deref(p.IdempotencyKey)
	if err := body.validate(key); err != nil {
		abort(c, err)
		return
	}
	created, err := s.requests.Create(c.Request.Context(), requests.NewRequest{
		RequestHeader: pyxis.RequestHeader{
			Requester: actor(c), Patient: body.Patient.patient(), CabinetID: body.CabinetID,
			Priority: pyxis.Priority(body.Priority), Lines: body.lines(),
		},
		IdempotencyKey: key, Fingerprint: body.hash(),
	})
	if err != nil {
		abort(c, err)
		return
	}
	// The answer holds the patient's data, a replay's as much as a new request's.
	if err := s.logAccess(c, AccessRequestCreate, []string{created.State.ID}, map[string]any{"replayed": created.Replayed}); err != nil {
		abort(c, err)
		return
	}
	if created.Replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	c.Header("Location", "/v1/requests/"+created.State.ID)
	c.JSON(http.StatusCreated, requestView(created.State))
}

func (s *Server) getRequest(c *gin.Context, id string, p GetRequestParams) {
	wait, err := waitFor(p)
	if err == nil {
		err = checkRequestID(id)
	}
	ctx := c.Request.Context()
	var changed <-chan struct{}
	if err == nil && wait > 0 && s.changes != nil {
		// Subscribed before the first read, so a change committed after it wakes us.
		var cancel func()
		changed, cancel = s.changes.Subscribe(ctx, id)
		defer cancel()
	}
	var state workflows.State
	if err == nil {
		state, err = s.requests.State(ctx, id)
	}
	if err == nil {
		err = s.mayRead(ctx, principal(c), state.Requester.ID, state.CabinetID)
		if errors.Is(err, errHidden) {
			err = s.deny(c, id, AccessRequestRead)
		}
	}
	if err == nil && wait > 0 && (state.Version == *p.Version || state.Status.Passing()) {
		state, err = s.awaitChange(ctx, id, state, *p.Version, changed, wait)
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

// maxWait bounds ?wait, so that a client reads again at least once a minute and a
// connection is not held longer than proxies commonly allow.
const maxWait = 60 * time.Second

// changeSettle is how long a waiting read gathers the changes that follow the first one.
const changeSettle = 250 * time.Millisecond

// passingHold bounds how long a waiting read that found the request in a passing status
// (Status.Passing: submitted, approved) waits for the system's step that moves it on, so that
// its reader learns the step's outcome in one answer: under load the cabinet's
// acknowledgment can come more than changeSettle after the approval, and a nurse would read
// twice for one change she cares about.
const passingHold = 2 * time.Second

// waitFor reads ?wait and ?version: how long to wait for a change (0: answer at once).
func waitFor(p GetRequestParams) (time.Duration, error) {
	var fe fields
	var wait time.Duration
	if p.Wait != nil {
		d, err := time.ParseDuration(*p.Wait)
		switch {
		case err != nil || d < 0:
			fe.add("wait", "want a duration such as 30s")
		case d > maxWait:
			fe.add("wait", "at most %s", maxWait)
		case p.Version == nil:
			fe.add("version", "needed with wait: the version of the view you hold")
		default:
			wait = d
		}
	}
	return wait, fe.err()
}

// awaitChange waits until the request's version is no longer held, or wait ends, or the
// server drains, and returns the state read last. A change into a passing status is
// answered once the request moves on, or passingHold after it was seen: an order that waits
// out a cabinet outage is shown approved, with its delivery's attempts, two seconds late.
// Between wake-ups it holds only a subscription: no database connection.
func (s *Server) awaitChange(ctx context.Context, id string, state workflows.State, held int64, changed <-chan struct{}, wait time.Duration) (workflows.State, error) {
	deadline := time.Now().Add(wait)
	var holdEnd time.Time
	for {
		end := deadline
		if state.Version != held {
			if !state.Status.Passing() {
				return state, nil
			}
			if holdEnd.IsZero() {
				holdEnd = time.Now().Add(passingHold)
			}
			if holdEnd.Before(deadline) {
				end = holdEnd
			}
		}
		// An unstopped timer costs nothing once unreferenced (Go 1.23): time.After will do.
		select {
		case <-changed:
			// Changes come in bursts (an approval, then the cabinet's acknowledgment a moment
			// later): gather what follows within changeSettle, so that one answer carries the
			// burst and the client reads once.
			select {
			case <-time.After(min(changeSettle, time.Until(end))):
			case <-s.drained:
			case <-ctx.Done():
				return state, ctx.Err()
			}
		case <-time.After(time.Until(end)):
			return state, nil
		case <-s.drained:
			return state, nil
		case <-ctx.Done():
			return state, ctx.Err()
		}
		var err error
		if state, err = s.requests.State(ctx, id); err != nil {
			return state, err
		}
	}
}

// seesAll reports whether p may read every request: pharmacists and admins. Anyone else who
// reads requests (a nurse) sees only those she made and those of the cabinets of her unit.
func seesAll(p Principal) bool {
	return p.Role == pyxis.RolePharmacist || p.Role == pyxis.RoleAdmin
}

// errHidden is mayRead's refusal: the request exists, and the caller may not see it. Callers
// log it (deny) and answer 404, as for a request that does not exist.
var errHidden = fmt.Errorf("%w: hidden from the caller", notFound("request"))

// mayRead answers nil when p may read a request made by requesterID at cabinetID, and
// errHidden (a 404) otherwise: not 403, which would confirm that the request exists.
func (s *Server) mayRead(ctx context.Context, p Principal, requesterID string, cabinetID int64) error {
	if seesAll(p) || requesterID == p.ID {
		return nil
	}
	if p.Unit != "" {
		cab, err := s.reqs.GetCabinet(ctx, cabinetID)
		switch {
		case err == nil && cab.Unit == p.Unit:
			return nil
		case err != nil && !errors.Is(err, pyxis.ErrNotFound):
			return err
		}
	}
	return errHidden
}

// hiddenFromNurse answers a nurse whom a request's route refuses by role (approve, reject)
// as the route would for a request she may not see: 404 when it does not exist or is hidden
// from her (logged denied), so the refusal tells her nothing; nil (the 403 stands) for a
// request she may see.
func (s *Server) hiddenFromNurse(c *gin.Context) error {
	if s.reqs == nil || principal(c).Role != pyxis.RoleNurse || !strings.HasPrefix(c.FullPath(), "/v1/requests/:id") {
		return nil
	}
	id := c.Param("id")
	if !pyxis.ValidRequestID(id) {
		return notFound("request")
	}
	req, err := s.reqs.GetRequest(c.Request.Context(), id)
	if errors.Is(err, pyxis.ErrNotFound) {
		return notFound("request")
	}
	if err == nil {
		err = s.mayRead(c.Request.Context(), principal(c), req.Requester.ID, req.CabinetID)
	}
	if errors.Is(err, errHidden) {
		return s.deny(c, id, "request."+path.Base(c.FullPath()))
	}
	return err
}

// mayActOn refuses, with the 404 of a request that does not exist, an action of a caller who
// does not see every request on a request she may not see, and logs the attempt (denied).
// A request the projection does not hold yet is left to the action's own answer.
func (s *Server) mayActOn(c *gin.Context, id, action string) error {
	p := principal(c)
	if seesAll(p) || p.Role == pyxis.RoleCabinet || !pyxis.ValidRequestID(id) {
		return nil
	}
	ctx := c.Request.Context()
	req, err := s.reqs.GetRequest(ctx, id)
	if errors.Is(err, pyxis.ErrNotFound) {
		return nil
	}
	if err == nil {
		err = s.mayRead(ctx, p, req.Requester.ID, req.CabinetID)
	}
	if errors.Is(err, errHidden) {
		return s.deny(c, id, action)
	}
	return err
}

func (s *Server) listRequests(c *gin.Context, p ListRequestsParams) {
	f := db.RequestFilter{Status: string(deref(p.Status)), Cursor: deref(p.Cursor)}
	var fe fields
	if f.Status != "" && !workflows.Status(f.Status).Valid() {
		fe.add("status", "unknown status %q", f.Status)
	}
	f.CabinetID = fe.optionalID("cabinet_id", p.CabinetId)
	f.Limit = fe.limit(p.Limit)
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	if me := principal(c); !seesAll(me) {
		f.VisibleTo = &db.Viewer{ID: me.ID, Unit: me.Unit}
	}
	rows, next, err := s.reqs.ListRequests(c.Request.Context(), f)
	if err == nil {
		ids := make([]string, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		filter := queryFilter{}
		filter.add("status", f.Status)
		filter.add("cabinet_id", optionalText(p.CabinetId))
		filter.add("limit", optionalText(p.Limit))
		filter.add("cursor", f.Cursor)
		err = s.logAccess(c, AccessRequestList, ids, map[string]any{"filter": map[string]any(filter)})
	}
	if err != nil {
		abort(c, err)
		return
	}
	writeList(c, rows, summaryView, next)
}

func (s *Server) listAudit(c *gin.Context, id string) {
	if err := checkRequestID(id); err != nil {
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
		req, err := s.reqs.GetRequest(ctx, id)
		if err == nil {
			err = s.mayRead(ctx, p, req.Requester.ID, req.CabinetID)
			if errors.Is(err, errHidden) {
				err = s.deny(c, id, AccessRequestAudit)
			}
		}
		if err != nil {
			abort(c, missing(err))
			return
		}
	}
	entries, err := s.reqs.ListAudit(ctx, id)
	if err != nil {
		abort(c, err)
		return
	}
	if len(entries) == 0 {
		if _, err := s.reqs.GetRequest(ctx, id); err != nil {
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

// checkRequestID checks a request id of the path: anything but a request id names no
// request.
func checkRequestID(id string) error {
	if !pyxis.ValidRequestID(id) {
		return notFound("request")
	}
	return nil
}

// hash fingerprints a create body so a reused Idempotency-Key with a different body is caught.
func (b CreateRequestBody) hash() string {
	raw, _ := json.Marshal(b)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// queryFilter is the filter of a listing as the access log records it: the query parameters
// given, as text.
type queryFilter map[string]any

func (f queryFilter) add(name, v string) {
	if v != "" {
		f[name] = v
	}
}

// optionalText is an optional integer parameter as text, "" when it is absent.
func optionalText[T int | int64](v *T) string {
	if v == nil {
		return ""
	}
	return strconv.FormatInt(int64(*v), 10)
}
