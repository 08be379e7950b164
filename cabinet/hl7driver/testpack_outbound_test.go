package hl7driver_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/hl7driver"
)

// packOrder is the order of the pack's outbound cases: a stat request of two lines,
// verified, with its start, the end of its withdrawal window and its issue time fixed.
func packOrder(addr string) cabinet.Order {
	at := time.Date(2026, 3, 14, 6, 26, 53, 0, packZone)
	return cabinet.Order{
		RequestID: packRequest, CabinetCode: "PYX-ICU-01", CabinetUnit: "ICU", Driver: "hl7", Address: addr,
		PatientMRN: "MRN0042", PatientFamily: "Souza", PatientGiven: "Maria", PatientRoom: "4", PatientBed: "12B",
		Priority: cabinet.PriorityStat, VerifiedBy: cabinet.Person{ID: "PHARM12", Family: "Lima", Given: "Ana"},
		StartAt: at.Add(-2 * time.Minute), EndAt: at.Add(4 * time.Hour), IssuedAt: at,
		Lines: []cabinet.Line{
			{MedicationCode: "MORF10", MedicationName: "Morphine sulfate 10 mg/mL", Unit: "ampoule", Quantity: 1,
				Strength: "10 mg/mL, 1 mL", Form: "ampoule", Route: "IV"},
			{MedicationCode: "PARA500", MedicationName: "Paracetamol 500 mg", Unit: "tablet", Quantity: 2,
				Strength: "500 mg", Form: "tablet"},
		},
	}
}

// packItem is the medication of the pack's item master cases.
func packItem() cabinet.Item {
	return cabinet.Item{Code: "PARA500", Name: "Paracetamol", Strength: "500 mg", Form: "tablet", Unit: "tablet",
		Barcodes: []string{"7891234567895", "HOSP-000123"}, ChangedAt: time.Date(2026, 3, 14, 5, 0, 0, 0, packZone)}
}

// outboundCase is how the pack's outbound case is played: what the cabinet answers a
// message (seen: how often it received the same one before), and the commands the system
// sends (the last one's error is the case's outcome).
type outboundCase struct {
	enhanced bool
	answer   func(t *testing.T, seen int, raw []byte) [][]byte
	run      func(t *testing.T, ctx context.Context, d *hl7driver.Driver, addr string) error
}

func answerAll(a hl7.Ack) func(t *testing.T, seen int, raw []byte) [][]byte {
	return func(t *testing.T, _ int, raw []byte) [][]byte { return [][]byte{ackOf(t, raw, a)} }
}

func authorize(t *testing.T, ctx context.Context, d *hl7driver.Driver, addr string) error {
	return d.Authorize(ctx, packOrder(addr))
}

