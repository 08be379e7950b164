package hl7driver_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/hl7driver"
)

var c = cabinet.CountOf

func TestWithdrawalReportsReachTheListener(t *testing.T) {
	stock := writeStock(t, cabsim.StockPocket{MedicationCode: "MORF10", Drawer: "2", Pocket: "B", Quantity: 10, ParLevel: 8, ControlledClass: "A1"})
	tests := []struct {
		format string
		stock  string
		want   cabinet.Event
	}{
		{format: cabsim.FormatRDS, want: cabinet.Event{
			MessageControlID: hl7.ShortID("RV", "PYX-ICU-01|medreq-6"), Kind: cabinet.EventVend, CabinetCode: "PYX-ICU-01", RequestID: "medreq-6",
			Lines: []cabinet.EventLine{{OrderNumber: "medreq-6-1", GroupNumber: "medreq-6",
				MedicationCode: "MORF10", MedicationName: "Morphine 10 mg/mL", Amount: c(2), Units: "ampoule"}},
			PatientMRN: "MRN0042", User: "SIM-NURSE",
		}},
		{format: cabsim.FormatPADE, stock: stock, want: cabinet.Event{
			MessageControlID: hl7.ShortID("V1", "PYX-ICU-01|medreq-6"), Kind: cabinet.EventVend, CabinetCode: "PYX-ICU-01", RequestID: "medreq-6",
			Lines: []cabinet.EventLine{{OrderNumber: "medreq-6-1", GroupNumber: "medreq-6",
				MedicationCode: "MORF10", MedicationName: "Morphine 10 mg/mL", Amount: c(2), Units: "ampoule"}},
			MedicationCode: "MORF10", Drawer: "2", Pocket: "B", ControlledClass: "A1",
			Expected: c(10), Actual: c(8), Balance: c(8), ParLevel: c(8), PatientMRN: "MRN0042", User: "SIM-NURSE",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			e := newEnv(t, cabsim.Config{WithdrawAfter: 100 * time.Millisecond, ReportFormat: tt.format, StockFile: tt.stock}, hl7driver.Options{})
			before := time.Now().Add(-time.Second)
			require.NoError(t, e.driver.Authorize(ctxFor(t, 5*time.Second), e.order("medreq-6", 2)))
			got := e.rec.waitEvents(t, 1)
			require.Len(t, got, 1)
			ev := got[0]
			assert.True(t, ev.At.After(before), "reported at %s", ev.At)
			ev.At = time.Time{}
			assert.Equal(t, tt.want, ev)
			require.Eventually(t, func() bool { return e.stats(t).ReportsSent == 1 }, 2*time.Second, 10*time.Millisecond)
		})
	}
}

func TestDuplicateFaultSendsEachReportTwice(t *testing.T) {
	e := newEnv(t, cabsim.Config{}, hl7driver.Options{})
	require.NoError(t, e.driver.Authorize(ctxFor(t, 5*time.Second), e.order("medreq-7", 1)))
	e.faults(t, "duplicate")
	var out map[string][]string
	require.Equal(t, http.StatusOK, e.post(t, "/withdraw", map[string]string{"order": "medreq-7"}, &out))
	got := e.rec.waitEvents(t, 2)
	require.Len(t, got, 2)
	assert.Equal(t, hl7.ShortID("RV", "PYX-ICU-01|medreq-7"), got[0].MessageControlID)
	assert.Equal(t, got[0].MessageControlID, got[1].MessageControlID)
	assert.Equal(t, got[0], got[1])
	assert.Equal(t, 1, e.stats(t).ReportsSent)
}

