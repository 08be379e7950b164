package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/intake"
	"github.com/medreq/pyxis/internal/textcheck"
	"github.com/medreq/pyxis/workflows"
)

// errWorkflowTimeout marks an update the workflow did not take in time (no worker running).
var errWorkflowTimeout = errors.New("workflow did not answer in time")

func (s *Server) approve(c *gin.Context) {
	var body NoteBody
	if err := bindOptionalJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	fe.checkFreeText("note", body.Note, false, 1000)
	// A pharmacist deactivated since approving no longer counts toward a second sign-off:
	// the workflow voids their approval before it counts this one.
	var voided []string
	if id, err := requestPathID(c); err == nil && fe.err() == nil {
		if voided, err = s.store.InactiveApprovers(c.Request.Context(), id); err != nil {
			abort(c, err)
			return
		}
	}
	s.act(c, fe, workflows.ApproveUpdate, workflows.ApproveInput{Actor: actor(c), Note: body.Note, Voided: voided})
	s.auditDuplicateApproval(c)
}

// auditDuplicateApproval records a pharmacist's refused second approval of the same request.
// The workflow's validator refuses it without a trace in history, but the controlled-drug
// rules want every attempt on record.
func (s *Server) auditDuplicateApproval(c *gin.Context) {
	var appErr *temporal.ApplicationError
	for _, e := range c.Errors {
		if errors.As(e.Err, &appErr) && appErr.Type() == workflows.ErrDuplicateApproval {
			me := actor(c)
			err := s.store.AppendAudit(c.Request.Context(), pyxis.AuditEntry{
				Actor: pyxis.Actor{ID: me.ID, Role: me.Role}, Action: "approval_refused", RequestID: c.Param("id"),
				Details: map[string]any{"reason": appErr.Message()},
			}, "")
			if err != nil {
				slog.ErrorContext(c.Request.Context(), "audit refused approval", "error", err, "request_id", c.GetString(requestIDKey))
			}
			return
		}
	}
}

func (s *Server) reject(c *gin.Context) {
	var body ReasonBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	fe.checkFreeText("reason", body.Reason, true, 1000)
	s.act(c, fe, workflows.RejectUpdate, workflows.RejectInput{Actor: actor(c), Reason: body.Reason})
}

func (s *Server) cancel(c *gin.Context) {
	var body ReasonBody
	if err := bindOptionalJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	fe.checkFreeText("reason", body.Reason, false, 1000)
	s.act(c, fe, workflows.CancelUpdate, workflows.CancelInput{Actor: actor(c), Reason: body.Reason})
}

// act validates, then asks the workflow to take the action and answers 202 with its state.
func (s *Server) act(c *gin.Context, fe fields, update string, arg any) {
	id, err := requestPathID(c)
	if err == nil {
		err = fe.err()
	}
	if err == nil {
		var state workflows.State
		if state, err = s.update(c.Request.Context(), id, update, arg); err == nil {
			c.JSON(http.StatusAccepted, requestView(state))
			return
		}
	}
	abort(c, err)
}

