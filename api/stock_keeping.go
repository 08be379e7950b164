package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/requests"
	"github.com/medreq/pyxis/workflows"
)

// stockStore is what the stock routes (pockets, loads, counts, refills, discrepancies, override
// reviews, the controlled register) use of the database (db.StockStore).
type stockStore interface {
	ListStock(ctx context.Context, cabinetID int64) ([]db.StockRow, error)
	SetStock(ctx context.Context, cabinetID, medicationID int64, onHand, parLevel int32, by pyxis.Actor) (db.StockRow, error)
	RecordPocketChange(ctx context.Context, c db.PocketChange) (db.PocketChangeResult, error)
	RecordPendingLoad(ctx context.Context, cabinetID, medicationID int64, quantity int32, by pyxis.Actor) (db.Load, error)
	WitnessLoad(ctx context.Context, id int64, witness pyxis.Actor) (db.Load, error)
	RecordCount(ctx context.Context, c db.Count) (db.CountResult, error)
	ListRefillTasks(ctx context.Context, f db.StockFilter) ([]db.RefillTask, error)
	GetRefillTask(ctx context.Context, id int64) (db.RefillTask, error)
	CompleteRefill(ctx context.Context, c pyxis.RefillCompletion) (pyxis.CompletedRefill, error)
	ListDiscrepancies(ctx context.Context, f db.StockFilter) ([]db.Discrepancy, error)
	ResolveDiscrepancy(ctx context.Context, id int64, r db.Resolution) (db.Discrepancy, error)
	ListOverrideReviews(ctx context.Context, f db.OverrideFilter) ([]db.OverrideReview, error)
	ReviewOverride(ctx context.Context, id int64, outcome, note string, by pyxis.Actor) (db.OverrideReview, error)
	ControlledRegister(ctx context.Context, list string, from, to time.Time) (db.Register, error)
}

// MaxCount bounds a recorded count: no pocket holds more (db.MaxOnHand).
const MaxCount = db.MaxOnHand

// RefillView is a refill task. Status is open, done or cancelled; a confirmation just accepted
// answers confirmed, while the stock is being updated.
type RefillView struct {
	ID                int64      `json:"id"`
	CabinetID         int64      `json:"cabinet_id"`
	CabinetCode       string     `json:"cabinet_code"`
	MedicationID      int64      `json:"medication_id"`
	MedicationCode    string     `json:"medication_code"`
	MedicationName    string     `json:"medication_name"`
	Status            string     `json:"status"`
	RequestedQuantity int32      `json:"requested_quantity"`
	LoadedQuantity    *int32     `json:"loaded_quantity,omitempty"`
	Since             time.Time  `json:"since"`
	CompletedAt       *time.Time `json:"completed_at,omitempty"`
	CompletedBy       string     `json:"completed_by,omitempty"`
}

// ConfirmRefillBody is the body of POST /v1/refills/{id}/confirm: how much was loaded.
type ConfirmRefillBody struct {
	Quantity *int32 `json:"quantity"`
}

// CountBody is the body of POST /v1/cabinets/{id}/counts.
type CountBody struct {
	MedicationID int64  `json:"medication_id"`
	Count        *int32 `json:"count"`
}

// CountView is a recorded count: what the ledger held, and the discrepancy it recorded, if any.
type CountView struct {
	CabinetID    int64            `json:"cabinet_id"`
	MedicationID int64            `json:"medication_id"`
	Count        int32            `json:"count"`
	OnHand       int32            `json:"on_hand"`
	Discrepancy  *DiscrepancyView `json:"discrepancy"`
}

// DiscrepancyView is a discrepancy. Expected and Actual are on_hand and the count of a
// count_mismatch, and absent for an unwitnessed_controlled_waste.
type DiscrepancyView struct {
	ID             int64          `json:"id"`
	CabinetID      int64          `json:"cabinet_id"`
	CabinetCode    string         `json:"cabinet_code"`
	MedicationID   int64          `json:"medication_id"`
	MedicationCode string         `json:"medication_code"`
	MedicationName string         `json:"medication_name"`
	Kind           string         `json:"kind"`
	Expected       *int32         `json:"expected,omitempty"`
	Actual         *int32         `json:"actual,omitempty"`
	Details        map[string]any `json:"details"`
	Status         string         `json:"status"`
	CreatedAt      time.Time      `json:"created_at"`
	ResolvedAt     *time.Time     `json:"resolved_at,omitempty"`
	ResolvedBy     string         `json:"resolved_by,omitempty"`
	Resolution     string         `json:"resolution,omitempty"`
}