func TestPocketEventsReachTheListener(t *testing.T) {
	stock := writeStock(t, cabsim.StockPocket{MedicationCode: "MORF10", MedicationName: "Morphine", Drawer: "1", Pocket: "A", Quantity: 4, ParLevel: 10, ControlledClass: "A1"})
	e := newEnv(t, cabsim.Config{StockFile: stock}, hl7driver.Options{})
	tests := []struct {
		name string
		body map[string]any
		want cabinet.Event // MessageControlID and At are checked apart
	}{
		{"load by a technician", map[string]any{"kind": "L", "medication_code": "MORF10", "amount": 6, "user": "TECH3"},
			cabinet.Event{Kind: cabinet.EventLoad, Expected: c(4), Actual: c(10), Amount: c(6), Balance: c(10), User: "TECH3"}},
		{"count short by one", map[string]any{"kind": "C", "drawer": "1", "pocket": "A", "count": 9, "user": "TECH3"},
			cabinet.Event{Kind: cabinet.EventCount, Expected: c(10), Actual: c(9), Balance: c(9), User: "TECH3"}},
		{"waste without witness", map[string]any{"kind": "W", "medication_code": "MORF10", "amount": 1, "user": "NURSE7", "order": "medreq-8"},
			cabinet.Event{Kind: cabinet.EventWaste, RequestID: "medreq-8", Expected: c(9), Actual: c(9), Amount: c(1), Balance: c(9), User: "NURSE7"}},
		{"waste with witness", map[string]any{"kind": "W", "medication_code": "MORF10", "amount": 1, "user": "NURSE7", "witness": "NURSE9"},
			cabinet.Event{Kind: cabinet.EventWaste, Expected: c(9), Actual: c(9), Amount: c(1), Balance: c(9), User: "NURSE7", Witness: "NURSE9"}},
		{"return", map[string]any{"kind": "R", "medication_code": "MORF10", "amount": 1, "user": "NURSE7"},
			cabinet.Event{Kind: cabinet.EventReturn, Expected: c(9), Actual: c(10), Amount: c(1), Balance: c(10), User: "NURSE7"}},
		{"unload", map[string]any{"kind": "U", "medication_code": "MORF10", "amount": 3, "user": "TECH3"},
			cabinet.Event{Kind: cabinet.EventUnload, Expected: c(10), Actual: c(7), Amount: c(3), Balance: c(7), User: "TECH3"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out map[string]string
			require.Equal(t, http.StatusOK, e.post(t, "/event", tt.body, &out))
			got := e.rec.waitEvents(t, i+1)[i]
			assert.Equal(t, out["control_id"], got.MessageControlID)
			assert.False(t, got.At.IsZero())
			want := tt.want
			want.MessageControlID, want.At = got.MessageControlID, got.At
			want.CabinetCode, want.MedicationCode, want.Drawer, want.Pocket = "PYX-ICU-01", "MORF10", "1", "A"
			want.ControlledClass, want.ParLevel = "A1", c(10)
			assert.Equal(t, want, got)
		})
	}
	bad := []struct {
		name   string
		body   map[string]any
		status int
	}{
		{"a vend goes through /withdraw", map[string]any{"kind": "V", "medication_code": "MORF10"}, http.StatusBadRequest},
		{"unknown pocket", map[string]any{"kind": "L", "medication_code": "NOPE", "amount": 1}, http.StatusBadRequest},
		{"unload more than held", map[string]any{"kind": "U", "medication_code": "MORF10", "amount": 99}, http.StatusBadRequest},
		{"unknown field", map[string]any{"kind": "L", "colour": "red"}, http.StatusBadRequest},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.status, e.post(t, "/event", tt.body, nil))
		})
	}
	assert.Equal(t, len(tests), e.stats(t).ReportsSent)
}

