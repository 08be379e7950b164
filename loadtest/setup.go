package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/workflows"
)

// catalogue is what the run requests: the cabinets and the medications, split into plain and
// controlled.
type catalogue struct {
	cabinets   []api.CabinetBody
	plain      []api.MedicationBody
	controlled []api.MedicationBody
}

// Setup users: they prepare the run and are not measured.
const (
	adminID      = "lt-admin"
	technicianID = "lt-tech"
)

// maxQuantity is the most units a simulated line asks for.
const maxQuantity = 2

// loadCatalogue reads the cabinets and medications through the API.
func (r *runner) loadCatalogue(ctx context.Context) (catalogue, error) {
	admin, err := r.people.get(adminID, workflows.RoleAdmin)
	if err != nil {
		return catalogue{}, err
	}
	var cabs api.ListView[api.CabinetBody]
	if err := r.api.must(ctx, admin, "GET", "/v1/cabinets", nil, &cabs); err != nil {
		return catalogue{}, err
	}
	var meds api.ListView[api.MedicationBody]
	if err := r.api.must(ctx, admin, "GET", "/v1/medications", nil, &meds); err != nil {
		return catalogue{}, err
	}
	var cat catalogue
	for _, c := range cabs.Data {
		if c.Status == "" || c.Status == "online" {
			cat.cabinets = append(cat.cabinets, c)
		}
	}
	for _, m := range meds.Data {
		if m.Controlled {
			cat.controlled = append(cat.controlled, m)
		} else {
			cat.plain = append(cat.plain, m)
		}
	}
	if len(cat.cabinets) == 0 || len(cat.plain) == 0 {
		return cat, errors.New("the system has no online cabinet or no medication that is not controlled: load the demo data (pyxis dev does) or create some")
	}
	return cat, nil
}

// stockNeed is how many units of each medication each pocket must be able to give for a run
// of n requests: every request may ask for any medication once, up to maxQuantity.
func stockNeed(n int) int32 {
	return int32(min(int64(n)*maxQuantity, math.MaxInt32/2))
}

// topUp makes sure every pocket of the catalogue can give need more units than it has
// reserved, so that failures measure the system and not an empty cabinet. It is the one place
// that puts stock in: through Env.SetStock when the caller has a way in (dev mode seeds through
// the store), else as a technician through PUT /v1/cabinets/{id}/stock/{medication_id}. When
// direct changes of a controlled medication's on_hand are refused, this is what moves to a
// count or load.
func (r *runner) topUp(ctx context.Context, cat catalogue, need int32) error {
	tech, err := r.people.get(technicianID, workflows.RoleTechnician)
	if err != nil {
		return err
	}
	meds := append(append([]api.MedicationBody{}, cat.plain...), cat.controlled...)
	for _, cab := range cat.cabinets {
		var stock api.ListView[api.StockView]
		if err := r.api.must(ctx, tech, "GET", fmt.Sprintf("/v1/cabinets/%d/stock", cab.ID), nil, &stock); err != nil {
			return err
		}
		have := make(map[int64]api.StockView, len(stock.Data))
		for _, s := range stock.Data {
			have[s.MedicationID] = s
		}
		for _, m := range meds {
			s := have[m.ID]
			want := s.Reserved + need
			if s.OnHand >= want {
				continue
			}
			if err := r.setStock(ctx, tech, cab.ID, m.ID, want, s.ParLevel); err != nil {
				return fmt.Errorf("top up %s/%s: %w", cab.Code, m.Code, err)
			}
		}
	}
	return nil
}

// setStock sets a pocket's on_hand and par level.
func (r *runner) setStock(ctx context.Context, tech *user, cabinetID, medicationID int64, onHand, parLevel int32) error {
	if r.env.SetStock != nil {
		return r.env.SetStock(ctx, cabinetID, medicationID, onHand, parLevel)
	}
	return r.api.must(ctx, tech, "PUT", fmt.Sprintf("/v1/cabinets/%d/stock/%d", cabinetID, medicationID),
		api.StockBody{OnHand: &onHand, ParLevel: &parLevel}, nil)
}
