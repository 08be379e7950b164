package requests

import (
	"context"
	"errors"
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/intake"
	"github.com/medreq/pyxis/workflows"
)

// Withdrawal is a withdrawal report made through the API: what was taken out of a cabinet for
// a request, and who says so.
type Withdrawal struct {
	CabinetID int64
	RequestID string
	// Lines are what was dispensed per medication; none means the order as it stands.
	Lines []pyxis.Line
	// ReportID identifies the report: an id the API generated for it (rest-<uuid>), never
	// one the caller chose.
	ReportID string
	By       pyxis.Actor
	// ByCabinet is the code of the cabinet a cabinet's token speaks for ("" for a token that
	// names none, or a person).
	ByCabinet string
}

// ReportWithdrawal applies a withdrawal report the way a cabinet's own reports are applied
// (intake.Intake.ApplyVend), and answers the request as it is after it. It may come from the
// cabinet itself, from the nurse who made the request, at its cabinet, or from a pharmacist;
// from nobody else (Forbidden; NotFound to a nurse, who may not learn that a request she did
// not make exists). A report the request cannot take now is InvalidState: a person is there
// to look.
func (s *Service) ReportWithdrawal(ctx context.Context, w Withdrawal) (workflows.State, error) {
	cab, err := s.store.GetCabinet(ctx, w.CabinetID)
	if err != nil {
		return workflows.State{}, err
	}
	if err := s.mayReportWithdrawal(ctx, w, cab); err != nil {
		return workflows.State{}, err
	}
	res, err := s.withdrawals.ApplyVend(ctx, intake.Vend{
		Cabinet: cab, OrderRef: w.RequestID, Lines: w.Lines, ReportID: w.ReportID,
		Actor: w.By, Source: db.SourceAPI, At: time.Now(),
	}, true)
	switch {
	case errors.Is(err, intake.ErrRefused), errors.Is(err, intake.ErrNotYet):
		return workflows.State{}, refuse(InvalidState, "the request is not waiting for a withdrawal at this cabinet")
	case err != nil:
		return workflows.State{}, err
	case res.State == nil:
		// A resend of a report the request took: answer with the request as it is.
		return s.State(ctx, w.RequestID)
	}
	return *res.State, nil
}

// mayReportWithdrawal allows a withdrawal report to a pharmacist, to the cabinet itself, and
// to the nurse who made the request at that cabinet.
func (s *Service) mayReportWithdrawal(ctx context.Context, w Withdrawal, cab pyxis.Cabinet) error {
	switch w.By.Role {
	case pyxis.RolePharmacist:
		return nil
	case pyxis.RoleCabinet:
		if w.ByCabinet == "" || w.ByCabinet == cab.Code {
			return nil
		}
		return refuse(Forbidden, "this cabinet token may report only for its own cabinet")
	case pyxis.RoleNurse:
		d, err := s.store.GetRequestDetail(ctx, w.RequestID)
		if errors.Is(err, pyxis.ErrNotFound) {
			return notFound("request")
		}
		if err != nil {
			return err
		}
		if d.Requester.ID == w.By.ID && d.CabinetID == cab.ID {
			return nil
		}
		return refuse(Forbidden, "a nurse may report the withdrawal of her own requests only, at their cabinet")
	}
	return refuse(Forbidden, "only the cabinet, the requesting nurse or a pharmacist may report a withdrawal")
}