func TestAdminEndpointErrors(t *testing.T) {
	e := newEnv(t, cabsim.Config{}, hl7driver.Options{})
	tests := []struct {
		name, path string
		body       any
		status     int
	}{
		{"a vend line without a drug", "/withdraw", map[string]any{"order": "nope", "lines": []map[string]any{{"amount": 1}}}, http.StatusNotFound},
		{"unknown fault", "/faults", map[string][]string{"faults": []string{"fire"}}, http.StatusBadRequest},
		{"slow without duration", "/faults", map[string][]string{"faults": []string{"slow"}}, http.StatusBadRequest},
		{"withdraw without order", "/withdraw", map[string]string{}, http.StatusBadRequest},
		{"withdraw an unknown order", "/withdraw", map[string]string{"order": "nope"}, http.StatusNotFound},
		{"event without cabinet or stock", "/event", map[string]any{"kind": "L", "medication_code": "M", "amount": 1}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.status, e.post(t, tt.path, tt.body, nil))
		})
	}
	var out map[string][]string
	require.Equal(t, http.StatusOK, e.post(t, "/faults", map[string][]string{"faults": {"slow=2s", "reject", "busy"}}, &out))
	assert.Equal(t, []string{"slow=2s", "reject", "busy"}, out["faults"])
}

func TestWithdrawOtherThanOrdered(t *testing.T) {
	for _, format := range []string{cabsim.FormatRDS, cabsim.FormatPADE} {
		t.Run(format, func(t *testing.T) {
			e := newEnv(t, cabsim.Config{ReportFormat: format}, hl7driver.Options{})
			o := e.order("medreq-x", 2)
			o.Lines = append(o.Lines, cabinet.Line{MedicationCode: "PARA500", MedicationName: "Paracetamol", Unit: "tablet", Quantity: 1})
			require.NoError(t, e.driver.Authorize(ctxFor(t, 5*time.Second), o))
			body := map[string]any{"order": "medreq-x", "lines": []map[string]any{
				{"amount": 1},                             // short: one of two ampoules
				{"medication_code": "DIPI1G"},             // the wrong drug, as many as ordered
				{"medication_code": "ONDA4", "amount": 1}, // something not ordered at all
			}}
			var out map[string][]string
			require.Equal(t, http.StatusOK, e.post(t, "/withdraw", body, &out))
			// Each line names the order line it dispensed (ORC-2) and the request (ORC-4); the
			// line beyond the order names the request only.
			want := []cabinet.EventLine{
				{OrderNumber: "medreq-x-1", GroupNumber: "medreq-x", MedicationCode: "MORF10", MedicationName: "Morphine 10 mg/mL", Amount: c(1), Units: "ampoule"},
				{OrderNumber: "medreq-x-2", GroupNumber: "medreq-x", MedicationCode: "DIPI1G", Amount: c(1), Units: "tablet"},
				{GroupNumber: "medreq-x", MedicationCode: "ONDA4", Amount: c(1)},
			}
			var got []cabinet.EventLine
			if format == cabsim.FormatRDS {
				evs := e.rec.waitEvents(t, 1)
				require.Len(t, out["reports"], 1, "one RDS with an ORDER group per line")
				got = evs[0].Lines
			} else {
				evs := e.rec.waitEvents(t, 3)
				require.Len(t, out["reports"], 3, "one OMS per line")
				for _, ev := range evs {
					got = append(got, ev.Lines...)
				}
			}
			assert.Equal(t, want, got)
		})
	}
}

// The simulator's admin endpoint answers only with its bearer token.
func TestSimulatorAdminNeedsItsToken(t *testing.T) {
	e := newEnv(t, cabsim.Config{AdminToken: "s3cret-token"}, hl7driver.Options{})
	assert.Equal(t, "s3cret-token", e.sim.AdminToken())
	for _, auth := range []string{"", "Bearer wrong", "s3cret-token", "Basic s3cret-token"} {
		req, err := http.NewRequest(http.MethodGet, e.admin+"/stats", nil)
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "Authorization %q", auth)
	}
	e.stats(t) // with the token

	generated := newEnv(t, cabsim.Config{}, hl7driver.Options{})
	assert.Len(t, generated.sim.AdminToken(), 48, "a token is made when none is set")
	generated.stats(t)
}
