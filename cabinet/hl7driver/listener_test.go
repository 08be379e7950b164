package hl7driver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// rds is a one-line RDS^O13 report.
func rds(controlID, requestID string) string {
	return strings.Join([]string{
		`MSH|^~\&|PYX-ICU-01||PYXIS-MEDREQ||20260314093512+0000||RDS^O13^RDS_O13|` + controlID + `|P|2.5`,
		`ORC|RE|` + requestID,
		`RXD|1|MORF10^Morphine|20260314093512+0000|2|ampoule|||` + requestID,
		`RXR|OTH`,
	}, "\r") + "\r"
}

// withMSH replaces field n of a message's MSH.
func withMSH(msg string, n int, v string) string {
	segs := strings.SplitN(msg, "\r", 2)
	f := strings.Split(segs[0], "|")
	for len(f) <= n-1 {
		f = append(f, "")
	}
	f[n-1] = v // MSH-1 is the separator: field n sits at index n-1
	return strings.Join(f, "|") + "\r" + segs[1]
}

func TestListenerAnswers(t *testing.T) {
	rec := &recorder{fail: func(e cabinet.Event) error {
		switch e.RequestID {
		case "medreq-broken":
			return errors.New("database password is hunter2")
		case "medreq-baddrug":
			return cabinet.Rejected(cabinet.ConditionTableValue, "unknown medication MORF10", errors.New("not in catalogue"))
		case "medreq-later":
			return cabinet.NotNow("database unavailable; resend later", errors.New("connection refused"))
		case "medreq-locked":
			return cabinet.Rejected(cabinet.ConditionRecordLocked, "record locked", nil)
		}
		return nil
	}}
	addr := startListener(t, rec)
	c := mllp.NewClient(addr, mllp.ClientOptions{AckTimeout: 300 * time.Millisecond})
	defer c.Close()
	ack := func(code hl7.AckCode, id, cond, text string) *hl7.Ack {
		return &hl7.Ack{Code: code, ControlID: id, Condition: cond, Text: text}
	}
	tests := []struct {
		name string
		msg  string
		// want is nil when no answer is expected.
		want *hl7.Ack
	}{
		{"a report is applied: AA", rds("r1", "medreq-1"), ack(hl7.AckAccept, "r1", "", "")},
		{"the same report again: AA (the handler dedups)", rds("r1", "medreq-1"), ack(hl7.AckAccept, "r1", "", "")},
		{"a vend of another system's order: AA", rds("r1b", "RX-99812"), ack(hl7.AckAccept, "r1b", "", "")},
		{"a vend without an order: AA", rds("r1c", ""), ack(hl7.AckAccept, "r1c", "", "")},
		{"the handler rejects it: AE with its condition and text", rds("r2", "medreq-baddrug"),
			ack(hl7.AckError, "r2", "103", "unknown medication MORF10")},
		{"the handler says not now: AR", rds("r2b", "medreq-later"),
			ack(hl7.AckReject, "r2b", "207", "database unavailable; resend later")},
		{"unclassified failure: AR 207, no detail leaked", rds("r3", "medreq-broken"),
			ack(hl7.AckReject, "r3", "207", "report not applied; resend later")},
		{"not a report: AR 200", strings.Replace(rds("r4", "medreq-1"), "RDS^O13^RDS_O13", "ADT^A01^ADT_A01", 1),
			ack(hl7.AckReject, "r4", "200", "hl7: unsupported message type: ADT^A01 is not RDS^O13 or OMS^O05")},
		{"an RDS of another event: AR 201", strings.Replace(rds("r4b", "medreq-1"), "RDS^O13^RDS_O13", "RDS^O25", 1),
			ack(hl7.AckReject, "r4b", "201", "hl7: unsupported event code: RDS^O25 is not RDS^O13 or OMS^O05")},
		{"a test message to production: AR 202", withMSH(rds("r4c", "medreq-1"), 11, "T"),
			ack(hl7.AckReject, "r4c", "202", `processing id "T", this system takes "P"`)},
		{"version 2.2: AR 203", withMSH(rds("r4d", "medreq-1"), 12, "2.2"),
			ack(hl7.AckReject, "r4d", "203", `version "2.2" is not supported`)},
		{"version 2.5.1 is taken", withMSH(rds("r4e", "medreq-1"), 12, "2.5.1"), ack(hl7.AckAccept, "r4e", "", "")},
		{"version 2.4 is taken", withMSH(rds("r4f", "medreq-1"), 12, "2.4"), ack(hl7.AckAccept, "r4f", "", "")},
		{"version 2.3, RDS^O01, is taken", strings.Replace(withMSH(rds("r4g", "medreq-1"), 12, "2.3"), "RDS^O13^RDS_O13", "RDS^O01", 1),
			ack(hl7.AckAccept, "r4g", "", "")},
		{"a fractional amount is taken, flagged: AA", strings.Replace(rds("r4h", "medreq-1"), "|2|ampoule", "|0.5|ampoule", 1),
			ack(hl7.AckAccept, "r4h", "", "")},
		{"the handler asks for a resend as an AE: AR, ERR-3 decides", rds("r4i", "medreq-locked"),
			ack(hl7.AckReject, "r4i", "206", "record locked")},
		{"report missing its amount: AE 101", strings.Replace(rds("r5", "medreq-1"), "|2|ampoule", "||ampoule", 1),
			&hl7.Ack{Code: hl7.AckError, ControlID: "r5", Condition: "101", Text: "hl7: invalid message: RXD 1: RXD-4 amount dispensed is empty",
				Segment: "RXD", Occurrence: 1, Field: 4}},
		{"bad segment after a readable MSH: AE 100", rds("r6", "medreq-1") + "bad segment\r",
			ack(hl7.AckError, "r6", "100", "the message does not parse")},
		{"no MSH: dropped unanswered", "PID|1||MRN\r", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer, err := c.Send(context.Background(), []byte(tt.msg))
			if tt.want == nil {
				assert.ErrorIs(t, err, mllp.ErrNoAck)
				return
			}
			require.NoError(t, err)
			got, err := hl7.ParseACK(answer)
			require.NoError(t, err)
			assert.Equal(t, *tt.want, got)
		})
	}
	var applied []string
	for _, e := range rec.got() {
		applied = append(applied, e.MessageControlID)
	}
	assert.Equal(t, []string{"r1", "r1", "r1b", "r1c", "r4e", "r4f", "r4g", "r4h"}, applied,
		"only the applied reports reach the handler's store")
	h := rec.got()[7]
	require.Len(t, h.Flags, 1)
	assert.Equal(t, cabinet.Flag{Cause: cabinet.CauseFractional, Field: "RXD-4", Line: 1, Value: "0.5",
		Text: "RXD-4 is 0.5, not a whole number of units"}, h.Flags[0])
}

