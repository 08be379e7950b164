package intake

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/db"
)

// outcomeReview is the outcome of a report (or the part of a vend) kept for a pharmacist's
// review instead of being applied: what it says happened, but not in a form the ledger or
// the order can take as written.
const outcomeReview = "review"

// sortedVend is a vend's lines sorted into those that can be applied as they are and those
// parked for review, with the reason for each.
type sortedVend struct {
	good []pyxis.Line
	// refs are the orders the good lines name (lineRef), one per line.
	refs   []string
	parked []db.ParkedLine
}

// sortVend decides, line by line, what of a vend can be applied: a medication the catalogue
// does not know (unknown_medication), an amount that is not a whole number
// (fractional_amount) and units other than those the order was sent in (unit_mismatch) are
// parked; the rest is applied.
func (in *Intake) sortVend(ctx context.Context, e cabinet.Event) (sortedVend, error) {
	var s sortedVend
	for i, l := range e.Lines {
		p := db.ParkedLine{Code: l.MedicationCode, Units: l.Units}
		med, err := in.Store.GetMedicationByCode(ctx, l.MedicationCode)
		switch {
		case errors.Is(err, pyxis.ErrNotFound):
			p.Cause, p.Detail = db.ReviewUnknownMedication, fmt.Sprintf("medication code %q is not in the catalogue", l.MedicationCode)
		case err != nil:
			return sortedVend{}, fmt.Errorf("medication %q: %w", l.MedicationCode, err)
		default:
			p.MedicationID = med.ID
		}
		n, whole := l.Amount.Get()
		if f, ok := lineFlag(e, i+1, cabinet.CauseFractional); ok {
			p.Amount, whole = f.Value, false
			if p.Cause == "" {
				p.Cause, p.Detail = db.ReviewFractionalAmount, f.Text
			}
		} else if whole {
			p.Quantity = n
		}
		// Units are compared when both sides name them: a catalogue entry without a unit
		// says nothing the cabinet could contradict.
		if p.Cause == "" && l.Units != "" && med.Unit != "" && !strings.EqualFold(strings.TrimSpace(l.Units), strings.TrimSpace(med.Unit)) {
			p.Cause, p.Detail = db.ReviewUnitMismatch, fmt.Sprintf("reported in %q, ordered in %q", l.Units, med.Unit)
		}
		if p.Cause == "" && whole {
			s.good = append(s.good, pyxis.Line{MedicationID: med.ID, Quantity: n})
			s.refs = append(s.refs, lineRef(e, l))
			continue
		}
		if p.Cause == "" {
			// Neither a whole amount nor a flag: the decoder refuses such a report, so
			// only a report stored by an older version gets here.
			return sortedVend{}, fmt.Errorf("%w: vend of %s has no amount", ErrInvalidReport, l.MedicationCode)
		}
		s.parked = append(s.parked, p)
	}
	return s, nil
}

// lineFlag returns the event's flag of a cause on a line (0: the report as a whole).
func lineFlag(e cabinet.Event, line int, cause string) (cabinet.Flag, bool) {
	for _, f := range e.Flags {
		if f.Cause == cause && f.Line == line {
			return f, true
		}
	}
	return cabinet.Flag{}, false
}

// patientMismatch says how the report's patient (PID-3.1) differs from the patient of the
// requests it names, or "" when it names none or the same. A request the projection does not
// know is not compared: the vend is unmatched anyway.
func (in *Intake) patientMismatch(ctx context.Context, e cabinet.Event) (string, error) {
	mrn := strings.TrimSpace(e.PatientMRN)
	if mrn == "" {
		return "", nil
	}
	ids := []string{e.RequestID}
	for _, l := range e.Lines {
		ids = append(ids, l.GroupNumber)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] || !pyxis.ValidRequestID(id) {
			continue
		}
		seen[id] = true
		d, err := in.Store.GetRequestDetail(ctx, id)
		if errors.Is(err, pyxis.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("look up request %s: %w", id, err)
		}
		if d.Patient.MRN != mrn {
			return fmt.Sprintf("the report names patient %q, request %s is for patient %q", mrn, id, d.Patient.MRN), nil
		}
	}
	return "", nil
}

// applyVendReport applies a vend from the inbox. A vend whose patient is not its order's is
// recorded whole as a dispense without a request (the stock left the pocket), for review; a
// line that cannot be applied as written is parked for review; the other lines go to their
// request like any vend.
func (in *Intake) applyVendReport(ctx context.Context, cab pyxis.Cabinet, e cabinet.Event) (string, error) {
	s, err := in.sortVend(ctx, e)
	if err != nil {
		return "", err
	}
	u := db.UnmatchedDispense{
		CabinetID: cab.ID, OrderRef: e.RequestID, MessageControlID: e.MessageControlID,
		Actor: actor(cab, e), Source: db.SourceCabinet, At: e.At, Parked: s.parked,
	}
	detail, err := in.patientMismatch(ctx, e)
	if err != nil {
		return "", err
	}
	if detail != "" {
		u.Lines, u.Cause, u.Detail = s.good, db.ReviewPatientMismatch, detail
		for i := range u.Parked {
			u.Parked[i].Detail = strings.TrimPrefix(u.Parked[i].Detail+"; "+detail, "; ")
		}
		return in.park(ctx, cab, e, u)
	}
	if len(s.parked) > 0 {
		if len(s.good) > 0 {
			// The request takes the report under its id; the parked lines are claimed apart.
			u.ClaimKey = e.MessageControlID + "/parked"
		}
		if _, err := in.park(ctx, cab, e, u); err != nil || len(s.good) == 0 {
			return outcomeReview, err
		}
	}
	return in.applyByOrder(ctx, cab, e, s)
}

