package db

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// Register is the controlled-substance register of Portaria SVS/MS 344/98 for a period: per
// controlled medication, the balance held across all cabinets when the period opens, every
// movement within it, and the balance when it closes. It is computed from the stock ledger,
// the same facts that change on_hand, so it always reconciles with the stock.
type Register struct {
	From, To    time.Time
	Medications []RegisterMedication
}

// RegisterMedication is one medication's page of the register.
type RegisterMedication struct {
	MedicationID   int64
	Code, Name     string
	ControlledList string
	Opening        int32
	Closing        int32
	Movements      []RegisterMovement
}

// RegisterMovement is one entry of the register, with the balance after it.
type RegisterMovement struct {
	ID           int64
	At           time.Time
	Kind         string
	Quantity     int32
	BalanceAfter int32
	CabinetCode  string
	RequestID    string
	Actor        pyxis.Actor
	WitnessID    string
	Source       string
}

// ControlledRegister returns the register of [from, to) for one controlled list, or for all
// when list is "". Medications without movements in the period are listed with their
// balance, as a register page that shows no activity.
func (s *StockStore) ControlledRegister(ctx context.Context, list string, from, to time.Time) (Register, error) {
	if !to.After(from) {
		return Register{}, wrap("controlled register", invalidf("the period must end after it starts"))
	}
	listArg := pgtype.Text{String: list, Valid: list != ""}
	openings, err := s.q.RegisterOpenings(ctx, gen.RegisterOpeningsParams{PeriodStart: from, List: listArg})
	if err != nil {
		return Register{}, wrap("controlled register", err)
	}
	moves, err := s.q.RegisterMovements(ctx, gen.RegisterMovementsParams{List: listArg, PeriodStart: from, PeriodEnd: to})
	if err != nil {
		return Register{}, wrap("controlled register", err)
	}
	byMed := make(map[int64][]gen.RegisterMovementsRow)
	for _, m := range moves {
		byMed[m.MedicationID] = append(byMed[m.MedicationID], m)
	}
	reg := Register{From: from, To: to, Medications: make([]RegisterMedication, 0, len(openings))}
	for _, o := range openings {
		page := RegisterMedication{
			MedicationID: o.ID, Code: o.Code, Name: o.Name, ControlledList: o.ControlledList,
			Opening: o.Opening, Movements: []RegisterMovement{},
		}
		balance := o.Opening
		for _, m := range byMed[o.ID] {
			balance += m.Quantity
			page.Movements = append(page.Movements, RegisterMovement{
				ID: m.ID, At: m.At, Kind: string(m.Kind), Quantity: m.Quantity, BalanceAfter: balance,
				CabinetCode: m.CabinetCode, RequestID: m.RequestID.String,
				Actor: pyxis.Actor{ID: m.ActorID, Role: m.ActorRole}, WitnessID: m.WitnessID.String, Source: string(m.Source),
			})
		}
		page.Closing = balance
		reg.Medications = append(reg.Medications, page)
	}
	return reg, nil
}
