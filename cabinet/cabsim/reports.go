package cabsim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
)

// Errors of Withdraw, Override and SendEvent.
var (
	// ErrUnknownOrder: no accepted order has this request id.
	ErrUnknownOrder = errors.New("cabsim: unknown order")
	// ErrNotPending: the order was cancelled or already withdrawn.
	ErrNotPending = errors.New("cabsim: order not pending")
	// ErrNoReportTo: the simulator has nowhere to send reports.
	ErrNoReportTo = errors.New("cabsim: no report-to address")
	// ErrBadEvent: a pocket event or a vend that cannot be sent as asked.
	ErrBadEvent = errors.New("cabsim: bad pocket event")
	// ErrQueued: the caller stopped waiting (its context ended, or the simulator closed)
	// before the system acknowledged the report; the report stays in the outbox and is
	// delivered later.
	ErrQueued = errors.New("cabsim: report queued, not acknowledged yet")
	// ErrReportRefused: the system answered the report AE; it is not sent again.
	ErrReportRefused = errors.New("cabsim: report refused")
)

// nurse is who withdraws in the simulation.
const nurse = "SIM-NURSE"

// VendLine changes what is vended for one line of an order (POST /withdraw "lines"): the
// drug, the amount, or both. Empty fields keep what was ordered.
type VendLine struct {
	MedicationCode string `json:"medication_code"`
	Amount         *int32 `json:"amount"`
}

// vended is one line as it is withdrawn.
type vended struct {
	code, name, units string
	amount, ordered   int32
	orderedCode       string
	// number and group are the line's ORC-2 and ORC-4: the order line's number and the
	// request, for a withdrawal; empty for an override, which names its order as a whole.
	number, group string
}

// Withdraw reports the withdrawal of an accepted order and takes what was vended out of the
// stock. By default each line is vended as ordered; lines (optional) replace, line by line,
// the drug or the amount, and lines beyond the order's are vended too. Each line names the
// order line it dispensed (ORC-2, the line's placer order number; empty for a line beyond
// the order's) and the request (ORC-4). It queues one RDS^O13 with an ORDER group per line
// (control id "RV" and a hash of the request id), or, in the PADE format, one OMS^O05 per
// line ("V1", "V2", ... and a hash), in the outbox, and returns the control ids once the
// system has acknowledged them all. When ctx ends first it returns them with an error
// wrapping ErrQueued: the withdrawal is done and its reports are delivered later. A report
// refused AE gives an error wrapping ErrReportRefused.
func (s *Sim) Withdraw(ctx context.Context, requestID string, lines []VendLine) ([]string, error) {
	if s.reporter == nil {
		return nil, ErrNoReportTo
	}
	s.mu.Lock()
	rs, err := s.withdrawLocked(requestID, lines, s.clock.Now())
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	ids := controlIDs(rs)
	if err := s.await(ctx, rs); err != nil {
		return ids, err
	}
	s.logger.Info("withdrawal reported", "request_id", requestID, "reports", ids)
	return ids, nil
}

// withdrawLocked marks a held order withdrawn, takes it out of the stock and queues its
// reports, all as one change of the durable state; nothing changes when it fails.
func (s *Sim) withdrawLocked(requestID string, lines []VendLine, now time.Time) ([]*outReport, error) {
	o := s.orders[requestID]
	switch {
	case s.closed:
		return nil, errClosed
	case o == nil:
		return nil, fmt.Errorf("%w %q", ErrUnknownOrder, requestID)
	case o.done():
		return nil, fmt.Errorf("%w: %q was cancelled or withdrawn", ErrNotPending, requestID)
	}
	vends, err := vendsOf(o.order, lines)
	if err != nil {
		return nil, err
	}
	restore := s.stock.save()
	rs, err := encodeReports(kindVend, s.vendReportsLocked(o.order, vends, now), s.vendBuilder(), now)
	if err != nil {
		restore()
		return nil, err
	}
	o.withdrawn, o.doneAt = true, now
	if o.timer != nil && o.timer.Stop() {
		s.wg.Done()
	}
	o.timer = nil
	s.enqueueLocked(rs)
	return rs, nil
}

// vendBuilder returns the builder of the configured vend report format.
func (s *Sim) vendBuilder() func(hl7.Report) (*hl7.Message, error) {
	if s.cfg.ReportFormat == FormatPADE {
		return hl7.BuildOMS
	}
	return hl7.BuildRDS
}

// Override reports a vend the system did not order: a nurse's override at the cabinet, a vend
// for another system's order, or one without an order (order ""), as real cabinets do. The
// lines say what was taken (code and amount, both required); cabinet is the cabinet's code.
// It queues the report and returns its control id once the system has acknowledged it; when
// ctx ends first, the id and an error wrapping ErrQueued.
func (s *Sim) Override(ctx context.Context, cabinetCode, order string, lines []VendLine) (string, error) {
	if s.reporter == nil {
		return "", ErrNoReportTo
	}
	if cabinetCode == "" || len(lines) == 0 {
		return "", fmt.Errorf("%w: an override names its cabinet and what it took", ErrBadEvent)
	}
	var vends []vended
	for i, l := range lines {
		if l.MedicationCode == "" || l.Amount == nil || *l.Amount <= 0 {
			return "", fmt.Errorf("%w: override line %d needs a medication code and a positive amount", ErrBadEvent, i+1)
		}
		vends = append(vends, vended{code: l.MedicationCode, amount: *l.Amount})
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return "", errClosed
	}
	now := s.clock.Now()
	s.overrides++
	restore := s.stock.save()
	o := cabinet.Order{CabinetCode: cabinetCode, RequestID: order}
	reports := s.vendReportsLocked(o, vends, now)
	for i := range reports {
		// Every override is a report of its own, even for the same order.
		reports[i].Event.MessageControlID = hl7.ShortID("OV", fmt.Sprintf("%s|%s|%d|%d", cabinetCode, order, s.overrides, i))
	}
	rs, err := encodeReports(kindOverride, reports, s.vendBuilder(), now)
	if err != nil {
		restore()
		s.mu.Unlock()
		return "", err
	}
	s.enqueueLocked(rs)
	s.mu.Unlock()
	return rs[0].ControlID, s.await(ctx, rs)
}