// ResolveBody is the body of POST /v1/discrepancies/{id}/resolve. SetOnHand, when given, is
// the level the pharmacist found: on_hand is set to it.
type ResolveBody struct {
	Reason    string `json:"reason"`
	SetOnHand *int32 `json:"set_on_hand"`
}

func (s *Server) listRefills(c *gin.Context, p ListRefillsParams) {
	f, err := stockFilter(p.Status, p.CabinetId, []string{db.RefillOpen, db.RefillDone, db.RefillCancelled})
	if err != nil {
		abort(c, err)
		return
	}
	tasks, err := s.stock.ListRefillTasks(c.Request.Context(), f)
	if err != nil {
		abort(c, err)
		return
	}
	writeList(c, tasks, refillView, "")
}

// confirmRefill asks the task's Restock workflow to load the quantity; its validator decides
// whether the task still awaits a refill. A task whose workflow no longer runs is completed
// directly.
func (s *Server) confirmRefill(c *gin.Context, id int64) {
	id, err := pathID(id, "refill task")
	if err != nil {
		abort(c, err)
		return
	}
	var body ConfirmRefillBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	if body.Quantity == nil || *body.Quantity <= 0 || *body.Quantity > workflows.MaxRefillQuantity {
		abort(c, validation([]FieldError{{Field: "quantity", Message: fmt.Sprintf("is required, between 1 and %d", workflows.MaxRefillQuantity)}}))
		return
	}
	ctx := c.Request.Context()
	task, err := s.stock.GetRefillTask(ctx, id)
	if errors.Is(err, pyxis.ErrNotFound) {
		err = notFound("refill task")
	}
	if err == nil && task.Status != db.RefillOpen {
		err = newError(http.StatusConflict, CodeInvalidState, fmt.Sprintf("refill task %d is %s", id, task.Status), nil)
	}
	if err != nil {
		abort(c, err)
		return
	}
	me := actor(c)
	err = s.updateRestock(ctx, task.WorkflowID, workflows.ConfirmRefillInput{
		Actor: me, Quantity: *body.Quantity, Source: workflows.RefillSourceAPI, TaskID: task.ID,
	})
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		view := refillView(task)
		view.Status, view.LoadedQuantity = "confirmed", body.Quantity
		c.JSON(http.StatusAccepted, view)
		return
	case errors.As(err, &nf):
		done, cerr := s.stock.CompleteRefill(ctx, pyxis.RefillCompletion{
			TaskID: task.ID, Quantity: *body.Quantity, Actor: pyxis.Actor{ID: me.ID, Role: me.Role}, Source: db.SourceAPI,
		})
		if cerr == nil && !done.Applied {
			cerr = newError(http.StatusConflict, CodeInvalidState, fmt.Sprintf("refill task %d is no longer open", id), nil)
		}
		if cerr == nil {
			task, cerr = s.stock.GetRefillTask(ctx, id)
		}
		if cerr == nil {
			c.JSON(http.StatusAccepted, refillView(task))
			return
		}
		err = cerr
	}
	abort(c, err)
}

// updateRestock sends the confirm-refill update and waits for the handler to take it.
func (s *Server) updateRestock(ctx context.Context, workflowID string, in workflows.ConfirmRefillInput) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.UpdateTimeout)
	defer cancel()
	err := workflows.Update(ctx, s.temporal, workflowID, "", workflows.ConfirmRefillUpdate, in, nil)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("confirm refill on %s: %w", workflowID, requests.ErrWorkflowTimeout)
	}
	return requests.Refusal(err)
}

