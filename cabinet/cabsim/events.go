package cabsim

import (
	"context"
	"fmt"
	"time"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
)

// PocketEvent is what a technician or nurse does at a pocket: the body of POST /event.
type PocketEvent struct {
	// Kind is L (load), U (unload), R (return), W (waste) or C (count).
	Kind           string `json:"kind"`
	MedicationCode string `json:"medication_code"`
	Drawer         string `json:"drawer"`
	Pocket         string `json:"pocket"`
	// Amount is the quantity moved (loaded, unloaded, returned, wasted).
	Amount int32 `json:"amount"`
	// Count is the quantity counted (C).
	Count           int32  `json:"count"`
	User            string `json:"user"`
	Witness         string `json:"witness"`
	ControlledClass string `json:"controlled_class"`
	// Order ties a return or a waste to a request (ORC-2); optional.
	Order string `json:"order"`
	// Cabinet is the cabinet code; required without a stock file, which names it otherwise.
	Cabinet string `json:"cabinet"`
}

// SendEvent sends a pocket event as OMS^O05 (always the VA shape: RDS has no way to say it)
// and applies it to the stock when the pocket is known: a load or a return adds the amount,
// an unload takes it out, a count sets the quantity, a waste leaves it (the dose wasted was
// already out). ZPM-8 and ZPM-9 carry the pocket's quantity before and after (for a count,
// the quantity expected and the one counted). It queues the report and returns its control
// id once the system has acknowledged it; when ctx ends first, the id and an error wrapping
// ErrQueued (the report is delivered later).
func (s *Sim) SendEvent(ctx context.Context, pe PocketEvent) (string, error) {
	if s.reporter == nil {
		return "", ErrNoReportTo
	}
	kind := cabinet.EventKind(pe.Kind)
	switch kind {
	case cabinet.EventLoad, cabinet.EventUnload, cabinet.EventReturn, cabinet.EventWaste, cabinet.EventCount:
	default:
		return "", fmt.Errorf("%w: kind %q is not L, U, R, W or C (a vend goes through /withdraw)", ErrBadEvent, pe.Kind)
	}
	if pe.Amount < 0 || pe.Count < 0 {
		return "", fmt.Errorf("%w: negative amount or count", ErrBadEvent)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return "", errClosed
	}
	now := s.clock.Now()
	restore := s.stock.save()
	r, err := s.applyEventLocked(kind, pe, now)
	var rs []*outReport
	if err == nil {
		rs, err = encodeReports(kindEvent, []hl7.Report{r}, hl7.BuildOMS, now)
	}
	if err != nil {
		restore()
		s.mu.Unlock()
		return "", err
	}
	s.enqueueLocked(rs)
	s.mu.Unlock()
	id := r.Event.MessageControlID
	if err := s.await(ctx, rs); err != nil {
		return id, err
	}
	s.logger.Info("pocket event reported", "control_id", id, "kind", pe.Kind,
		"medication", r.Event.MedicationCode, "balance", r.Event.Balance.String())
	return id, nil
}

// applyEventLocked builds the event's report and updates the pocket it names, if any.
func (s *Sim) applyEventLocked(kind cabinet.EventKind, pe PocketEvent, now time.Time) (hl7.Report, error) {
	e := cabinet.Event{
		Kind:            kind,
		CabinetCode:     pe.Cabinet,
		RequestID:       pe.Order,
		MedicationCode:  pe.MedicationCode,
		Drawer:          pe.Drawer,
		Pocket:          pe.Pocket,
		ControlledClass: pe.ControlledClass,
		User:            pe.User,
		Witness:         pe.Witness,
		At:              now,
	}
	if kind != cabinet.EventCount {
		e.Amount = cabinet.CountOf(pe.Amount)
	}
	r := hl7.Report{Event: e, Envelope: hl7.Envelope{ProcessingID: s.processingID()}}
	var p *pocketState
	if s.stock != nil {
		if pe.Cabinet != "" && pe.Cabinet != s.stock.cabinet {
			return r, fmt.Errorf("%w: this is cabinet %s, not %s", ErrBadEvent, s.stock.cabinet, pe.Cabinet)
		}
		r.Event.CabinetCode = s.stock.cabinet
		if pe.MedicationCode != "" {
			p = s.stock.byCode(pe.MedicationCode)
		} else {
			p = s.stock.byPlace(pe.Drawer, pe.Pocket)
		}
		if p == nil {
			return r, fmt.Errorf("%w: no pocket holds %q (drawer %q pocket %q)", ErrBadEvent, pe.MedicationCode, pe.Drawer, pe.Pocket)
		}
	}
	if r.Event.CabinetCode == "" {
		return r, fmt.Errorf("%w: the cabinet code is needed without a stock file", ErrBadEvent)
	}
	if p == nil {
		if pe.MedicationCode == "" {
			return r, fmt.Errorf("%w: medication_code is needed", ErrBadEvent)
		}
		if kind == cabinet.EventCount {
			r.Event.Actual, r.Event.Balance = cabinet.CountOf(pe.Count), cabinet.CountOf(pe.Count)
		}
	} else {
		before := p.Quantity
		switch kind {
		case cabinet.EventLoad, cabinet.EventReturn:
			p.Quantity += pe.Amount
		case cabinet.EventUnload:
			if pe.Amount > p.Quantity {
				return r, fmt.Errorf("%w: cannot unload %d, the pocket holds %d", ErrBadEvent, pe.Amount, p.Quantity)
			}
			p.Quantity -= pe.Amount
		case cabinet.EventCount:
			p.Quantity = pe.Count
		}
		r.Event.MedicationCode = p.MedicationCode
		r.MedicationName = p.MedicationName
		r.Event.Drawer, r.Event.Pocket = p.Drawer, p.Pocket
		r.Event.ParLevel = cabinet.CountOf(p.ParLevel)
		if r.Event.ControlledClass == "" {
			r.Event.ControlledClass = p.ControlledClass
		}
		r.Event.Expected = cabinet.CountOf(before)
		r.Event.Actual, r.Event.Balance = cabinet.CountOf(p.Quantity), cabinet.CountOf(p.Quantity)
	}
	s.seq++
	r.Event.MessageControlID = hl7.ShortID("E"+string(kind), fmt.Sprintf("%s|%d", r.Event.CabinetCode, s.seq))
	return r, nil
}
