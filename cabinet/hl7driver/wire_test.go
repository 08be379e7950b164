package hl7driver_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/hl7driver"
	"github.com/medreq/pyxis/cabinet/mllp"
)

// wireOrder is an order to a fake cabinet, with its times fixed as the caller fixes them.
func wireOrder(addr, cabinetCode, requestID string) cabinet.Order {
	at := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	return cabinet.Order{
		RequestID: requestID, CabinetCode: cabinetCode, CabinetUnit: "ICU", Driver: "hl7", Address: addr,
		PatientMRN: "MRN0042", Priority: cabinet.PriorityRoutine, IssuedAt: at, StartAt: at, EndAt: at.Add(4 * time.Hour),
		Lines: []cabinet.Line{{MedicationCode: "MORF10", Unit: "ampoule", Quantity: 1}},
	}
}

// TestCabinetsAtOneAddressShareAConnection: a central server behind one address gets the
// messages of all its cabinets on one connection, in the order they were sent.
func TestCabinetsAtOneAddressShareAConnection(t *testing.T) {
	f := newFakeCabinet(t, accept(t))
	d, _ := fastDriver(t, hl7driver.Options{})
	upper := strings.Replace(f.addr, "127.0.0.1", " 127.0.0.1", 1) // the same address, written apart
	orders := []cabinet.Order{
		wireOrder(f.addr, "PYX-ICU-01", "medreq-a"), wireOrder(upper, "PYX-ICU-02", "medreq-b"),
		wireOrder(f.addr, "PYX-ICU-01", "medreq-c"),
	}
	for _, o := range orders {
		require.NoError(t, d.Authorize(ctxFor(t, 5*time.Second), o))
	}
	got := f.received()
	require.Len(t, got, 3)
	for i, r := range got {
		assert.Equal(t, 1, r.conn, "one connection for the address")
		m, err := hl7.Parse(r.raw)
		require.NoError(t, err)
		assert.Equal(t, orders[i].RequestID, m.Segment("ORC").Value(4), "in the order sent")
		assert.Equal(t, orders[i].CabinetCode, m.Header().ReceivingApp, "the station stays in MSH-5")
	}
}

// TestAnswersOutOfStepCloseTheConnection: a cabinet that answers one message twice leaves
// an answer in the connection that would be read as the next message's. The next message
// reads it, sees it acknowledges another message, closes the connection and is sent again
// on a new one, where its own answer comes.
func TestAnswersOutOfStepCloseTheConnection(t *testing.T) {
	f := newFakeCabinet(t, func(seen int, raw []byte) [][]byte {
		a := ackOf(t, raw, hl7.Ack{Code: hl7.AckAccept})
		if seen == 0 && controlIDOf(raw)[:2] == "NW" {
			return [][]byte{a, a}
		}
		return [][]byte{a}
	})
	d, log := fastDriver(t, hl7driver.Options{})
	nw := wireOrder(f.addr, "PYX-ICU-01", "medreq-1")
	require.NoError(t, d.Authorize(ctxFor(t, 5*time.Second), nw))
	require.NoError(t, d.Revoke(ctxFor(t, 5*time.Second), nw), "the cancel is acknowledged after all")
	require.NoError(t, d.Authorize(ctxFor(t, 5*time.Second), wireOrder(f.addr, "PYX-ICU-01", "medreq-2")))
	got := log.written()
	require.Len(t, got, 4)
	assert.Equal(t, []int{1, 1, 2, 2}, []int{got[0].conn, got[1].conn, got[2].conn, got[3].conn},
		"the cancel again on a new connection, which stays in step")
	assert.Equal(t, got[1].raw, got[2].raw, "the same message, byte for byte")
}