func (s *Server) recordCount(c *gin.Context, cabinetID int64) {
	cabinetID, err := pathID(cabinetID, "cabinet")
	if err != nil {
		abort(c, err)
		return
	}
	var body CountBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	if body.MedicationID <= 0 {
		fe.add("medication_id", "is required")
	}
	if body.Count == nil || *body.Count < 0 || *body.Count > MaxCount {
		fe.add("count", "is required, between 0 and %d", MaxCount)
	}
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	ctx := c.Request.Context()
	if err := s.requireCabinet(ctx, cabinetID); err != nil {
		abort(c, err)
		return
	}
	me := actor(c)
	res, err := s.stock.RecordCount(ctx, db.Count{
		CabinetID: cabinetID, MedicationID: body.MedicationID, Counted: *body.Count,
		Actor: pyxis.Actor{ID: me.ID, Role: me.Role}, Source: db.SourceAPI,
	})
	if errors.Is(err, pyxis.ErrNotFound) {
		err = newError(http.StatusNotFound, CodeNotFound, "the cabinet does not stock this medication",
			[]FieldError{{Field: "medication_id", Message: fmt.Sprintf("medication %d is not stocked in cabinet %d", body.MedicationID, cabinetID)}})
	}
	if err != nil {
		abort(c, err)
		return
	}
	view := CountView{CabinetID: cabinetID, MedicationID: body.MedicationID, Count: *body.Count, OnHand: res.OnHand}
	if res.Discrepancy != nil {
		d := discrepancyView(*res.Discrepancy)
		view.Discrepancy = &d
	}
	c.JSON(http.StatusCreated, view)
}

func (s *Server) listDiscrepancies(c *gin.Context, p ListDiscrepanciesParams) {
	f, err := stockFilter(p.Status, p.CabinetId, []string{db.DiscrepancyOpen, db.DiscrepancyResolved})
	if err != nil {
		abort(c, err)
		return
	}
	ds, err := s.stock.ListDiscrepancies(c.Request.Context(), f)
	if err != nil {
		abort(c, err)
		return
	}
	writeList(c, ds, discrepancyView, "")
}

func (s *Server) resolveDiscrepancy(c *gin.Context, id int64) {
	id, err := pathID(id, "discrepancy")
	if err != nil {
		abort(c, err)
		return
	}
	var body ResolveBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	fe.checkFreeText("reason", body.Reason, true, 1000)
	if body.SetOnHand != nil && (*body.SetOnHand < 0 || *body.SetOnHand > db.MaxOnHand) {
		fe.add("set_on_hand", "must be between 0 and %d", db.MaxOnHand)
	}
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	me := actor(c)
	d, err := s.stock.ResolveDiscrepancy(c.Request.Context(), id, db.Resolution{
		Reason: strings.TrimSpace(body.Reason), SetOnHand: body.SetOnHand, Actor: pyxis.Actor{ID: me.ID, Role: me.Role},
	})
	if errors.Is(err, pyxis.ErrNotFound) {
		err = notFound("discrepancy")
	}
	if err != nil {
		abort(c, err)
		return
	}
	c.JSON(http.StatusOK, discrepancyView(d))
}

// stockFilter checks the status (one of statuses) and cabinet_id query parameters.
func stockFilter[S ~string](status *S, cabinetID *int64, statuses []string) (db.StockFilter, error) {
	f := db.StockFilter{Status: string(deref(status))}
	var fe fields
	if f.Status != "" && !slices.Contains(statuses, f.Status) {
		fe.add("status", "must be one of %s", strings.Join(statuses, ", "))
	}
	f.CabinetID = fe.optionalID("cabinet_id", cabinetID)
	return f, fe.err()
}

func refillView(t db.RefillTask) RefillView {
	return RefillView{
		ID: t.ID, CabinetID: t.CabinetID, CabinetCode: t.CabinetCode, MedicationID: t.MedicationID,
		MedicationCode: t.MedicationCode, MedicationName: t.MedicationName, Status: t.Status,
		RequestedQuantity: t.RequestedQty, LoadedQuantity: t.LoadedQty, Since: t.CreatedAt,
		CompletedAt: t.CompletedAt, CompletedBy: t.CompletedBy,
	}
}

func discrepancyView(d db.Discrepancy) DiscrepancyView {
	return DiscrepancyView{
		ID: d.ID, CabinetID: d.CabinetID, CabinetCode: d.CabinetCode, MedicationID: d.MedicationID,
		MedicationCode: d.MedicationCode, MedicationName: d.MedicationName, Kind: d.Kind,
		Expected: d.Expected, Actual: d.Actual, Details: d.Details, Status: d.Status,
		CreatedAt: d.CreatedAt, ResolvedAt: d.ResolvedAt, ResolvedBy: d.ResolvedBy, Resolution: d.Resolution,
	}
}