// TestListenerAnswersAMessageWithoutControlID: AR with MSA-2 empty, never silence, so the
// sender's engine does not wait for an answer that never comes.
func TestListenerAnswersAMessageWithoutControlID(t *testing.T) {
	rec := &recorder{}
	c := mllp.NewClient(startListener(t, rec), mllp.ClientOptions{AckTimeout: time.Second})
	defer c.Close()
	answer, err := c.Send(context.Background(), []byte(withMSH(rds("x", "medreq-1"), 10, "")))
	require.NoError(t, err)
	m, err := hl7.Parse(answer)
	require.NoError(t, err)
	msa, e := m.Segment("MSA"), m.Segment("ERR")
	assert.Equal(t, []string{"AR", ""}, []string{msa.Value(1), msa.Value(2)})
	assert.Equal(t, "101", e.Component(3, 1, 1))
	assert.Equal(t, "MSH^1^10", e.Field(2).String())
	assert.Empty(t, rec.got())
}

func TestListenerAnswersInEnhancedModeWhenAsked(t *testing.T) {
	rec := &recorder{fail: func(e cabinet.Event) error {
		if e.RequestID == "medreq-later" {
			return cabinet.NotNow("later", nil)
		}
		return nil
	}}
	c := mllp.NewClient(startListener(t, rec), mllp.ClientOptions{AckTimeout: time.Second})
	defer c.Close()
	tests := []struct {
		accept, app, request string
		want                 hl7.AckCode
	}{
		{"AL", "NE", "medreq-1", hl7.CommitAccept},
		{"AL", "NE", "medreq-later", hl7.CommitReject},
		{"NE", "AL", "medreq-1", hl7.AckAccept}, // an application acknowledgment asked for
		{"NE", "AL", "medreq-later", hl7.AckReject},
		{"", "AL", "medreq-1", hl7.AckAccept},
		{"ER", "AL", "medreq-1", hl7.AckAccept}, // a commit acknowledgment only on error
		{"ER", "AL", "medreq-later", hl7.CommitReject},
		{"SU", "", "medreq-1", hl7.CommitAccept}, // only on success
		{"SU", "", "medreq-later", hl7.AckReject},
	}
	for i, tt := range tests {
		msg := withMSH(withMSH(rds(fmt.Sprintf("e%d", i), tt.request), 15, tt.accept), 16, tt.app)
		answer, err := c.Send(context.Background(), []byte(msg))
		require.NoError(t, err)
		got, err := hl7.ParseACK(answer)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got.Code, "MSH-15 %q MSH-16 %q, %s", tt.accept, tt.app, tt.request)
	}
}

