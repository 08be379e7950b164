package devstack

import (
	"context"
	"fmt"
	"slices"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
)

// Demo is what the first start of dev mode creates, and what its banner shows.
type Demo struct {
	Users    []db.User
	Cabinets []pyxis.Cabinet
	// Meds holds the first two medications, for the sample request.
	Meds []pyxis.Medication
}

// demoUsers are dev mode's users; each nurse works on the unit of a demo cabinet, so she sees
// that cabinet's requests.
var demoUsers = []db.User{
	{ID: "nurse-ana", Name: "Ana Souza", Role: pyxis.RoleNurse, Registration: "COREN-SP 123456", Unit: "Intensive Care Unit", Active: true},
	{ID: "nurse-caio", Name: "Caio Lima", Role: pyxis.RoleNurse, Registration: "COREN-SP 654321", Unit: "Ward 3B (Medical)", Active: true},
	{ID: "pharm-bruno", Name: "Bruno Alves", Role: pyxis.RolePharmacist, Registration: "CRF-SP 12345", Active: true},
	{ID: "pharm-dora", Name: "Dora Reis", Role: pyxis.RolePharmacist, Registration: "CRF-SP 54321", Active: true},
	{ID: "tech-edu", Name: "Eduardo Melo", Role: pyxis.RoleTechnician, Active: true},
	{ID: "admin-fe", Name: "Fernanda Dias", Role: pyxis.RoleAdmin, Active: true},
	// A cabinet interface for each demo cabinet (demoCabinetUsers): what reports withdrawals
	// through the API.
	{ID: "cab-icu-01", Name: "PYX-ICU-01 interface", Role: pyxis.RoleCabinet, Unit: "Intensive Care Unit", Active: true},
	{ID: "cab-3b-01", Name: "PYX-3B-01 interface", Role: pyxis.RoleCabinet, Unit: "Ward 3B (Medical)", Active: true},
}

// demoCabinetUsers maps each demo cabinet interface to the code of the cabinet it speaks for,
// which its token names.
var demoCabinetUsers = map[string]string{"cab-icu-01": "PYX-ICU-01", "cab-3b-01": "PYX-3B-01"}

// demoCabinetCode is the cabinet a demo cabinet interface speaks for; "" for another user.
func demoCabinetCode(userID string) string { return demoCabinetUsers[userID] }

// demoCabinets are created simulated; dev mode then points them at its cabinet simulator
// over HL7 (startCabinetSim).
var demoCabinets = []db.NewCabinet{
	{Code: "PYX-ICU-01", Name: "ICU Pyxis MedStation", Unit: "Intensive Care Unit", Driver: "sim"},
	{Code: "PYX-3B-01", Name: "Ward 3B Pyxis MedStation", Unit: "Ward 3B (Medical)", Driver: "sim"},
}

var demoMedications = []db.NewMedication{
	{Code: "PARA500", Name: "Paracetamol", Strength: "500 mg", Form: "tablet", Unit: "tablet"},
	{Code: "DIPI1G", Name: "Dipyrone", Strength: "500 mg/mL, 2 mL", Form: "ampoule", Unit: "ampoule"},
	{Code: "ONDA4", Name: "Ondansetron", Strength: "2 mg/mL, 2 mL", Form: "ampoule", Unit: "ampoule"},
	{Code: "OMEP40", Name: "Omeprazole", Strength: "40 mg", Form: "vial", Unit: "vial"},
	{Code: "CEFT1G", Name: "Ceftriaxone", Strength: "1 g", Form: "vial", Unit: "vial"},
	{Code: "ENOX40", Name: "Enoxaparin", Strength: "40 mg/0.4 mL", Form: "prefilled syringe", Unit: "syringe"},
	{Code: "INSR100", Name: "Regular insulin", Strength: "100 IU/mL, 10 mL", Form: "vial", Unit: "vial"},
	{Code: "FURO20", Name: "Furosemide", Strength: "10 mg/mL, 2 mL", Form: "ampoule", Unit: "ampoule"},
	{Code: "MORF10", Name: "Morphine sulfate", Strength: "10 mg/mL, 1 mL", Form: "ampoule", Unit: "ampoule", ControlledList: "A1"},
	{Code: "FENT50", Name: "Fentanyl citrate", Strength: "50 mcg/mL, 2 mL", Form: "ampoule", Unit: "ampoule", ControlledList: "A1"},
	{Code: "MIDA15", Name: "Midazolam", Strength: "5 mg/mL, 3 mL", Form: "ampoule", Unit: "ampoule", ControlledList: "B1"},
	{Code: "DIAZ10", Name: "Diazepam", Strength: "5 mg/mL, 2 mL", Form: "ampoule", Unit: "ampoule", ControlledList: "B1"},
	{Code: "TRAM50", Name: "Tramadol", Strength: "50 mg/mL, 2 mL", Form: "ampoule", Unit: "ampoule", ControlledList: "A2"},
}

