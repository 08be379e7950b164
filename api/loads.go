package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
)

// LoadBody is the body of POST /v1/cabinets/{id}/loads: units put into a pocket. There is no
// witness field: the witness of a controlled load is a person who signs in and confirms it
// (POST /v1/loads/{id}/witness), not a name typed by who loads.
type LoadBody struct {
	MedicationID int64  `json:"medication_id"`
	Quantity     *int32 `json:"quantity"`
}

// Statuses of a load as the API answers it: loaded (applied at once: an uncontrolled
// medication), pending_witness (a controlled one, waiting for its witness) and witnessed.
const loadLoaded = "loaded"

// LoadView is a load. A load applied (loaded, witnessed) has its ledger movement and the level
// it left; a pending one has the id its witness confirms.
type LoadView struct {
	ID           int64     `json:"id,omitempty"`
	Status       string    `json:"status"`
	CabinetID    int64     `json:"cabinet_id"`
	MedicationID int64     `json:"medication_id"`
	Quantity     int32     `json:"quantity"`
	LoadedBy     string    `json:"loaded_by"`
	OnHand       *int32    `json:"on_hand,omitempty"`
	Witness      string    `json:"witness,omitempty"`
	MovementID   int64     `json:"movement_id,omitempty"`
	At           time.Time `json:"at"`
}

func loadView(l db.Load) LoadView {
	v := LoadView{ID: l.ID, Status: l.Status, CabinetID: l.CabinetID, MedicationID: l.MedicationID, Quantity: l.Quantity,
		LoadedBy: l.LoadedBy.ID, Witness: l.WitnessID, At: l.CreatedAt}
	if m := l.Movement; m != nil {
		v.OnHand, v.MovementID, v.At = &m.OnHandAfter, m.ID, m.At
	}
	return v
}

// recordLoad serves POST /v1/cabinets/{id}/loads. A load of an uncontrolled medication is a
// loaded movement in the ledger at once (201, status loaded). A load of a controlled one is
// recorded as pending_witness (202), and nothing moves until another person confirms it with
// their own token (witnessLoad): it is how a controlled medication's pocket is filled, which
// PUT .../stock may not do.
func (s *Server) recordLoad(c *gin.Context, cabinetID int64) {
	cabinetID, err := pathID(cabinetID, "cabinet")
	if err != nil {
		abort(c, err)
		return
	}
	var body LoadBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	if body.MedicationID <= 0 {
		fe.add("medication_id", "is required")
	}
	if body.Quantity == nil || *body.Quantity <= 0 || *body.Quantity > db.MaxOnHand {
		fe.add("quantity", "is required, between 1 and %d", db.MaxOnHand)
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
	meds, err := s.catalogue.GetMedications(ctx, []int64{body.MedicationID})
	if err == nil && len(meds) == 0 {
		err = newError(http.StatusNotFound, CodeNotFound, "medication not found",
			[]FieldError{{Field: "medication_id", Message: fmt.Sprintf("no medication %d", body.MedicationID)}})
	}
	if err != nil {
		abort(c, err)
		return
	}
	me := actor(c)
	by := pyxis.Actor{ID: me.ID, Role: me.Role}
	if meds[0].Controlled() {
		l, err := s.stock.RecordPendingLoad(ctx, cabinetID, body.MedicationID, *body.Quantity, by)
		if err != nil {
			abort(c, err)
			return
		}
		c.Header("Location", fmt.Sprintf("/v1/loads/%d", l.ID))
		c.JSON(http.StatusAccepted, loadView(l))
		return
	}
	res, err := s.stock.RecordPocketChange(ctx, db.PocketChange{
		CabinetID: cabinetID, MedicationID: body.MedicationID, Kind: db.MovementLoaded, Quantity: *body.Quantity,
		Actor: by, Source: db.SourceAPI,
	})
	if errors.Is(err, pyxis.ErrInvalid) {
		err = validation([]FieldError{{Field: "quantity", Message: fmt.Sprintf("would leave more than %d on hand", db.MaxOnHand)}})
	}
	if err != nil {
		abort(c, err)
		return
	}
	m := res.Movement
	c.JSON(http.StatusCreated, LoadView{
		Status: loadLoaded, CabinetID: cabinetID, MedicationID: body.MedicationID, Quantity: m.Quantity,
		LoadedBy: me.ID, OnHand: &m.OnHandAfter, MovementID: m.ID, At: m.At,
	})
}

// witnessLoad serves POST /v1/loads/{id}/witness: the caller, an active user other than who
// loaded, witnesses a pending load of a controlled medication, and only now do the pocket and
// the register change (db.StockStore.WitnessLoad). The witness is the token's subject.
func (s *Server) witnessLoad(c *gin.Context, id int64) {
	id, err := pathID(id, "load")
	if err != nil {
		abort(c, err)
		return
	}
	me := actor(c)
	l, err := s.stock.WitnessLoad(c.Request.Context(), id, pyxis.Actor{ID: me.ID, Role: me.Role})
	switch {
	case errors.Is(err, pyxis.ErrNotFound):
		err = notFound("load")
	case errors.Is(err, pyxis.ErrSamePerson):
		err = newError(http.StatusConflict, CodeSamePerson, "the witness of a controlled load is someone other than who loads", nil)
	case errors.Is(err, pyxis.ErrInvalid):
		err = newError(http.StatusConflict, CodeConflict, fmt.Sprintf("the load would leave more than %d on hand", db.MaxOnHand), nil)
	}
	if err != nil {
		abort(c, err)
		return
	}
	c.JSON(http.StatusOK, loadView(l))
}
