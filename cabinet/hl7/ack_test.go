package hl7

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestACKRoundTrips(t *testing.T) {
	req, err := BuildRDE(testOrder(), OrderNew, fixedNow, Envelope{SendingFacility: "HOSP"})
	require.NoError(t, err)
	h := req.Header()
	tests := []struct {
		name     string
		ack      Ack
		wantErr  bool
		wantCond string
	}{
		{name: "accepted", ack: Ack{Code: AckAccept}},
		{name: "accepted with a note", ack: Ack{Code: AckAccept, Text: "duplicate"}},
		{name: "refused", ack: Ack{Code: AckError, Text: "insufficient stock of MORF10", Condition: ConditionTableValue}, wantErr: true, wantCond: ConditionTableValue},
		{name: "refused, condition defaulted", ack: Ack{Code: AckError, Text: "no"}, wantErr: true, wantCond: ConditionInternal},
		{name: "refused with a location", ack: Ack{Code: AckError, Text: "RXE-2 empty", Condition: ConditionRequiredField, Segment: "RXE", Occurrence: 2, Field: 2}, wantErr: true, wantCond: ConditionRequiredField},
		{name: "rejected", ack: Ack{Code: AckReject, Text: "bad | text ^ escaped", Condition: ConditionUnsupportedType}, wantErr: true, wantCond: ConditionUnsupportedType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := Reply(h, tt.ack, fixedNow)
			require.NoError(t, err)
			m, err := Parse(raw)
			require.NoError(t, err)
			mh := m.Header()
			assert.Equal(t, "PYX-ICU-01", mh.SendingApp, "the answer comes from the receiver")
			assert.Equal(t, Application, mh.ReceivingApp)
			assert.Equal(t, "HOSP", mh.ReceivingFacility)
			assert.Equal(t, "ACK", mh.MessageCode)
			assert.Equal(t, "O11", mh.TriggerEvent)
			assert.LessOrEqual(t, len(mh.ControlID), MaxControlID)
			assert.True(t, strings.HasPrefix(mh.ControlID, "AK"))
			assert.Equal(t, "P", mh.ProcessingID)
			got, err := ParseACK(raw)
			require.NoError(t, err)
			assert.Equal(t, tt.ack.Code, got.Code)
			assert.Equal(t, h.ControlID, got.ControlID)
			assert.Equal(t, tt.ack.Text, got.Text)
			assert.Equal(t, tt.wantCond, got.Condition)
			assert.Equal(t, tt.wantErr, m.Segment("ERR") != nil)
			if tt.wantErr {
				assert.Equal(t, tt.ack.Text, m.Segment("ERR").Value(8))
				assert.Equal(t, "E", m.Segment("ERR").Value(4))
				assert.Equal(t, "HL70357", m.Segment("ERR").Component(3, 1, 3))
				assert.Equal(t, tt.ack.Segment, got.Segment)
				assert.Equal(t, tt.ack.Field, got.Field)
			}
		})
	}
}

func TestACKFollowsTheMessagesMode(t *testing.T) {
	req, err := BuildRDE(testOrder(), OrderNew, fixedNow, Envelope{Enhanced: true, ProcessingID: "T"})
	require.NoError(t, err)
	for code, want := range map[AckCode]AckCode{AckAccept: CommitAccept, AckError: CommitError, AckReject: CommitReject} {
		raw, err := Reply(req.Header(), Ack{Code: code, Text: "x"}, fixedNow)
		require.NoError(t, err)
		got, err := ParseACK(raw)
		require.NoError(t, err)
		assert.Equal(t, want, got.Code)
		m, err := Parse(raw)
		require.NoError(t, err)
		assert.Equal(t, "T", m.Header().ProcessingID, "the answer keeps the message's processing id")
		assert.Empty(t, m.Header().AcceptAckType, "an acknowledgment asks for none")
	}
	assert.True(t, CommitAccept.Accepted() && AckAccept.Accepted())
	assert.True(t, CommitError.Refused() && AckError.Refused())
	assert.True(t, CommitReject.Retry() && AckReject.Retry())
	assert.False(t, AckReject.Refused() || AckError.Retry())
}

func TestCommitAckOnlyWhenMSH15AsksForOne(t *testing.T) {
	tests := []struct {
		accept, app string
		accepted    bool
		want        bool
	}{
		{"AL", "NE", true, true}, {"AL", "NE", false, true}, {"AL", "", false, true},
		{"NE", "AL", true, false}, {"NE", "AL", false, false}, {"", "AL", true, false}, {"", "", false, false},
		{"ER", "AL", true, false}, {"ER", "AL", false, true},
		{"SU", "AL", true, true}, {"SU", "AL", false, false},
	}
	for _, tt := range tests {
		got := Header{AcceptAckType: tt.accept, AppAckType: tt.app}.CommitAck(tt.accepted)
		assert.Equal(t, tt.want, got, "MSH-15 %q MSH-16 %q accepted %v", tt.accept, tt.app, tt.accepted)
	}
}

