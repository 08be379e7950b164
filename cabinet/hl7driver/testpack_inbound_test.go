package hl7driver_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/hl7driver"
	"github.com/medreq/pyxis/cabinet/mllp"
)

// packRequest and its lines' order numbers, as the pack's reports name them.
const (
	packRequest = "medreq-01JQ8ZK3M4V7XQ2R9TBN6WFHDC"
	packLine1   = "M4V7XQ2R9TBN6WFHDC-1"
	packLine2   = "M4V7XQ2R9TBN6WFHDC-2"
)

// inboundChecks are what the system must read from some of the pack's reports, beyond the
// answer and the flags cases.json gives.
var inboundChecks = map[string]func(t *testing.T, e cabinet.Event){
	"01-rds-one-order-per-line": func(t *testing.T, e cabinet.Event) {
		assert.Equal(t, packRequest, e.RequestID)
		assert.Equal(t, "MRN0042", e.PatientMRN)
		require.Len(t, e.Lines, 2)
		assert.Equal(t, []string{packLine1, packRequest, packLine2, packRequest},
			[]string{e.Lines[0].OrderNumber, e.Lines[0].GroupNumber, e.Lines[1].OrderNumber, e.Lines[1].GroupNumber})
	},
	"02-rds-two-requests": func(t *testing.T, e cabinet.Event) {
		assert.Equal(t, "", e.RequestID, "two requests: the lines say which")
		require.Len(t, e.Lines, 2)
		assert.Equal(t, "medreq-01JQ9A7Y3K9P0QX4ZT6VWB2N", e.Lines[1].GroupNumber)
	},
	"03-rds-request-id-on-every-line": func(t *testing.T, e cabinet.Event) {
		assert.Equal(t, packRequest, e.RequestID)
	},
	"05-rds-v23-o01": func(t *testing.T, e cabinet.Event) {
		assert.Equal(t, cabinet.EventVend, e.Kind)
		assert.True(t, time.Date(2026, 3, 14, 7, 3, 0, 0, packZone).Equal(e.At), "%s", e.At)
	},
	"09-rds-latin1-declared": func(t *testing.T, e cabinet.Event) {
		assert.Equal(t, "Dipirona sódica 500 mg/mL", e.Lines[0].MedicationName)
		assert.Equal(t, "ENF.JOÃO", e.User)
	},
	"10-rds-latin1-undeclared": func(t *testing.T, e cabinet.Event) {
		assert.Equal(t, "Dipirona sódica 500 mg/mL", e.Lines[0].MedicationName)
	},
	"11-rds-fractional-amount": func(t *testing.T, e cabinet.Event) {
		assert.False(t, e.Lines[0].Amount.Valid, "never rounded")
		assert.Equal(t, "mL", e.Lines[0].Units, "as written")
		assert.Equal(t, "0.5", e.Flags[0].Value)
		assert.Equal(t, 1, e.Flags[0].Line)
	},
	"12-rds-time-without-offset": func(t *testing.T, e cabinet.Event) {
		assert.True(t, time.Date(2026, 3, 14, 7, 10, 0, 0, packZone).Equal(e.At), "read in the hospital's zone: %s", e.At)
	},
	"13-oms-waste-fractional": func(t *testing.T, e cabinet.Event) {
		assert.Equal(t, cabinet.EventWaste, e.Kind)
		assert.Equal(t, "NURSE9", e.Witness)
		assert.Equal(t, "ZPM-10", e.Flags[0].Field)
	},
}

// TestPackInbound replays every inbound message of the test pack to the report listener
// over TCP and checks the answer, byte for byte, and what reaches the application.
func TestPackInbound(t *testing.T) {
	m := readManifest(t)
	rec := &recorder{}
	notNow := map[string]bool{}
	rec.fail = func(e cabinet.Event) error {
		if notNow[e.MessageControlID] {
			return cabinet.NotNow("report not accepted; resend later", nil)
		}
		return nil
	}
	at := time.Date(2026, 3, 14, 7, 35, 54, 0, packZone)
	addr := startListenerWith(t, rec, hl7driver.ListenerOptions{Location: packZone, Now: func() time.Time { return at }})
	// A report the listener answers, sent after one it must not answer: its answer comes
	// first, so the silence is seen without waiting for it.
	probe := []byte(rds("probe", "medreq-1"))
	for _, c := range m.Inbound {
		t.Run(c.Name, func(t *testing.T) {
			msgs := readMessages(t, filepath.Join(packDir, "inbound", c.Name+".hl7"))
			require.Len(t, msgs, 1)
			raw := msgs[0]
			if h, err := hl7.ParseHeader(raw); err == nil && c.Handler == "not_now" {
				notNow[h.ControlID] = true
			}
			before := len(rec.got())
			nc, r := dialListener(t, addr)
			require.NoError(t, mllp.WriteFrame(nc, raw))
			if c.Ack == "" {
				require.NoError(t, mllp.WriteFrame(nc, probe))
				answer, err := r.ReadFrame()
				require.NoError(t, err)
				ack, err := hl7.ParseACK(answer)
				require.NoError(t, err)
				assert.Equal(t, "probe", ack.ControlID, "the message is not answered")
				return
			}
			answer, err := r.ReadFrame()
			require.NoError(t, err)
			checkMessages(t, filepath.Join(packDir, "inbound", c.Name+".ack.hl7"), [][]byte{answer})
			am, err := hl7.Parse(answer)
			require.NoError(t, err)
			assert.Equal(t, c.Ack, am.Segment("MSA").Value(1))
			assert.Equal(t, c.Condition, am.Segment("ERR").Component(3, 1, 1))
			if !hl7.AckCode(c.Ack).Accepted() {
				return
			}
			got := rec.got()
			require.Len(t, got, before+1, "the report reaches the application")
			e := got[before]
			var causes []string
			for _, f := range e.Flags {
				causes = append(causes, f.Cause)
			}
			assert.Equal(t, c.Flags, causes)
			if check := inboundChecks[c.Name]; check != nil {
				check(t, e)
			}
		})
	}
}