// lineRef is the order a vend's line names: the report's when it names one as a whole, else
// the line's placer group number (ORC-4, the request), else its placer order number (ORC-2).
func lineRef(e cabinet.Event, l cabinet.EventLine) string {
	switch {
	case e.RequestID != "":
		return e.RequestID
	case l.GroupNumber != "":
		return l.GroupNumber
	}
	return l.OrderNumber
}

// applyByOrder applies a vend's good lines to the orders they name: all at once when they
// name one (or none), else each order's lines to it, under a report id of its own (the
// message control id and the group's position, the same on every resend), so that a vend of
// two requests dispenses both. The outcome is applied when any order took its lines.
func (in *Intake) applyByOrder(ctx context.Context, cab pyxis.Cabinet, e cabinet.Event, s sortedVend) (string, error) {
	var refs []string
	byRef := map[string][]pyxis.Line{}
	for i, l := range s.good {
		if _, ok := byRef[s.refs[i]]; !ok {
			refs = append(refs, s.refs[i])
		}
		byRef[s.refs[i]] = append(byRef[s.refs[i]], l)
	}
	outcome := ""
	for i, ref := range refs {
		v := Vend{Cabinet: cab, OrderRef: ref, ReportID: e.MessageControlID, Actor: actor(cab, e),
			Source: db.SourceCabinet, At: e.At, Lines: byRef[ref]}
		if len(refs) > 1 {
			v.ReportID, v.MessageControlID = fmt.Sprintf("%s/%d", e.MessageControlID, i+1), e.MessageControlID
		}
		res, err := in.ApplyVend(ctx, v, false)
		if err != nil {
			return "", err
		}
		if outcome == "" || res.Outcome == outcomeApplied {
			outcome = res.Outcome
		}
	}
	return outcome, nil
}

// parkPocket keeps a pocket event (a waste, return, load, unload or count) for review when it
// names a medication the catalogue does not know or an amount that is not a whole number; it
// reports whether it did.
func (in *Intake) parkPocket(ctx context.Context, cab pyxis.Cabinet, e cabinet.Event) (bool, error) {
	p := db.ParkedLine{Code: e.MedicationCode}
	med, err := in.Store.GetMedicationByCode(ctx, e.MedicationCode)
	switch {
	case errors.Is(err, pyxis.ErrNotFound):
		p.Cause, p.Detail = db.ReviewUnknownMedication, fmt.Sprintf("medication code %q is not in the catalogue", e.MedicationCode)
	case err != nil:
		return false, fmt.Errorf("medication %q: %w", e.MedicationCode, err)
	default:
		p.MedicationID = med.ID
	}
	amount := e.Amount
	if e.Kind == cabinet.EventCount {
		amount = e.Actual
	}
	if f, ok := lineFlag(e, 0, cabinet.CauseFractional); ok {
		p.Amount = f.Value
		if p.Cause == "" {
			p.Cause, p.Detail = db.ReviewFractionalAmount, f.Text
		}
	} else {
		p.Quantity = amount.Or(0)
	}
	if p.Cause == "" {
		return false, nil
	}
	if p.Quantity == 0 && p.Amount == "" {
		// A count of zero of an unknown medication: nothing to move, still worth a look.
		p.Amount = "0"
	}
	_, err = in.park(ctx, cab, e, db.UnmatchedDispense{
		CabinetID: cab.ID, OrderRef: e.RequestID, MessageControlID: e.MessageControlID, Actor: actor(cab, e),
		Source: db.SourceCabinet, At: e.At, Transaction: string(e.Kind), Parked: []db.ParkedLine{p},
	})
	return true, err
}

// park records what a report says for review (db.RecordUnmatchedDispense) and logs it.
func (in *Intake) park(ctx context.Context, cab pyxis.Cabinet, e cabinet.Event, u db.UnmatchedDispense) (string, error) {
	res, err := in.Store.RecordUnmatchedDispense(ctx, u)
	if err != nil {
		return "", fmt.Errorf("park report %s of cabinet %s for review: %w", e.MessageControlID, cab.Code, err)
	}
	if res.Duplicate {
		return outcomeDuplicate, nil
	}
	causes := []string{}
	if u.Cause != "" {
		causes = append(causes, u.Cause)
	}
	for _, p := range u.Parked {
		causes = append(causes, p.Cause)
	}
	in.logger().WarnContext(ctx, "cabinet report kept for a pharmacist's review", "cabinet", cab.Code,
		"report", e.MessageControlID, "transaction", string(e.Kind), "causes", causes, "override_reviews", res.Reviews)
	return outcomeReview, nil
}