func TestListenerReadsLocalTimesInItsZone(t *testing.T) {
	sp, err := time.LoadLocation("America/Sao_Paulo")
	require.NoError(t, err)
	rec := &recorder{}
	addr := startListenerWith(t, rec, hl7driver.ListenerOptions{Location: sp, ProcessingID: "T"})
	c := mllp.NewClient(addr, mllp.ClientOptions{AckTimeout: time.Second})
	defer c.Close()
	msg := withMSH(strings.ReplaceAll(rds("z1", "medreq-1"), "20260314093512+0000", "20260314093512"), 11, "T")
	answer, err := c.Send(context.Background(), []byte(msg))
	require.NoError(t, err)
	got, err := hl7.ParseACK(answer)
	require.NoError(t, err)
	require.Equal(t, hl7.AckAccept, got.Code, got.Text)
	ev := rec.waitEvents(t, 1)[0]
	assert.Equal(t, time.Date(2026, 3, 14, 12, 35, 12, 0, time.UTC), ev.At.UTC(), "no offset: São Paulo time")
}

func TestListenerGivesTheHandlerThePeer(t *testing.T) {
	peers := make(chan mllp.Peer, 1)
	h := handlerFunc(func(ctx context.Context, _ cabinet.Event) error {
		p, ok := mllp.PeerFromContext(ctx)
		require.True(t, ok)
		peers <- p
		return nil
	})
	srv := hl7driver.NewEventServer(h, hl7driver.ListenerOptions{}, mllp.ServerOptions{})
	require.NoError(t, srv.Listen("127.0.0.1:0"))
	go func() { _ = srv.Serve(context.Background()) }()
	t.Cleanup(func() { _ = srv.Close() })
	c := mllp.NewClient(srv.Addr().String(), mllp.ClientOptions{})
	defer c.Close()
	_, err := c.Send(context.Background(), []byte(rds("p1", "medreq-1")))
	require.NoError(t, err)
	p := <-peers
	assert.True(t, p.Addr.Addr().IsLoopback())
}

type handlerFunc func(context.Context, cabinet.Event) error

func (f handlerFunc) HandleEvent(ctx context.Context, e cabinet.Event) error { return f(ctx, e) }

