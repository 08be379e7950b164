package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/db"
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
// reserved, so that failures measure the system and not an empty cabinet. It puts stock in as
// the hospital does, through the API: a technician sets a plain pocket's level (PUT
// /v1/cabinets/{id}/stock/{medication_id}); a controlled medication's on_hand changes only
// through a load, witnessed by a pharmacist (POST /v1/cabinets/{id}/loads).
func (r *runner) topUp(ctx context.Context, cat catalogue, need int32) error {
	tech, err := r.people.get(technicianID, workflows.RoleTechnician)
	if err != nil {
		return err
	}
	controlled := make(map[int64]bool, len(cat.controlled))
	for _, m := range cat.controlled {
		controlled[m.ID] = true
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
			want := min(s.Reserved+need, db.MaxOnHand)
			if s.OnHand >= want {
				continue
			}
			if controlled[m.ID] {
				err = r.load(ctx, tech, cab.ID, m.ID, want-s.OnHand)
			} else {
				err = r.api.must(ctx, tech, "PUT", fmt.Sprintf("/v1/cabinets/%d/stock/%d", cab.ID, m.ID),
					api.StockBody{OnHand: &want, ParLevel: &s.ParLevel}, nil)
			}
			if err != nil {
				return fmt.Errorf("top up %s/%s: %w", cab.Code, m.Code, err)
			}
		}
	}
	return nil
}

// load puts quantity units of a controlled medication into a pocket, witnessed by the first
// simulated pharmacist.
func (r *runner) load(ctx context.Context, tech *user, cabinetID, medicationID int64, quantity int32) error {
	return r.api.must(ctx, tech, "POST", fmt.Sprintf("/v1/cabinets/%d/loads", cabinetID),
		api.LoadBody{MedicationID: medicationID, Quantity: &quantity, Witness: pharmacistID(0)}, nil)
}