// OrderCount is how many authorizations the simulator applied for one request, and where
// the order stands (held, cancelled or withdrawn).
type OrderCount struct {
	RequestID string `json:"request_id"`
	Cabinet   string `json:"cabinet"`
	Applied   int    `json:"applied"`
	Status    string `json:"status"`
}

// Orders lists every request the simulator holds or remembers, with how many authorizations
// it applied for each: more than one is a double dispense waiting to happen.
func (s *Sim) Orders() []OrderCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]OrderCount, 0, len(s.orders))
	for id, o := range s.orders {
		st := "held"
		switch {
		case o.withdrawn:
			st = "withdrawn"
		case o.cancelled:
			st = "cancelled"
		}
		out = append(out, OrderCount{RequestID: id, Cabinet: o.order.CabinetCode, Applied: o.applied, Status: st})
	}
	slices.SortFunc(out, func(a, b OrderCount) int { return strings.Compare(a.RequestID, b.RequestID) })
	return out
}

// Order returns an order the simulator accepted, as it decoded it.
func (s *Sim) Order(requestID string) (cabinet.Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[requestID]
	if o == nil {
		return cabinet.Order{}, false
	}
	return o.order, true
}

// vendsOf applies the admin's changes to an order's lines.
func vendsOf(o cabinet.Order, lines []VendLine) ([]vended, error) {
	var out []vended
	for i := range max(len(o.Lines), len(lines)) {
		var v vended
		if i < len(o.Lines) {
			l := o.Lines[i]
			v = vended{code: l.MedicationCode, name: l.MedicationName, units: l.Unit, amount: l.Quantity,
				ordered: l.Quantity, orderedCode: l.MedicationCode, number: o.OrderNumber(i)}
		}
		v.group = o.RequestID
		if i < len(lines) {
			if c := lines[i].MedicationCode; c != "" && c != v.code {
				v.code, v.name = c, ""
			}
			if a := lines[i].Amount; a != nil {
				v.amount = *a
			}
		}
		if v.code == "" || v.amount <= 0 {
			return nil, fmt.Errorf("%w: vend line %d needs a medication code and a positive amount", ErrBadEvent, i+1)
		}
		out = append(out, v)
	}
	return out, nil
}

// vendReportsLocked builds the reports of a withdrawal and takes it out of the stock.
func (s *Sim) vendReportsLocked(o cabinet.Order, vends []vended, now time.Time) []hl7.Report {
	base := cabinet.Event{Kind: cabinet.EventVend, CabinetCode: o.CabinetCode, RequestID: o.RequestID,
		PatientMRN: o.PatientMRN, User: nurse, At: now}
	env := hl7.Envelope{ProcessingID: s.processingID()}
	var pocketEvents []cabinet.Event
	for _, v := range vends {
		e := base
		e.Lines = []cabinet.EventLine{{OrderNumber: v.number, GroupNumber: v.group,
			MedicationCode: v.code, MedicationName: v.name, Amount: cabinet.CountOf(v.amount), Units: v.units}}
		e.MedicationCode = v.code
		if s.stock != nil {
			if p := s.stock.byCode(v.orderedCode); p != nil {
				p.pending = max(p.pending-v.ordered, 0)
			}
			if p := s.stock.byCode(v.code); p != nil {
				e.Drawer, e.Pocket = p.Drawer, p.Pocket
				e.ControlledClass, e.ParLevel = p.ControlledClass, cabinet.CountOf(p.ParLevel)
				e.Expected = cabinet.CountOf(p.Quantity)
				p.Quantity = max(p.Quantity-v.amount, 0)
				e.Actual, e.Balance = cabinet.CountOf(p.Quantity), cabinet.CountOf(p.Quantity)
			}
		}
		pocketEvents = append(pocketEvents, e)
	}
	if s.cfg.ReportFormat == FormatPADE {
		out := make([]hl7.Report, len(pocketEvents))
		for i, e := range pocketEvents {
			e.MessageControlID = hl7.ShortID("V"+strconv.Itoa(i+1), o.CabinetCode+"|"+o.RequestID)
			out[i] = hl7.Report{Event: e, Envelope: env}
		}
		return out
	}
	e := base
	e.MessageControlID = hl7.ShortID("RV", o.CabinetCode+"|"+o.RequestID)
	for _, pe := range pocketEvents {
		e.Lines = append(e.Lines, pe.Lines...)
	}
	return []hl7.Report{{Event: e, Envelope: env}}
}