// TestRefusalAfterAnUnansweredAttempt: an authorization that went unanswered may have
// reached the cabinet. Its error says so, and a refusal of the same message afterwards (a
// cabinet that refuses what it already holds) says an earlier attempt went unanswered; the
// resend is the first attempt's bytes.
func TestRefusalAfterAnUnansweredAttempt(t *testing.T) {
	f := newFakeCabinet(t, func(n int, raw []byte) [][]byte {
		if n == 0 {
			return nil // silence: the driver's ACK timeout decides
		}
		return [][]byte{ackOf(t, raw, hl7.Ack{Code: hl7.AckError, Condition: hl7.ConditionDuplicateKey, Text: "order already held"})}
	})
	d, _ := fastDriver(t, hl7driver.Options{AckTimeout: 150 * time.Millisecond})
	o := wireOrder(f.addr, "PYX-ICU-01", "medreq-9")
	err := d.Authorize(ctxFor(t, 5*time.Second), o)
	assert.ErrorIs(t, err, cabinet.ErrUnreachable)
	assert.ErrorIs(t, err, cabinet.ErrMaybeDelivered)
	assert.ErrorIs(t, err, mllp.ErrNoAck)

	err = d.Authorize(ctxFor(t, 5*time.Second), o)
	var refused *cabinet.RefusedError
	require.ErrorAs(t, err, &refused)
	assert.True(t, refused.EarlierAttemptUnanswered)
	got := f.received()
	require.Len(t, got, 2)
	assert.Equal(t, string(got[0].raw), string(got[1].raw), "a resend repeats the first attempt's bytes")

	// Not sent at all: the cabinet cannot hold it.
	o.Address = "127.0.0.1:1"
	err = d.Authorize(ctxFor(t, 5*time.Second), o)
	assert.ErrorIs(t, err, cabinet.ErrUnreachable)
	assert.False(t, errors.Is(err, cabinet.ErrMaybeDelivered), "%v", err)
}

// TestRevokeOfAPartlyDispensedOrderDiscontinues: DC, not CA (HL7 table 0119).
func TestRevokeOfAPartlyDispensedOrderDiscontinues(t *testing.T) {
	f := newFakeCabinet(t, accept(t))
	d, _ := fastDriver(t, hl7driver.Options{})
	o := wireOrder(f.addr, "PYX-ICU-01", "medreq-p")
	require.NoError(t, d.Revoke(ctxFor(t, 5*time.Second), o))
	o.PartlyDispensed = true
	require.NoError(t, d.Revoke(ctxFor(t, 5*time.Second), o))
	var controls []string
	for _, r := range f.received() {
		m, err := hl7.Parse(r.raw)
		require.NoError(t, err)
		controls = append(controls, m.Segment("ORC").Value(1))
	}
	assert.Equal(t, []string{"CA", "DC"}, controls)
}

// TestItemMasterOncePerSite: an item master update goes once to an address, whatever the
// number of cabinets behind it; MSH-5 names the central server, or the one cabinet.
func TestItemMasterOncePerSite(t *testing.T) {
	f := newFakeCabinet(t, accept(t))
	d, _ := fastDriver(t, hl7driver.Options{ServerApplication: "PYXIS-ES"})
	item := cabinet.Item{Code: "PARA500", Name: "Paracetamol", Unit: "tablet", ChangedAt: time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC)}
	sites := cabinet.Sites([]cabinet.CabinetTarget{
		{Driver: "hl7", Address: f.addr, CabinetCode: "PYX-ICU-02"}, {Driver: "hl7", Address: f.addr, CabinetCode: "PYX-ICU-01"},
	})
	require.Len(t, sites, 1)
	require.NoError(t, cabinet.UpdateItemAt(ctxFor(t, 5*time.Second), d, sites[0], item))
	require.NoError(t, d.UpdateItemAt(ctxFor(t, 5*time.Second), cabinet.Site{Driver: "hl7", Address: f.addr, Cabinets: []string{"PYX-ER-01"}}, item))
	got := f.received()
	require.Len(t, got, 2)
	var receivers []string
	for _, r := range got {
		m, err := hl7.Parse(r.raw)
		require.NoError(t, err)
		receivers = append(receivers, m.Header().ReceivingApp)
	}
	assert.Equal(t, []string{"PYXIS-ES", "PYX-ER-01"}, receivers)
	var refused *cabinet.RefusedError
	assert.ErrorAs(t, d.UpdateItemAt(ctxFor(t, time.Second), cabinet.Site{Driver: "hl7", Address: f.addr}, item), &refused)
}
