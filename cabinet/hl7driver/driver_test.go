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
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/hl7driver"
	"github.com/medreq/pyxis/cabinet/mllp"
)

// assertRetryable checks err is worth retrying: not a refusal, and marked unreachable.
func assertRetryable(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	var refused *cabinet.RefusedError
	assert.False(t, errors.As(err, &refused), "a transport failure or an AR is not a refusal: %v", err)
	assert.ErrorIs(t, err, cabinet.ErrUnreachable)
}

func assertRefused(t *testing.T, err error, reason string) {
	t.Helper()
	var refused *cabinet.RefusedError
	require.ErrorAs(t, err, &refused)
	assert.Equal(t, "PYX-ICU-01", refused.Cabinet)
	assert.Contains(t, refused.Reason, reason)
}

func TestDriverUnderEachFault(t *testing.T) {
	for _, enhanced := range []bool{false, true} {
		mode := map[bool]string{false: "original mode", true: "enhanced mode"}[enhanced]
		tests := []struct {
			name       string
			faults     []string
			ackTimeout time.Duration
			check      func(t *testing.T, err error)
			stats      cabsim.Stats
		}{
			{name: "no fault: accepted", check: func(t *testing.T, err error) { require.NoError(t, err) },
				stats: cabsim.Stats{OrdersAccepted: 1}},
			{name: "offline: retryable", faults: []string{"offline"}, check: assertRetryable},
			{name: "slow beyond the ACK timeout: retryable", faults: []string{"slow=600ms"}, ackTimeout: 150 * time.Millisecond,
				check: func(t *testing.T, err error) {
					assertRetryable(t, err)
					assert.ErrorIs(t, err, mllp.ErrNoAck)
				}, stats: cabsim.Stats{OrdersAccepted: 1}},
			{name: "slow within the ACK timeout: accepted", faults: []string{"slow=50ms"}, ackTimeout: time.Second,
				check: func(t *testing.T, err error) { require.NoError(t, err) }, stats: cabsim.Stats{OrdersAccepted: 1}},
			{name: "reject (AE/CE): refused with the reason", faults: []string{"reject"}, check: func(t *testing.T, err error) {
				assertRefused(t, err, "simulated refusal")
			}, stats: cabsim.Stats{OrdersRefused: 1}},
			{name: "busy (AR/CR): retryable", faults: []string{"busy"}, check: func(t *testing.T, err error) {
				assertRetryable(t, err)
				assert.ErrorIs(t, err, hl7driver.ErrNotNow)
				assert.Contains(t, err.Error(), "cabinet busy")
			}, stats: cabsim.Stats{OrdersDeferred: 1}},
			{name: "drop: retryable", faults: []string{"drop"}, check: assertRetryable},
		}
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				e := newEnv(t, cabsim.Config{}, hl7driver.Options{AckTimeout: tt.ackTimeout, Enhanced: enhanced})
				e.faults(t, tt.faults...)
				start := time.Now()
				err := e.driver.Authorize(ctxFor(t, 5*time.Second), e.order("medreq-1", 2))
				tt.check(t, err)
				assert.Less(t, time.Since(start), 3*time.Second)
				assert.Equal(t, tt.stats, e.sim.Stats())
			})
		}
	}
}

func TestDriverSucceedsOnceAFaultClears(t *testing.T) {
	for _, fault := range []string{"drop", "offline", "busy"} {
		t.Run(fault, func(t *testing.T) {
			e := newEnv(t, cabsim.Config{}, hl7driver.Options{})
			e.faults(t, fault)
			o := e.order("medreq-2", 1)
			assertRetryable(t, e.driver.Authorize(ctxFor(t, 5*time.Second), o))
			e.faults(t)
			require.Eventually(t, func() bool {
				return e.driver.Authorize(ctxFor(t, 5*time.Second), o) == nil
			}, 5*time.Second, 50*time.Millisecond)
			st := e.stats(t)
			assert.Equal(t, 1, st.OrdersAccepted)
			assert.Equal(t, 0, st.DuplicatesRecognised)
		})
	}
}