var outboundCases = map[string]outboundCase{
	"01-rde-nw": {answer: answerAll(hl7.Ack{Code: hl7.AckAccept}), run: authorize},
	"02-rde-ca": {answer: answerAll(hl7.Ack{Code: hl7.AckAccept}), run: func(t *testing.T, ctx context.Context, d *hl7driver.Driver, addr string) error {
		o := packOrder(addr)
		o.IssuedAt = o.IssuedAt.Add(time.Hour)
		return d.Revoke(ctx, o)
	}},
	"03-rde-dc": {answer: answerAll(hl7.Ack{Code: hl7.AckAccept}), run: func(t *testing.T, ctx context.Context, d *hl7driver.Driver, addr string) error {
		o := packOrder(addr)
		o.IssuedAt, o.PartlyDispensed = o.IssuedAt.Add(30*time.Minute), true
		return d.Revoke(ctx, o)
	}},
	"04-rde-nw-refused": {answer: answerAll(hl7.Ack{Code: hl7.AckError, Condition: hl7.ConditionTableValue,
		Text: "medication PARA500 is not stocked in cabinet PYX-ICU-01", Segment: "RXE", Occurrence: 2, Field: 2}), run: authorize},
	"05-rde-nw-not-now": {answer: answerAll(hl7.Ack{Code: hl7.AckReject, Condition: hl7.ConditionInternal,
		Text: "cabinet busy; resend later"}), run: authorize},
	"06-rde-nw-enhanced": {enhanced: true, answer: answerAll(hl7.Ack{Code: hl7.AckAccept}), run: authorize},
	"07-two-acks": {
		answer: func(t *testing.T, seen int, raw []byte) [][]byte {
			a := ackOf(t, raw, hl7.Ack{Code: hl7.AckAccept})
			if seen == 0 && controlIDOf(raw)[:2] == "NW" {
				return [][]byte{a, a}
			}
			return [][]byte{a}
		},
		run: func(t *testing.T, ctx context.Context, d *hl7driver.Driver, addr string) error {
			require.NoError(t, d.Authorize(ctx, packOrder(addr)))
			o := packOrder(addr)
			o.IssuedAt = o.IssuedAt.Add(time.Hour)
			return d.Revoke(ctx, o)
		},
	},
	"08-unanswered-then-refused": {
		answer: func(t *testing.T, seen int, raw []byte) [][]byte {
			if seen == 0 {
				return nil
			}
			return [][]byte{ackOf(t, raw, hl7.Ack{Code: hl7.AckError, Condition: hl7.ConditionDuplicateKey, Text: "order already held"})}
		},
		run: func(t *testing.T, ctx context.Context, d *hl7driver.Driver, addr string) error {
			assert.ErrorIs(t, d.Authorize(ctx, packOrder(addr)), cabinet.ErrMaybeDelivered)
			err := d.Authorize(ctx, packOrder(addr))
			var refused *cabinet.RefusedError
			if assert.ErrorAs(t, err, &refused) {
				assert.True(t, refused.EarlierAttemptUnanswered, "the system revokes what may be held")
			}
			return err
		},
	},
	"09-mfn-mad": {answer: answerAll(hl7.Ack{Code: hl7.AckAccept}), run: func(t *testing.T, ctx context.Context, d *hl7driver.Driver, addr string) error {
		it := packItem()
		it.New = true
		return d.UpdateItem(ctx, cabinet.CabinetTarget{Driver: "hl7", Address: addr, CabinetCode: "PYX-ICU-01"}, it)
	}},
	"10-mfn-mdc": {answer: answerAll(hl7.Ack{Code: hl7.AckAccept}), run: func(t *testing.T, ctx context.Context, d *hl7driver.Driver, addr string) error {
		it := packItem()
		it.Deactivated, it.Barcodes = true, nil
		return d.UpdateItem(ctx, cabinet.CabinetTarget{Driver: "hl7", Address: addr, CabinetCode: "PYX-ICU-01"}, it)
	}},
	"11-mfn-site": {answer: answerAll(hl7.Ack{Code: hl7.AckAccept}), run: func(t *testing.T, ctx context.Context, d *hl7driver.Driver, addr string) error {
		return d.UpdateItemAt(ctx, cabinet.Site{Driver: "hl7", Address: addr, Cabinets: []string{"PYX-ICU-01", "PYX-ICU-02"}}, packItem())
	}},
}

// TestPackOutbound plays every outbound case of the test pack: the driver sends its
// commands over TCP to a cabinet that answers as the case says. What the cabinet receives
// must be the pack's messages byte for byte, and the command must come to the case's
// outcome.
func TestPackOutbound(t *testing.T) {
	m := readManifest(t)
	var names []string
	for _, c := range m.Outbound {
		names = append(names, c.Name)
		t.Run(c.Name, func(t *testing.T) {
			oc, ok := outboundCases[c.Name]
			require.True(t, ok, "no way to play case %s", c.Name)
			answer := func(seen int, raw []byte) [][]byte { return oc.answer(t, seen, raw) }
			f := newFakeCabinet(t, answer)
			processing := hl7.ProcessingProduction
			if oc.enhanced {
				processing = hl7.ProcessingTraining
			}
			d, log := fastDriver(t, hl7driver.Options{AckTimeout: 300 * time.Millisecond, SendingFacility: "HOSP", ReceivingFacility: "ICU",
				ProcessingID: processing, Enhanced: oc.enhanced, Location: packZone, ServerApplication: hl7.DefaultServerApplication})
			err := oc.run(t, ctxFor(t, 5*time.Second), d, f.addr)
			assert.Equal(t, c.Outcome, outcome(err), "%v", err)
			// What the system wrote, and what the cabinet answers it (a message written on a
			// connection that is then closed may reach the cabinet or not: what it received
			// is not the case's record).
			sent := log.messages()
			checkMessages(t, filepath.Join(packDir, "outbound", c.Name+".hl7"), sent)
			checkMessages(t, filepath.Join(packDir, "outbound", c.Name+".answer.hl7"), answers(answer, sent))
		})
	}
	for name := range outboundCases {
		assert.True(t, slices.Contains(names, name), "case %s is not in cases.json", name)
	}
}

// outcome names what a command came to.
func outcome(err error) string {
	var refused *cabinet.RefusedError
	switch {
	case err == nil:
		return "accepted"
	case errors.As(err, &refused):
		return "refused"
	case errors.Is(err, cabinet.ErrUnreachable):
		return "retry"
	}
	return err.Error()
}
