package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"

	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/loadtest/simuser"
)

// catalogue is what the run requests: the cabinets and the medications, split into plain and
// controlled.
type catalogue struct {
	cabinets   []cabinet
	plain      []medication
	controlled []medication
}

// cabinet is a cabinet of the catalogue as the run uses it.
type cabinet struct {
	id   int64
	code string
}

// medication is a medication of the catalogue as the run uses it.
type medication struct {
	id         int64
	code       string
	controlled bool
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
	admin, err := r.people.Get(adminID, roleAdmin)
	if err != nil {
		return catalogue{}, err
	}
	var cabs apiclient.CabinetList
	if err := r.api.must(ctx, admin, "list cabinets", func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return r.api.API.ListCabinets(ctx, eds...)
	}, &cabs); err != nil {
		return catalogue{}, err
	}
	var meds apiclient.MedicationList
	if err := r.api.must(ctx, admin, "list medications", func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return r.api.API.ListMedications(ctx, eds...)
	}, &meds); err != nil {
		return catalogue{}, err
	}
	var cat catalogue
	for _, c := range cabs.Data {
		if c.Id == nil {
			return catalogue{}, fmt.Errorf("list cabinets: cabinet %q has no id", c.Code)
		}
		if s := deref(c.Status); s == apiclient.CabinetBodyStatusEmpty || s == apiclient.CabinetBodyStatusOnline {
			cat.cabinets = append(cat.cabinets, cabinet{id: *c.Id, code: c.Code})
		}
	}
	for _, m := range meds.Data {
		if m.Id == nil {
			return catalogue{}, fmt.Errorf("list medications: medication %q has no id", m.Code)
		}
		med := medication{id: *m.Id, code: m.Code, controlled: deref(m.Controlled)}
		if med.controlled {
			cat.controlled = append(cat.controlled, med)
		} else {
			cat.plain = append(cat.plain, med)
		}
	}
	if len(cat.cabinets) == 0 || len(cat.plain) == 0 {
		return cat, errors.New("the system has no online cabinet or no medication that is not controlled: load the demo data (pyxis-dev does) or create some")
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
// through a load, witnessed by a pharmacist (POST /v1/cabinets/{id}/loads, then
// POST /v1/loads/{id}/witness).
func (r *runner) topUp(ctx context.Context, cat catalogue, need int32) error {
	tech, err := r.people.Get(technicianID, roleTechnician)
	if err != nil {
		return err
	}
	meds := append(append([]medication{}, cat.plain...), cat.controlled...)
	for _, cab := range cat.cabinets {
		stock, err := r.stock(ctx, tech, cab.id)
		if err != nil {
			return err
		}
		have := make(map[int64]apiclient.StockView, len(stock))
		for _, s := range stock {
			have[s.MedicationId] = s
		}
		for _, m := range meds {
			s := have[m.id]
			want := min(s.Reserved+need, maxOnHand)
			if s.OnHand >= want {
				continue
			}
			if m.controlled {
				err = r.load(ctx, tech, cab.id, m.id, want-s.OnHand)
			} else {
				err = r.setStock(ctx, tech, cab.id, m.id, apiclient.StockBody{OnHand: want, ParLevel: s.ParLevel})
			}
			if err != nil {
				return fmt.Errorf("top up %s/%s: %w", cab.code, m.code, err)
			}
		}
	}
	return nil
}

// stock reads a cabinet's pockets as u (not measured).
func (r *runner) stock(ctx context.Context, u *simuser.User, cabinetID int64) ([]apiclient.StockView, error) {
	var stock apiclient.StockList
	err := r.api.must(ctx, u, fmt.Sprintf("list the stock of cabinet %d", cabinetID), func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return r.api.API.ListStock(ctx, cabinetID, eds...)
	}, &stock)
	return stock.Data, err
}

// setStock sets the level of a pocket of a medication that is not controlled, as technician u.
func (r *runner) setStock(ctx context.Context, u *simuser.User, cabinetID, medicationID int64, body apiclient.SetStockJSONRequestBody) error {
	return r.api.must(ctx, u, fmt.Sprintf("set the stock of medication %d in cabinet %d", medicationID, cabinetID), func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return r.api.API.SetStock(ctx, cabinetID, medicationID, body, eds...)
	}, nil)
}

// load puts quantity units of a controlled medication into a pocket: the technician records
// the load, and the first simulated pharmacist witnesses it with her own token.
func (r *runner) load(ctx context.Context, tech *simuser.User, cabinetID, medicationID int64, quantity int32) error {
	body := apiclient.RecordLoadJSONRequestBody{MedicationId: medicationID, Quantity: quantity}
	var pending apiclient.LoadView
	err := r.api.must(ctx, tech, fmt.Sprintf("load medication %d into cabinet %d", medicationID, cabinetID), func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return r.api.API.RecordLoad(ctx, cabinetID, body, eds...)
	}, &pending)
	if err != nil {
		return err
	}
	if pending.Id == nil {
		return fmt.Errorf("load medication %d into cabinet %d: the answer names no load to witness", medicationID, cabinetID)
	}
	witness, err := r.people.Get(pharmacistID(0), rolePharmacist)
	if err != nil {
		return err
	}
	return r.api.must(ctx, witness, fmt.Sprintf("witness load %d", *pending.Id), func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return r.api.API.WitnessLoad(ctx, *pending.Id, eds...)
	}, nil)
}

// register makes the pharmacist id a user of the directory with a professional registration
// of her own, as an admin does (not measured): a request that needs two approvals counts only
// approvals of registered pharmacists, so two accounts cannot pass for two people.
func (r *runner) register(ctx context.Context, id string) error {
	admin, err := r.people.Get(adminID, roleAdmin)
	if err != nil {
		return err
	}
	reg := "LT-CRF " + id
	o, err := r.api.call(ctx, "", admin, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return r.api.API.PatchUser(ctx, id, apiclient.UserPatchBody{Registration: &reg}, eds...)
	}, nil, nil)
	switch {
	case err != nil:
		return fmt.Errorf("register pharmacist %s: %w", id, err)
	case o.status == http.StatusNotFound:
		return r.api.must(ctx, admin, "add pharmacist "+id, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
			return r.api.API.CreateUser(ctx, apiclient.UserBody{Id: id, Name: "Load-test pharmacist " + id,
				Role: apiclient.UserRolePharmacist, Registration: &reg}, eds...)
		}, nil)
	case o.status < 200 || o.status > 299:
		return fmt.Errorf("register pharmacist %s: answered %d %s", id, o.status, o.code)
	}
	return nil
}
