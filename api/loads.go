package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
)

// LoadBody is the body of POST /v1/cabinets/{id}/loads: units put into a pocket. A load of a
// controlled medication needs a witness other than who loads.
type LoadBody struct {
	MedicationID int64  `json:"medication_id"`
	Quantity     *int32 `json:"quantity"`
	Witness      string `json:"witness"`
}

// LoadView is a recorded load: the ledger's movement and the level it left.
type LoadView struct {
	CabinetID    int64     `json:"cabinet_id"`
	MedicationID int64     `json:"medication_id"`
	Quantity     int32     `json:"quantity"`
	OnHand       int32     `json:"on_hand"`
	Witness      string    `json:"witness,omitempty"`
	MovementID   int64     `json:"movement_id"`
	At           time.Time `json:"at"`
}

// recordLoad serves POST /v1/cabinets/{id}/loads: a loaded movement in the ledger, on_hand
// raised by the quantity, audited, in one transaction (db.StockStore.RecordPocketChange). It is
// how a controlled medication's pocket is filled, which PUT .../stock may not do.
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
	fe.checkString("witness", body.Witness, false, 64)
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
	witness := strings.TrimSpace(body.Witness)
	if meds[0].Controlled() {
		switch {
		case witness == "":
			abort(c, validation([]FieldError{{Field: "witness", Message: "a load of a controlled medication needs a witness"}}))
			return
		case witness == me.ID:
			abort(c, newError(http.StatusConflict, CodeSamePerson, "the witness of a controlled load is someone other than who loads", nil))
			return
		}
	}
	res, err := s.stock.RecordPocketChange(ctx, db.PocketChange{
		CabinetID: cabinetID, MedicationID: body.MedicationID, Kind: db.MovementLoaded, Quantity: *body.Quantity,
		Actor: pyxis.Actor{ID: me.ID, Role: me.Role}, Witness: witness, Source: db.SourceAPI,
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
		CabinetID: cabinetID, MedicationID: body.MedicationID, Quantity: m.Quantity, OnHand: m.OnHandAfter,
		Witness: m.WitnessID, MovementID: m.ID, At: m.At,
	})
}