func TestListenerCountWithoutCountIsAE101(t *testing.T) {
	c := mllp.NewClient(startListener(t, &recorder{}), mllp.ClientOptions{AckTimeout: time.Second})
	defer c.Close()
	msg := strings.Join([]string{
		`MSH|^~\&|PYX-ICU-01||PYXIS-MEDREQ||20260314110000+0000||OMS^O05^OMS_O05|c1|P|2.5`,
		`ORC|SC|`, `RQD|1|MORF10`, `ZPM|C||PYX-ICU-01|1|A|MORF10^Morphine|A1|8|||TECH3`,
	}, "\r") + "\r"
	answer, err := c.Send(context.Background(), []byte(msg))
	require.NoError(t, err)
	got, err := hl7.ParseACK(answer)
	require.NoError(t, err)
	assert.Equal(t, hl7.AckError, got.Code)
	assert.Equal(t, "101", got.Condition)
	assert.Equal(t, 9, got.Field)
}

// TestListenerRefusesControls sends reports whose fields decode to a NUL or a control
// character, over MLLP: each is answered AE 102 with ERR-2 naming the field, and none
// reaches the handler. Text that is only not UTF-8 is read (TestListenerReadsLatin1).
func TestListenerRefusesControls(t *testing.T) {
	rec := &recorder{}
	c := mllp.NewClient(startListener(t, rec), mllp.ClientOptions{AckTimeout: time.Second})
	defer c.Close()
	oms := func(id, witness string) string {
		return strings.Join([]string{
			`MSH|^~\&|PYX-ICU-01||PYXIS-MEDREQ||20260314110000+0000||OMS^O05^OMS_O05|` + id + `|P|2.5`,
			`ORC|SC|`, `RQD|1|MORF10`, `ZPM|W||PYX-ICU-01|1|A|MORF10^Morphine|A1|||1|NURSE7|` + witness,
		}, "\r") + "\r"
	}
	tests := []struct {
		name, msg string
		seg       string
		field     int
		text      string
	}{
		{"escaped NUL in the witness", oms("t1", `N\X00\9`), "ZPM", 12, "ZPM-12 contains a NUL character (byte 1)"},
		{"raw NUL in the witness", oms("t2", "N\x009"), "ZPM", 12, "ZPM-12 contains a NUL character (byte 1)"},
		{"escaped ESC in the witness", oms("t3", `N\X1B\9`), "ZPM", 12, "ZPM-12 contains a control character 0x1B (byte 1)"},
		{"raw ESC in a medication name", strings.Replace(rds("t5", "medreq-1"), "^Morphine", "^Mor\x1bphine", 1), "RXD", 2,
			"RXD-2.2 contains a control character 0x1B (byte 3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer, err := c.Send(context.Background(), []byte(tt.msg))
			require.NoError(t, err)
			got, err := hl7.ParseACK(answer)
			require.NoError(t, err)
			assert.Equal(t, hl7.AckError, got.Code)
			assert.Equal(t, hl7.ConditionDataType, got.Condition)
			assert.Equal(t, []any{tt.seg, 1, tt.field}, []any{got.Segment, got.Occurrence, got.Field})
			assert.Equal(t, "hl7: invalid message: "+tt.text, got.Text)
		})
	}
	assert.Empty(t, rec.got(), "nothing refused reaches the handler")
}

