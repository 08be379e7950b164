package hl7driver_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/cabinet/hl7driver"
	"github.com/medreq/pyxis/cabinet/mllp"
)

// assertRetryable checks err is a transport failure: not a refusal, and marked unreachable.
func assertRetryable(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	var refused *cabinet.RefusedError
	assert.False(t, errors.As(err, &refused), "a transport failure is not a refusal: %v", err)
	assert.ErrorIs(t, err, cabinet.ErrUnreachable)
}

func TestDriverUnderEachFault(t *testing.T) {
	tests := []struct {
		name       string
		faults     []string
		ackTimeout time.Duration
		check      func(t *testing.T, err error)
		stats      cabsim.Stats
	}{
		{name: "no fault", check: func(t *testing.T, err error) { require.NoError(t, err) },
			stats: cabsim.Stats{OrdersAccepted: 1}},
		{name: "offline: retryable", faults: []string{"offline"}, check: assertRetryable},
		{name: "slow beyond the ACK timeout: retryable", faults: []string{"slow=600ms"}, ackTimeout: 150 * time.Millisecond,
			check: func(t *testing.T, err error) {
				assertRetryable(t, err)
				assert.ErrorIs(t, err, mllp.ErrNoAck)
			}, stats: cabsim.Stats{OrdersAccepted: 1}},
		{name: "slow within the ACK timeout: accepted", faults: []string{"slow=50ms"}, ackTimeout: time.Second,
			check: func(t *testing.T, err error) { require.NoError(t, err) }, stats: cabsim.Stats{OrdersAccepted: 1}},
		{name: "reject: refused with the reason", faults: []string{"reject"}, check: func(t *testing.T, err error) {
			var refused *cabinet.RefusedError
			require.ErrorAs(t, err, &refused)
			assert.Equal(t, "PYX-ICU-01", refused.Cabinet)
			assert.Contains(t, refused.Reason, "simulated refusal")
		}, stats: cabsim.Stats{OrdersRefused: 1}},
		{name: "drop: retryable", faults: []string{"drop"}, check: assertRetryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, cabsim.Config{}, hl7driver.Options{AckTimeout: tt.ackTimeout})
			e.faults(t, tt.faults...)
			start := time.Now()
			err := e.driver.Authorize(ctxFor(t, 5*time.Second), e.order("medreq-1", 2))
			tt.check(t, err)
			assert.Less(t, time.Since(start), 3*time.Second)
			assert.Equal(t, tt.stats, e.sim.Stats())
		})
	}
}

func TestDriverSucceedsOnceAFaultClears(t *testing.T) {
	for _, fault := range []string{"drop", "offline"} {
		t.Run(fault, func(t *testing.T) {
			e := newEnv(t, cabsim.Config{}, hl7driver.Options{})
			e.faults(t, fault)
			o := e.order("medreq-2", 1)
			assertRetryable(t, e.driver.Authorize(ctxFor(t, 5*time.Second), o))
			e.faults(t)
			require.Eventually(t, func() bool {
				return e.driver.Authorize(ctxFor(t, 5*time.Second), o) == nil
			}, 5*time.Second, 50*time.Millisecond)
			assert.Equal(t, cabsim.Stats{OrdersAccepted: 1}, e.stats(t))
		})
	}
}

func TestRetriedAuthorizationIsCountedOnce(t *testing.T) {
	e := newEnv(t, cabsim.Config{}, hl7driver.Options{})
	o := e.order("medreq-3", 2)
	require.NoError(t, e.driver.Authorize(ctxFor(t, 5*time.Second), o))
	require.NoError(t, e.driver.Authorize(ctxFor(t, 5*time.Second), o), "a resent NW is acknowledged AA")
	st := e.stats(t)
	assert.Equal(t, 1, st.OrdersAccepted)
	assert.Equal(t, 1, st.DuplicatesRecognised)
}

func TestSlowAnswerThenRetryIsADuplicate(t *testing.T) {
	e := newEnv(t, cabsim.Config{}, hl7driver.Options{AckTimeout: 100 * time.Millisecond})
	e.faults(t, "slow=300ms")
	o := e.order("medreq-4", 1)
	assertRetryable(t, e.driver.Authorize(ctxFor(t, 5*time.Second), o))
	e.faults(t)
	require.NoError(t, e.driver.Authorize(ctxFor(t, 5*time.Second), o))
	assert.Equal(t, cabsim.Stats{OrdersAccepted: 1, DuplicatesRecognised: 1}, e.stats(t))
}

