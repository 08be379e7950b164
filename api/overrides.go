package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
)

// OverrideView is a dispense a cabinet reported without a request the system could match:
// another system's order, an override, a vend without an order, or one for a request that
// was no longer waiting at the cabinet; or a report kept as the cabinet wrote it because it
// cannot be applied as written (an unknown medication, a fractional amount, another patient
// or other units than the order's). A pharmacist reviews it.
type OverrideView struct {
	ID          int64  `json:"id"`
	CabinetID   int64  `json:"cabinet_id"`
	CabinetCode string `json:"cabinet_code"`
	// MedicationID is nil for a code the catalogue does not know; MedicationCode is then
	// the code as reported.
	MedicationID   *int64 `json:"medication_id"`
	MedicationCode string `json:"medication_code"`
	MedicationName string `json:"medication_name"`
	Quantity       int32  `json:"quantity"`
	// NotInLedger is what the cabinet dispensed beyond the unreserved stock the ledger held.
	NotInLedger int32  `json:"not_in_ledger"`
	OrderRef    string `json:"order_ref"`
	Cause       string `json:"cause"`
	// Transaction is the report's kind (V, R, W, L, U, C); ReportedAmount and ReportedUnits
	// what the cabinet wrote when it was kept as written; Detail what differed.
	Transaction      string     `json:"transaction"`
	ReportedAmount   string     `json:"reported_amount,omitempty"`
	ReportedUnits    string     `json:"reported_units,omitempty"`
	Detail           string     `json:"detail,omitempty"`
	MessageControlID string     `json:"message_control_id,omitempty"`
	DispensedBy      string     `json:"dispensed_by"`
	DispensedAt      time.Time  `json:"dispensed_at"`
	Status           string     `json:"status"`
	CreatedAt        time.Time  `json:"created_at"`
	ReviewedAt       *time.Time `json:"reviewed_at,omitempty"`
	ReviewedBy       string     `json:"reviewed_by,omitempty"`
	Outcome          string     `json:"outcome,omitempty"`
	Note             string     `json:"note,omitempty"`
}

func overrideView(o db.OverrideReview) OverrideView {
	var med *int64
	if o.MedicationID != 0 {
		med = &o.MedicationID
	}
	return OverrideView{
		Transaction: o.Transaction, ReportedAmount: o.ReportedAmount, ReportedUnits: o.ReportedUnits, Detail: o.Detail,
		ID: o.ID, CabinetID: o.CabinetID, CabinetCode: o.CabinetCode, MedicationID: med,
		MedicationCode: o.MedicationCode, MedicationName: o.MedicationName, Quantity: o.Quantity,
		NotInLedger: o.NotInLedger, OrderRef: o.OrderRef, Cause: o.Cause, MessageControlID: o.MessageControlID,
		DispensedBy: o.DispensedBy, DispensedAt: o.DispensedAt, Status: o.Status, CreatedAt: o.CreatedAt,
		ReviewedAt: o.ReviewedAt, ReviewedBy: o.ReviewedBy, Outcome: o.Outcome, Note: o.Note,
	}
}

// ReviewBody closes an override review: outcome justified or not_justified, and a note.
type ReviewBody struct {
	Outcome string `json:"outcome"`
	Note    string `json:"note"`
}

func (s *Server) listOverrides(c *gin.Context, p ListOverridesParams) {
	f, err := stockFilter(p.Status, p.CabinetId, []string{db.OverrideOpen, db.OverrideReviewed})
	if err != nil {
		abort(c, err)
		return
	}
	rows, err := s.stock.ListOverrideReviews(c.Request.Context(), db.OverrideFilter{Status: f.Status, CabinetID: f.CabinetID, Limit: f.Limit})
	if err != nil {
		abort(c, err)
		return
	}
	writeList(c, rows, overrideView, "")
}

func (s *Server) reviewOverride(c *gin.Context, id int64) {
	id, err := pathID(id, "override review")
	if err != nil {
		abort(c, err)
		return
	}
	var body ReviewBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	if body.Outcome != db.OverrideJustified && body.Outcome != db.OverrideNotJustified {
		fe.add("outcome", "must be %s or %s", db.OverrideJustified, db.OverrideNotJustified)
	}
	fe.checkString("note", body.Note, body.Outcome == db.OverrideNotJustified, 1000)
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	o, err := s.stock.ReviewOverride(c.Request.Context(), id, body.Outcome, body.Note, actor(c))
	switch {
	case errors.Is(err, pyxis.ErrNotFound):
		err = notFound("override review")
	case errors.Is(err, pyxis.ErrNotOpen):
		err = newError(http.StatusConflict, CodeInvalidState, "the override was reviewed already", nil)
	case errors.Is(err, pyxis.ErrInvalid):
		err = newError(http.StatusConflict, "same_person", "the person who dispensed may not review their own override", nil)
	}
	if err != nil {
		abort(c, err)
		return
	}
	c.JSON(http.StatusOK, overrideView(o))
}
