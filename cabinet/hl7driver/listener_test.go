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
	"github.com/medreq/pyxis/cabinet/mllp"
)

func rds(controlID, requestID string) string {
	return strings.Join([]string{
		`MSH|^~\&|PYX-ICU-01||PYXIS-MEDREQ||20260314093512+0000||RDS^O13^RDS_O13|` + controlID + `|P|2.5`,
		`ORC|RE|` + requestID,
		`RXD|1|MORF10^Morphine|20260314093512+0000|2|mg`,
	}, "\r") + "\r"
}

func TestListenerAnswers(t *testing.T) {
	rec := &recorder{fail: func(e cabinet.Event) error {
		switch e.RequestID {
		case "medreq-unknown":
			return fmt.Errorf("look up: %w", cabinet.ErrUnknownOrder)
		case "medreq-broken":
			return errors.New("database password is hunter2")
		}
		return nil
	}}
	addr := startListener(t, rec)
	c := mllp.NewClient(addr, mllp.ClientOptions{AckTimeout: 300 * time.Millisecond})
	defer c.Close()
	tests := []struct {
		name string
		msg  string
		// want is nil when no answer is expected.
		want *hl7.Ack
	}{
		{"a report is applied: AA", rds("r1", "medreq-1"), &hl7.Ack{Code: hl7.AckAccept, ControlID: "r1"}},
		{"the same report again: AA (the handler dedups)", rds("r1", "medreq-1"), &hl7.Ack{Code: hl7.AckAccept, ControlID: "r1"}},
		{"unknown order: AE 204", rds("r2", "medreq-unknown"),
			&hl7.Ack{Code: hl7.AckError, ControlID: "r2", Text: `unknown order "medreq-unknown"`, Condition: hl7.ConditionUnknownKey}},
		{"internal failure: AE 207, no detail leaked", rds("r3", "medreq-broken"),
			&hl7.Ack{Code: hl7.AckError, ControlID: "r3", Text: "report not applied; resend later", Condition: hl7.ConditionInternal}},
		{"not a report: AR 200", strings.Replace(rds("r4", "medreq-1"), "RDS^O13^RDS_O13", "ADT^A01^ADT_A01", 1),
			&hl7.Ack{Code: hl7.AckReject, ControlID: "r4", Text: "hl7: unsupported message type: ADT^A01 is not RDS^O13 or OMS^O05", Condition: hl7.ConditionUnsupportedType}},
		{"report missing its order: AR 101", rds("r5", ""),
			&hl7.Ack{Code: hl7.AckReject, ControlID: "r5", Text: "hl7: invalid message: RDS without ORC-2 placer order number", Condition: hl7.ConditionRequiredField}},
		{"bad segment after a readable MSH: AR", rds("r6", "medreq-1") + "bad segment\r",
			&hl7.Ack{Code: hl7.AckReject, ControlID: "r6", Text: `hl7: bad segment (segment 4): segment name "bad segment"`, Condition: hl7.ConditionSegmentSequence}},
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
	assert.Len(t, rec.got(), 2, "only the applied reports reach the handler's store")
}

func TestListenerAnswersAnOversizeFrameAR(t *testing.T) {
	addr := startListener(t, &recorder{})
	c := mllp.NewClient(addr, mllp.ClientOptions{AckTimeout: 2 * time.Second})
	defer c.Close()
	huge := rds("big1", "medreq-1") + "NTE|1||" + string(bytes.Repeat([]byte("x"), mllp.MaxFrameSize)) + "\r"
	answer, err := c.Send(context.Background(), []byte(huge))
	require.NoError(t, err)
	got, err := hl7.ParseACK(answer)
	require.NoError(t, err)
	assert.Equal(t, hl7.AckReject, got.Code)
	assert.Equal(t, "big1", got.ControlID)
	assert.Contains(t, got.Text, "too large")
	// The connection is still good for the next report.
	answer, err = c.Send(context.Background(), []byte(rds("r7", "medreq-1")))
	require.NoError(t, err)
	got, err = hl7.ParseACK(answer)
	require.NoError(t, err)
	assert.Equal(t, hl7.AckAccept, got.Code)
}