// TestACKOfAnOlderVersion answers a v2.3 message the way v2.3 reads: MSH-9 without the
// message structure, and ERR-1 (the only ERR field before v2.5) beside ERR-2 to ERR-8.
func TestACKOfAnOlderVersion(t *testing.T) {
	h := Header{SendingApp: "PYX", ReceivingApp: Application, MessageCode: "RDS", TriggerEvent: "O01",
		ControlID: "c23", ProcessingID: "P", Version: "2.3"}
	raw, err := Reply(h, Ack{Code: AckError, Condition: ConditionRequiredField, Text: "RXD-4 is empty",
		Segment: "RXD", Occurrence: 1, Field: 4}, fixedNow)
	require.NoError(t, err)
	m, err := Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, "ACK^O01", m.Segment("MSH").Field(9).String())
	assert.Equal(t, "2.3", m.Header().Version)
	e := m.Segment("ERR")
	assert.Equal(t, "RXD^1^4^101&Required field missing&HL70357", e.Field(1).String())
	assert.Equal(t, "101", e.Component(3, 1, 1), "ERR-3 too, for readers of v2.5")

	h.Version = "2.5"
	raw, err = Reply(h, Ack{Code: AckError, Condition: ConditionRequiredField, Text: "x"}, fixedNow)
	require.NoError(t, err)
	m, err = Parse(raw)
	require.NoError(t, err)
	assert.Empty(t, m.Segment("ERR").Field(1).String(), "ERR-1 is for versions before 2.5")
}

func TestResendIsDecidedByERR3(t *testing.T) {
	for cond, want := range map[string]bool{
		ConditionInternal: true, ConditionRecordLocked: true, ConditionSegmentSequence: false,
		ConditionRequiredField: false, ConditionDataType: false, ConditionTableValue: false,
		ConditionUnsupportedType: false, ConditionUnsupportedEvent: false, ConditionUnsupportedProcess: false,
		ConditionUnsupportedVersion: false, ConditionUnknownKey: false, ConditionDuplicateKey: false,
	} {
		assert.Equal(t, want, Resend(cond), cond)
	}
}

func TestDecodeACK(t *testing.T) {
	msh := `MSH|^~\&|PYX||PYXIS-MEDREQ||20260314||ACK|a1|P|2.5`
	tests := []struct {
		name    string
		raw     []byte
		want    Ack
		wantErr error
	}{
		{"text from ERR-8", seg(msh, `MSA|AE|c1`, `ERR||RXE^1^2|207^x^HL70357|E||||out of stock`), Ack{Code: AckError, ControlID: "c1", Text: "out of stock", Condition: "207", Segment: "RXE", Occurrence: 1, Field: 2}, nil},
		{"text from ERR-3", seg(msh, `MSA|AR|c1`, `ERR|||200^Unsupported message type^HL70357|E`), Ack{Code: AckReject, ControlID: "c1", Text: "Unsupported message type", Condition: "200"}, nil},
		{"ERR-8 first", seg(msh, `MSA|AE|c1|from MSA`, `ERR||||E||||from ERR`), Ack{Code: AckError, ControlID: "c1", Text: "from ERR"}, nil},
		{"MSA-3 without ERR-8", seg(msh, `MSA|AE|c1|from MSA`, `ERR|||207|E`), Ack{Code: AckError, ControlID: "c1", Text: "from MSA", Condition: "207"}, nil},
		{"enhanced mode commit", seg(msh, `MSA|CA|c1`), Ack{Code: CommitAccept, ControlID: "c1"}, nil},
		{"no MSA", seg(msh), Ack{}, ErrInvalid},
		{"unknown code", seg(msh, `MSA|XX|c1`), Ack{}, ErrInvalid},
		{"no MSA-2", seg(msh, `MSA|AA`), Ack{}, ErrInvalid},
		{"not HL7", []byte("hello"), Ack{}, ErrNoMSH},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseACK(tt.raw)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestRejectAnswersWhatHasAReadableMSH(t *testing.T) {
	tests := []struct {
		name   string
		raw    []byte
		answer bool
	}{
		{"bad segment after a good MSH", seg(`MSH|^~\&|PYX||PYXIS-MEDREQ||20260314||RDS^O13|r1|P|2.5`, `bad segment`), true},
		{"oversize message's head", []byte(`MSH|^~\&|PYX||PYXIS-MEDREQ||20260314||RDS^O13|r1|P|2.5` + "\rNTE|" + strings.Repeat("x", 100)), true},
		{"no control id", seg(`MSH|^~\&|PYX||PYXIS-MEDREQ||20260314||RDS^O13||P|2.5`), false},
		{"no MSH", seg(`PID|1`), false},
		{"garbage", []byte{0, 1, 2, 3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans := Reject(tt.raw, "cannot read it", ConditionSegmentSequence, fixedNow)
			if !tt.answer {
				assert.Nil(t, ans)
				return
			}
			a, err := ParseACK(ans)
			require.NoError(t, err)
			assert.Equal(t, Ack{Code: AckReject, ControlID: "r1", Text: "cannot read it", Condition: ConditionSegmentSequence}, a)
		})
	}
}

func TestLongTextsAreCutToTheirFields(t *testing.T) {
	req, err := BuildRDE(testOrder(), OrderNew, fixedNow, Envelope{})
	require.NoError(t, err)
	long := strings.Repeat("é", 200) // 400 bytes
	m := BuildACK(req.Header(), Ack{Code: AckError, Text: long}, fixedNow)
	assert.LessOrEqual(t, len(m.Segment("MSA").Value(3)), 80)
	assert.LessOrEqual(t, len(m.Segment("ERR").Value(8)), 250)
	assert.True(t, strings.HasPrefix(long, m.Segment("ERR").Value(8)))
}

func TestConditionOf(t *testing.T) {
	_, err := Parse(seg(`MSH|^~\&|A`, `NTE|1||\X0\`))
	assert.Equal(t, ConditionDataType, ConditionOf(err))
	_, err = Parse(seg(`MSH|^~\&|A`, `pid|1`))
	assert.Equal(t, ConditionSegmentSequence, ConditionOf(err))
	a := AckFor(AckError, missing("RXD", 2, 4, "RXD-4 empty"))
	assert.Equal(t, Ack{Code: AckError, Text: "hl7: invalid message: RXD-4 empty", Condition: ConditionRequiredField, Segment: "RXD", Occurrence: 2, Field: 4}, a)
}