func TestCancelAfterNewStopsTheWithdrawal(t *testing.T) {
	e := newEnv(t, cabsim.Config{WithdrawAfter: 200 * time.Millisecond}, hl7driver.Options{})
	o := e.order("medreq-5", 1)
	require.NoError(t, e.driver.Authorize(ctxFor(t, 5*time.Second), o))
	require.NoError(t, e.driver.Revoke(ctxFor(t, 5*time.Second), o))
	require.NoError(t, e.driver.Revoke(ctxFor(t, 5*time.Second), o), "a resent CA is acknowledged too")
	time.Sleep(400 * time.Millisecond)
	assert.Empty(t, e.rec.got(), "no report after a cancel")
	assert.Equal(t, cabsim.Stats{OrdersAccepted: 1, OrdersCancelled: 1, DuplicatesRecognised: 1}, e.stats(t))
	var body map[string]string
	assert.Equal(t, http.StatusConflict, e.post(t, "/withdraw", map[string]string{"order": o.RequestID}, &body))
	assert.Contains(t, body["error"], "not pending")
}

func TestStockFileRefusals(t *testing.T) {
	stock := writeStock(t, cabsim.StockPocket{MedicationCode: "MORF10", Drawer: "1", Pocket: "A", Quantity: 3, ParLevel: 5, ControlledClass: "A1"})
	e := newEnv(t, cabsim.Config{StockFile: stock, ReportFormat: cabsim.FormatPADE}, hl7driver.Options{})
	wrongCabinet := e.order("medreq-w", 1)
	wrongCabinet.CabinetCode = "PYX-ER-02"
	unknownMed := e.order("medreq-u", 1)
	unknownMed.Lines[0].MedicationCode = "INSUL100"
	tests := []struct {
		name   string
		order  cabinet.Order
		reason string // empty: accepted
	}{
		{"more than the pocket holds", e.order("medreq-a", 4), "insufficient stock of MORF10 in drawer 1 pocket A: 3 available, 4 ordered"},
		{"what the pocket holds", e.order("medreq-b", 2), ""},
		{"more than is left after the earlier order", e.order("medreq-c", 2), "1 available, 2 ordered"},
		{"a medication not stocked", unknownMed, "medication INSUL100 is not stocked in cabinet PYX-ICU-01"},
		{"another cabinet's order", wrongCabinet, "this is cabinet PYX-ICU-01, not PYX-ER-02"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.driver.Authorize(ctxFor(t, 5*time.Second), tt.order)
			if tt.reason == "" {
				require.NoError(t, err)
				return
			}
			var refused *cabinet.RefusedError
			require.ErrorAs(t, err, &refused)
			assert.Contains(t, refused.Reason, tt.reason)
		})
	}
	assert.Equal(t, cabsim.Stats{OrdersAccepted: 1, OrdersRefused: 4}, e.stats(t))

	// The withdrawal takes the quantity out of the pocket (the PADE report shows it).
	var out map[string][]string
	require.Equal(t, http.StatusOK, e.post(t, "/withdraw", map[string]string{"order": "medreq-b"}, &out))
	assert.Equal(t, []string{"medreq-b-V1"}, out["reports"])
	ev := e.rec.waitEvents(t, 1)[0]
	assert.Equal(t, int32(3), ev.Expected)
	assert.Equal(t, int32(1), ev.Actual)
	assert.Equal(t, "1", ev.Drawer)
}

func TestDriverRefusesWhatCannotBeSent(t *testing.T) {
	d := hl7driver.New(hl7driver.Options{})
	defer d.Close()
	tests := []struct {
		name  string
		order cabinet.Order
	}{
		{"no address", cabinet.Order{RequestID: "r", CabinetCode: "C", Lines: []cabinet.Line{{MedicationCode: "M", Quantity: 1}}}},
		{"no lines", cabinet.Order{RequestID: "r", CabinetCode: "C", Address: "127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var refused *cabinet.RefusedError
			assert.ErrorAs(t, d.Authorize(ctxFor(t, time.Second), tt.order), &refused)
		})
	}
}