// cabinetEvent takes a withdrawal report through the API, the same path as the cabinet's own
// reports (intake.ApplyVend). It may come from the cabinet itself (a cabinet token), from the
// nurse who made the request, at its cabinet, or from a pharmacist; from nobody else. A report
// the request cannot take now is 409: through the API a person is there to look.
func (s *Server) cabinetEvent(c *gin.Context) {
	cabinetID, err := pathID(c, "id", "cabinet")
	if err != nil {
		abort(c, err)
		return
	}
	var body CabinetEventBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	if fe.checkText("type", body.Type, textcheck.Line) && body.Type != "withdrawn" {
		fe.add("type", `must be "withdrawn"`)
	}
	if fe.checkText("request_id", body.RequestID, textcheck.Line) && !requestIDPattern.MatchString(body.RequestID) {
		fe.add("request_id", "is not a request id")
	}
	if len(body.Lines) > MaxLines {
		fe.add("lines", "at most %d lines", MaxLines)
	}
	lines := make([]pyxis.Line, len(body.Lines))
	for i, l := range body.Lines {
		if l.MedicationID <= 0 {
			fe.add(fmt.Sprintf("lines[%d].medication_id", i), "is required")
		}
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			fe.add(fmt.Sprintf("lines[%d].quantity", i), "must be between 1 and %d", MaxQuantity)
		}
		lines[i] = pyxis.Line{MedicationID: l.MedicationID, Quantity: l.Quantity}
	}
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	ctx := c.Request.Context()
	cab, err := s.store.GetCabinet(ctx, cabinetID)
	if err != nil {
		abort(c, err)
		return
	}
	if err := s.mayReportWithdrawal(c, cab, body.RequestID); err != nil {
		abort(c, err)
		return
	}
	me := actor(c)
	res, err := s.intake.ApplyVend(ctx, intake.Vend{
		Cabinet: cab, OrderRef: body.RequestID, Lines: lines, ReportID: c.GetString(requestIDKey),
		Actor: me, Source: db.SourceAPI, At: time.Now(),
	}, true)
	switch {
	case errors.Is(err, intake.ErrRefused), errors.Is(err, intake.ErrNotYet):
		abort(c, newError(http.StatusConflict, CodeInvalidState, "the request is not waiting for a withdrawal at this cabinet", nil))
		return
	case err != nil:
		abort(c, err)
		return
	case res.State == nil:
		// A resend of a report the request took: answer with the request as it is.
		st, err := s.readState(ctx, body.RequestID)
		if err != nil {
			abort(c, err)
			return
		}
		res.State = &st
	}
	c.JSON(http.StatusAccepted, requestView(*res.State))
}

// mayReportWithdrawal allows a withdrawal report to a pharmacist, to the cabinet itself, and
// to the nurse who made the request at that cabinet; anyone else is 403. An unknown request
// is 404 to the nurse, who may not learn that it exists.
func (s *Server) mayReportWithdrawal(c *gin.Context, cab pyxis.Cabinet, requestID string) error {
	me := actor(c)
	switch me.Role {
	case pyxis.RolePharmacist:
		return nil
	case pyxis.RoleCabinet:
		if claim := cabinetClaim(c); claim == "" || claim == cab.Code {
			return nil
		}
		return newError(http.StatusForbidden, CodeForbidden, "this cabinet token may report only for its own cabinet", nil)
	case pyxis.RoleNurse:
		d, err := s.store.GetRequestDetail(c.Request.Context(), requestID)
		if errors.Is(err, pyxis.ErrNotFound) {
			return notFound("request")
		}
		if err != nil {
			return err
		}
		if d.Requester.ID == me.ID && d.CabinetID == cab.ID {
			return nil
		}
		return newError(http.StatusForbidden, CodeForbidden, "a nurse may report the withdrawal of her own requests only, at their cabinet", nil)
	}
	return newError(http.StatusForbidden, CodeForbidden, "only the cabinet, the requesting nurse or a pharmacist may report a withdrawal", nil)
}

// update sends a Workflow Update and waits for its result. The validator in the workflow
// decides whether the action is allowed now; a closed workflow allows nothing.
func (s *Server) update(ctx context.Context, id, name string, arg any) (workflows.State, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.UpdateTimeout)
	defer cancel()
	var state workflows.State
	err := workflows.Update(ctx, s.temporal, id, "", name, arg, &state)
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		return state, nil
	case errors.As(err, &nf):
		return state, s.closedOrMissing(ctx, id)
	case ctx.Err() != nil:
		return state, fmt.Errorf("%s %s: %w", name, id, errWorkflowTimeout)
	}
	return state, err
}

// closedOrMissing tells a finished request (409: nothing can be done to it any more) from one
// that never existed (404).
func (s *Server) closedOrMissing(ctx context.Context, id string) error {
	desc, err := s.temporal.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return notFound("request")
	}
	if err != nil {
		return fmt.Errorf("describe %s: %w", id, err)
	}
	status := desc.GetWorkflowExecutionInfo().GetStatus().String()
	return newError(http.StatusConflict, CodeInvalidState, "the request is finished ("+status+"); nothing can change it", nil)
}