// DemoParLevel is the par level, and the first stock, of every demo pocket.
const DemoParLevel = 20

// Seed fills an empty database with the demo catalogue, cabinets at par and users, and
// returns what is there. A database that already has cabinets is left as it is.
func Seed(ctx context.Context, store *db.Store) (Demo, error) {
	cabs, err := store.ListCabinets(ctx)
	if err != nil {
		return Demo{}, err
	}
	if len(cabs) == 0 {
		if err := createDemo(ctx, store); err != nil {
			return Demo{}, err
		}
	}
	var d Demo
	if d.Cabinets, err = store.ListCabinets(ctx); err != nil {
		return d, err
	}
	users, err := store.ListUsers(ctx)
	if err != nil {
		return d, err
	}
	// The banner prints tokens for the demo users only: the directory also holds whoever
	// else used dev mode (added on first sight), cabinet interfaces, and deactivated users.
	for _, u := range users {
		if u.Active && slices.ContainsFunc(demoUsers, func(demo db.User) bool { return demo.ID == u.ID }) {
			d.Users = append(d.Users, u)
		}
	}
	meds, err := store.ListMedications(ctx)
	if err != nil {
		return d, err
	}
	d.Meds = meds[:min(2, len(meds))]
	return d, nil
}

func createDemo(ctx context.Context, store *db.Store) error {
	for _, u := range demoUsers {
		if err := store.UpsertUser(ctx, u); err != nil {
			return err
		}
	}
	var meds []pyxis.Medication
	for _, m := range demoMedications {
		created, err := store.CreateMedication(ctx, m)
		if err != nil {
			return fmt.Errorf("medication %s: %w", m.Code, err)
		}
		meds = append(meds, created)
	}
	seeder := pyxis.Actor{ID: "dev-seed", Role: pyxis.RoleSystem}
	for _, c := range demoCabinets {
		cab, err := store.CreateCabinet(ctx, c)
		if err != nil {
			return fmt.Errorf("cabinet %s: %w", c.Code, err)
		}
		for _, m := range meds {
			if err := stockDemoPocket(ctx, store, cab.ID, m, seeder); err != nil {
				return fmt.Errorf("stock %s/%s: %w", c.Code, m.Code, err)
			}
		}
	}
	return nil
}

// stockDemoPocket fills a demo pocket to its par level: a controlled medication's through a
// witnessed load, the only way its level rises.
func stockDemoPocket(ctx context.Context, store *db.Store, cabinetID int64, m pyxis.Medication, seeder pyxis.Actor) error {
	if !m.Controlled() {
		_, err := store.SetStock(ctx, cabinetID, m.ID, DemoParLevel, DemoParLevel, seeder)
		return err
	}
	if _, err := store.SetStock(ctx, cabinetID, m.ID, 0, DemoParLevel, seeder); err != nil {
		return err
	}
	_, err := store.RecordPocketChange(ctx, db.PocketChange{
		CabinetID: cabinetID, MedicationID: m.ID, Kind: db.MovementLoaded, Quantity: DemoParLevel,
		Actor: seeder, Witness: "dev-seed-witness", Source: db.SourceAPI,
	})
	return err
}
