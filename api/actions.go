package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/internal/textcheck"
	"github.com/medreq/pyxis/requests"
	"github.com/medreq/pyxis/workflows"
)

// People act on a request through the request service, which sends the action to the
// request's workflow: the workflow's validator decides whether it is allowed now, and the
// answer is 202 with the request's state after it.

func (s *Server) approve(c *gin.Context, id string) {
	var body NoteBody
	if err := bindOptionalJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	fe.checkFreeText("note", body.Note, false, 1000)
	s.act(c, id, fe, AccessRequestApprove, func() (workflows.State, error) {
		return s.requests.Approve(c.Request.Context(), id, actor(c), principal(c).Registration, body.Note)
	})
}

func (s *Server) reject(c *gin.Context, id string) {
	var body ReasonBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	fe.checkFreeText("reason", body.Reason, true, 1000)
	s.act(c, id, fe, AccessRequestReject, func() (workflows.State, error) {
		return s.requests.Reject(c.Request.Context(), id, actor(c), body.Reason)
	})
}

func (s *Server) cancel(c *gin.Context, id string) {
	var body ReasonBody
	if err := bindOptionalJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	fe.checkFreeText("reason", body.Reason, false, 1000)
	s.act(c, id, fe, AccessRequestCancel, func() (workflows.State, error) {
		return s.requests.Cancel(c.Request.Context(), id, actor(c), body.Reason)
	})
}

// act checks the request id and the body's fields, then takes the action and answers 202
// with the request's state, logged (as access) before it leaves. A nurse acting on a request
// she may not see gets 404, whatever the request's state, and the attempt is logged denied.
func (s *Server) act(c *gin.Context, id string, fe fields, logAs string, action func() (workflows.State, error)) {
	err := checkRequestID(id)
	if err == nil {
		err = fe.err()
	}
	if err == nil {
		err = s.mayActOn(c, id, logAs)
	}
	var state workflows.State
	if err == nil {
		state, err = action()
	}
	if err == nil {
		err = s.logAccess(c, logAs, []string{id}, nil)
	}
	if err != nil {
		abort(c, err)
		return
	}
	c.JSON(http.StatusAccepted, requestView(state))
}

// newReportID names a withdrawal report made through the API: generated here, in the API's
// own namespace (rest-<uuid>), never taken from the caller (X-Request-ID), so no caller can
// take the id under which a cabinet will report, and have the cabinet's real report taken
// for a resend of hers.
func newReportID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80 // a version 4 UUID
	h := hex.EncodeToString(b[:])
	return "rest-" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// cabinetEvent takes a withdrawal report through the API, the same path as the cabinet's own
// reports (requests.Service.ReportWithdrawal, then intake.ApplyVend). Who may report it, and
// what a report the request cannot take now is, the service decides.
func (s *Server) cabinetEvent(c *gin.Context, id int64) {
	cabinetID, err := pathID(id, "cabinet")
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
	if fe.checkText("request_id", body.RequestID, textcheck.Line) && !pyxis.ValidRequestID(body.RequestID) {
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
		lines[i] = pyxis.Line(l)
	}
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	if err := s.mayActOn(c, body.RequestID, AccessRequestWithdraw); err != nil {
		abort(c, err)
		return
	}
	state, err := s.requests.ReportWithdrawal(c.Request.Context(), requests.Withdrawal{
		CabinetID: cabinetID, RequestID: body.RequestID, Lines: lines, ReportID: newReportID(),
		By: actor(c), ByCabinet: cabinetClaim(c),
	})
	if err == nil {
		err = s.logAccess(c, AccessRequestWithdraw, []string{body.RequestID}, nil)
	}
	if err != nil {
		abort(c, err)
		return
	}
	c.JSON(http.StatusAccepted, requestView(state))
}