func TestRetriedAuthorizationIsCountedOnce(t *testing.T) {
	e := newEnv(t, cabsim.Config{}, hl7driver.Options{})
	o := e.order("medreq-3", 2)
	require.NoError(t, e.driver.Authorize(ctxFor(t, 5*time.Second), o))
	require.NoError(t, e.driver.Authorize(ctxFor(t, 5*time.Second), o), "a resent NW (same MSH-10) is acknowledged AA")
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
	// An order accepted after it falls due after it, and its report is sent after any
	// report queued before: once that report is in, one for the cancelled order would show.
	later := e.order("medreq-6", 1)
	require.NoError(t, e.driver.Authorize(ctxFor(t, 5*time.Second), later))
	events := e.rec.waitEvents(t, 1)
	require.Len(t, events, 1)
	assert.Equal(t, later.RequestID, events[0].RequestID, "no report after a cancel")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, cabsim.Stats{OrdersAccepted: 2, OrdersCancelled: 1, DuplicatesRecognised: 1, ReportsSent: 1}, e.stats(t))
	}, 5*time.Second, 10*time.Millisecond, "the report's AA reached the cabinet")
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
	assert.Equal(t, []string{hl7.ShortID("V1", "PYX-ICU-01|medreq-b")}, out["reports"])
	ev := e.rec.waitEvents(t, 1)[0]
	assert.Equal(t, cabinet.CountOf(3), ev.Expected)
	assert.Equal(t, cabinet.CountOf(1), ev.Actual)
	assert.Equal(t, "1", ev.Drawer)
}

func TestDriverRefusesWhatCannotBeSent(t *testing.T) {
	d := hl7driver.New(hl7driver.Options{})
	defer d.Close()
	bad := hl7driver.New(hl7driver.Options{ProcessingID: "X"})
	defer bad.Close()
	line := []cabinet.Line{{MedicationCode: "M", Quantity: 1}}
	tests := []struct {
		name   string
		driver *hl7driver.Driver
		order  cabinet.Order
	}{
		{"no address", d, cabinet.Order{RequestID: "r", CabinetCode: "C", Lines: line}},
		{"no lines", d, cabinet.Order{RequestID: "r", CabinetCode: "C", Address: "127.0.0.1:1"}},
		{"a processing id HL7 does not have", bad, cabinet.Order{RequestID: "r", CabinetCode: "C", Address: "127.0.0.1:1", Lines: line}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var refused *cabinet.RefusedError
			assert.ErrorAs(t, tt.driver.Authorize(ctxFor(t, time.Second), tt.order), &refused)
		})
	}
	var refused *cabinet.RefusedError
	assert.ErrorAs(t, d.UpdateItem(ctxFor(t, time.Second), cabinet.CabinetTarget{CabinetCode: "C", Address: "127.0.0.1:1"}, cabinet.Item{Code: "M"}), &refused, "an item without a name")
}

func TestProcessingIDMismatchIsRetryableNotFinal(t *testing.T) {
	e := newEnv(t, cabsim.Config{ProcessingID: hl7.ProcessingTraining}, hl7driver.Options{})
	err := e.driver.Authorize(ctxFor(t, 5*time.Second), e.order("medreq-pt", 1))
	assertRetryable(t, err)
	assert.Contains(t, err.Error(), `processing id "P"`)
	e2 := newEnv(t, cabsim.Config{ProcessingID: hl7.ProcessingTraining}, hl7driver.Options{ProcessingID: hl7.ProcessingTraining})
	require.NoError(t, e2.driver.Authorize(ctxFor(t, 5*time.Second), e2.order("medreq-pt", 1)), "a training cabinet takes training orders")
}

func TestUpdateItem(t *testing.T) {
	for _, enhanced := range []bool{false, true} {
		e := newEnv(t, cabsim.Config{}, hl7driver.Options{Enhanced: enhanced})
		target := cabinet.CabinetTarget{Driver: "hl7", Address: e.sim.Addr(), CabinetCode: "PYX-ICU-01"}
		item := cabinet.Item{Code: "MORF10", Name: "Morphine sulfate", Strength: "10 mg/mL, 1 mL", Form: "ampoule",
			Unit: "ampoule", ControlledList: "A1", New: true, ChangedAt: time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC)}
		require.NoError(t, e.driver.UpdateItem(ctxFor(t, 5*time.Second), target, item))
		require.NoError(t, e.driver.UpdateItem(ctxFor(t, 5*time.Second), target, item), "a resend is applied again, harmlessly")
		items := e.items(t)
		require.Len(t, items, 1)
		assert.True(t, item.ChangedAt.Equal(items[0].ChangedAt))
		items[0].ChangedAt = item.ChangedAt
		assert.Equal(t, item, items[0])

		item.New, item.Name = false, "Morphine"
		require.NoError(t, e.driver.UpdateItem(ctxFor(t, 5*time.Second), target, item))
		assert.Equal(t, "Morphine", e.items(t)[0].Name)
		assert.Equal(t, 3, e.stats(t).ItemsUpdated)

		e.faults(t, "busy")
		err := e.driver.UpdateItem(ctxFor(t, 5*time.Second), target, item)
		assertRetryable(t, err)
		e.faults(t, "reject")
		assertRefused(t, e.driver.UpdateItem(ctxFor(t, 5*time.Second), target, item), "simulated refusal")
	}
}