// TestListenerReadsLatin1 sends a report in ISO 8859-1, declared and not: both are taken,
// the text transcoded, and the undeclared one flagged; the handler keeps the message as
// UTF-8.
func TestListenerReadsLatin1(t *testing.T) {
	var raws [][]byte
	rec := &recorder{}
	h := hl7driver.NewEventHandler(cabinet.EventHandler(handlerFunc(func(ctx context.Context, e cabinet.Event) error {
		raws = append(raws, cabinet.RawFromContext(ctx))
		return rec.HandleEvent(ctx, e)
	})), hl7driver.ListenerOptions{})
	msg := strings.Replace(rds("l1", "medreq-1"), "^Morphine", "^Morfina s\xf3dica", 1)
	for i, declared := range []string{"8859/1", ""} {
		ack, err := hl7.ParseACK(h(context.Background(), []byte(withMSH(msg, 18, declared))))
		require.NoError(t, err)
		assert.Equal(t, hl7.AckAccept, ack.Code)
		e := rec.got()[i]
		assert.Equal(t, "Morfina sódica", e.Lines[0].MedicationName)
		assert.Equal(t, declared == "", e.Flagged(cabinet.CauseCharacterSet))
		assert.Contains(t, string(raws[i]), "Morfina sódica", "kept in UTF-8")
	}
}

func TestListenerAnswersFrameErrors(t *testing.T) {
	addr := startListener(t, &recorder{})
	c := mllp.NewClient(addr, mllp.ClientOptions{AckTimeout: 2 * time.Second})
	defer c.Close()
	huge := rds("big1", "medreq-1") + "NTE|1||" + string(bytes.Repeat([]byte("x"), mllp.MaxFrameSize)) + "\r"
	_, err := c.Send(context.Background(), []byte(huge))
	require.Error(t, err, "an oversize message is refused unread: no answer, the connection closed")
	// The next report, on a new connection, is taken.
	answer, err := c.Send(context.Background(), []byte(rds("r7", "medreq-1")))
	require.NoError(t, err)
	got, err := hl7.ParseACK(answer)
	require.NoError(t, err)
	assert.Equal(t, hl7.AckAccept, got.Code)

	// A frame cut short by the next one: AR 207, resend it.
	nc, r := dialListener(t, addr)
	_, err = nc.Write(append([]byte("\x0b"+rds("cut1", "medreq-1")[:110]), mllp.AppendFrame(nil, []byte(rds("r8", "medreq-1")))...))
	require.NoError(t, err)
	for _, want := range []hl7.AckCode{hl7.AckReject, hl7.AckAccept} {
		raw, err := r.ReadFrame()
		require.NoError(t, err)
		got, err := hl7.ParseACK(raw)
		require.NoError(t, err)
		assert.Equal(t, want, got.Code)
	}
}

// A message with too many segments, or a segment with too many fields, is answered AE 100
// before it is parsed; a parse error never repeats the message's content.
func TestListenerBoundsTheMessageShape(t *testing.T) {
	rec := &recorder{}
	h := hl7driver.NewEventHandler(rec, hl7driver.ListenerOptions{MaxSegments: 10, MaxFields: 20})
	manySegments := rds("s1", "medreq-1") + strings.Repeat("NTE|1||note\r", 10)
	manyFields := rds("s2", "medreq-1") + "NTE" + strings.Repeat("|x", 21) + "\r"
	secret := rds("s3", "medreq-1") + "MRN-SECRET-99 in a bad segment\r"
	for _, tt := range []struct{ msg, text string }{
		{manySegments, "more than 10 segments"},
		{manyFields, "a segment with more than 20 fields"},
		{secret, "the message does not parse"},
	} {
		got, err := hl7.ParseACK(h(context.Background(), []byte(tt.msg)))
		require.NoError(t, err)
		assert.Equal(t, hl7.AckError, got.Code)
		assert.Equal(t, "100", got.Condition)
		assert.Equal(t, tt.text, got.Text)
	}
	raw := h(context.Background(), []byte(secret))
	assert.NotContains(t, string(raw), "MRN-SECRET", "the answer echoes the message")
	assert.Empty(t, rec.got())
	got, err := hl7.ParseACK(h(context.Background(), []byte(rds("s4", "medreq-1"))))
	require.NoError(t, err)
	assert.Equal(t, hl7.AckAccept, got.Code, "a genuine report is within the bounds")
}
