package cabsim

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/mllp"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// onMessage is a log handler that closes seen at the first record whose message is msg.
type onMessage struct {
	msg  string
	seen chan struct{}
	once sync.Once
}

func (h *onMessage) Enabled(context.Context, slog.Level) bool { return true }

func (h *onMessage) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.seen) })
	}
	return nil
}

func (h *onMessage) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *onMessage) WithGroup(string) slog.Handler      { return h }

// startSim starts a simulator on free loopback ports until the test ends.
func startSim(t *testing.T, cfg Config) *Sim {
	t.Helper()
	return startSimAt(t, cfg, wallClock{})
}

// startSimAt starts a simulator as startSim does, on clk's time.
func startSimAt(t *testing.T, cfg Config, clk clock) *Sim {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	s, err := New(cfg)
	require.NoError(t, err)
	s.logger, s.clock = quiet, clk
	s.backoff, s.maxBackoff = 10*time.Millisecond, 50*time.Millisecond
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// sendOrder sends an RDE for requestID to the simulator and returns its acknowledgment.
func sendOrder(t *testing.T, s *Sim, requestID string, oc hl7.OrderControl) (hl7.Ack, error) {
	t.Helper()
	o := cabinet.Order{RequestID: requestID, CabinetCode: "PYX-ICU-01",
		Lines: []cabinet.Line{{MedicationCode: "MORF10", Quantity: 1}}}
	m, err := hl7.BuildRDE(o, oc, time.Now(), hl7.Envelope{})
	require.NoError(t, err)
	raw, err := m.Encode()
	require.NoError(t, err)
	c := mllp.NewClient(s.Addr(), mllp.ClientOptions{DialAttempts: 1, AckTimeout: 2 * time.Second})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	answer, err := c.Send(ctx, raw)
	if err != nil {
		return hl7.Ack{}, err
	}
	return hl7.ParseACK(answer)
}

func TestRunStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	running := make(chan struct{})
	logger := slog.New(&onMessage{msg: "cabinet simulator running", seen: running})
	go func() { done <- Run(ctx, Config{Listen: "127.0.0.1:0", Admin: "127.0.0.1:0"}, logger) }()
	select {
	case <-running:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not start")
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestOfflineFromTheStart(t *testing.T) {
	s := startSim(t, Config{Faults: []string{"offline"}})
	_, err := sendOrder(t, s, "r1", hl7.OrderNew)
	require.Error(t, err, "connections are refused")
	require.NoError(t, s.SetFaults(Faults{}))
	ack, err := sendOrder(t, s, "r1", hl7.OrderNew)
	require.NoError(t, err)
	assert.Equal(t, hl7.AckAccept, ack.Code)
	assert.Equal(t, "", s.AdminAddr(), "no admin endpoint configured")
}

func TestMalformedOrdersAnswered(t *testing.T) {
	s := startSim(t, Config{})
	c := mllp.NewClient(s.Addr(), mllp.ClientOptions{AckTimeout: 300 * time.Millisecond})
	defer c.Close()
	tests := []struct {
		name, msg string
		want      hl7.AckCode // "" when no answer is expected
		cond      string
	}{
		{"not an RDE", "MSH|^~\\&|A||PYX||20260314||ADT^A01|a1|P|2.5\r", hl7.AckReject, hl7.ConditionUnsupportedType},
		{"another RDE event", "MSH|^~\\&|A||PYX||20260314||RDE^O25|a1|P|2.5\r", hl7.AckReject, hl7.ConditionUnsupportedEvent},
		{"test message to a production cabinet", "MSH|^~\\&|A||PYX||20260314||RDE^O11|a4|T|2.5\r", hl7.AckReject, hl7.ConditionUnsupportedProcess},
		{"version 2.3", "MSH|^~\\&|A||PYX||20260314||RDE^O11|a5|P|2.3\r", hl7.AckReject, hl7.ConditionUnsupportedVersion},
		{"RDE without ORC", "MSH|^~\\&|A||PYX||20260314||RDE^O11|a2|P|2.5\rRXE||M|1\r", hl7.AckError, hl7.ConditionSegmentSequence},
		{"bad escape after a readable MSH", "MSH|^~\\&|A||PYX||20260314||RDE^O11|a3|P|2.5\rORC|NW|r\\X\r", hl7.AckError, hl7.ConditionDataType},
		{"no MSH at all", "hello", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer, err := c.Send(context.Background(), []byte(tt.msg))
			if tt.want == "" {
				assert.ErrorIs(t, err, mllp.ErrNoAck)
				return
			}
			require.NoError(t, err)
			ack, err := hl7.ParseACK(answer)
			require.NoError(t, err)
			assert.Equal(t, tt.want, ack.Code)
			assert.Equal(t, tt.cond, ack.Condition)
		})
	}
	assert.Equal(t, Stats{}, s.Stats())
}

// fakeListener answers each report with the code answer returns for the attempt number.
func fakeListener(t *testing.T, answer func(n int32) hl7.AckCode) (string, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := mllp.NewServer(func(_ context.Context, raw []byte) []byte {
		code := answer(n.Add(1))
		h, err := hl7.ParseHeader(raw)
		require.NoError(t, err)
		ack, err := hl7.Reply(h, hl7.Ack{Code: code, Text: "test"}, time.Now())
		require.NoError(t, err)
		return ack
	}, mllp.ServerOptions{Logger: quiet})
	require.NoError(t, srv.Listen("127.0.0.1:0"))
	go func() { _ = srv.Serve(context.Background()) }()
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Addr().String(), &n
}

func TestReportDelivery(t *testing.T) {
	tests := []struct {
		name      string
		answer    func(n int32) hl7.AckCode
		wantErr   error
		wantSends int32
		want      Stats
	}{
		{"AA at once", func(int32) hl7.AckCode { return hl7.AckAccept }, nil, 1, Stats{OrdersAccepted: 1, ReportsSent: 1}},
		{"AR twice, then AA", func(n int32) hl7.AckCode {
			if n < 3 {
				return hl7.AckReject
			}
			return hl7.AckAccept
		}, nil, 3, Stats{OrdersAccepted: 1, ReportsSent: 1}},
		{"AE is final", func(int32) hl7.AckCode { return hl7.AckError }, ErrReportRefused, 1, Stats{OrdersAccepted: 1, ReportsFailed: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, sends := fakeListener(t, tt.answer)
			s := startSim(t, Config{ReportTo: addr})
			ack, err := sendOrder(t, s, "r1", hl7.OrderNew)
			require.NoError(t, err)
			require.Equal(t, hl7.AckAccept, ack.Code)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ids, err := s.Withdraw(ctx, "r1", nil)
			assert.Equal(t, []string{hl7.ShortID("RV", "PYX-ICU-01|r1")}, ids)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantSends, sends.Load())
			got := s.Stats()
			got.Failures = nil
			assert.Equal(t, tt.want, got)
			_, err = s.Withdraw(ctx, "r1", nil)
			assert.ErrorIs(t, err, ErrNotPending, "a withdrawal happens once")
		})
	}
}

func TestWithdrawNeedsSomewhereToReport(t *testing.T) {
	s := startSim(t, Config{})
	_, err := s.Withdraw(context.Background(), "r1", nil)
	assert.ErrorIs(t, err, ErrNoReportTo)
	_, err = s.SendEvent(context.Background(), PocketEvent{Kind: "L"})
	assert.ErrorIs(t, err, ErrNoReportTo)
}

func sendRaw(t *testing.T, s *Sim, m *hl7.Message) hl7.Ack {
	t.Helper()
	raw, err := m.Encode()
	require.NoError(t, err)
	c := mllp.NewClient(s.Addr(), mllp.ClientOptions{DialAttempts: 1, AckTimeout: 2 * time.Second})
	defer c.Close()
	answer, err := c.Send(context.Background(), raw)
	require.NoError(t, err)
	ack, err := hl7.ParseACK(answer)
	require.NoError(t, err)
	return ack
}

func TestItemMasterUpdates(t *testing.T) {
	stock := filepath.Join(t.TempDir(), "stock.json")
	require.NoError(t, os.WriteFile(stock, []byte(`{"cabinet":"PYX-ICU-01","pockets":[]}`), 0o600))
	s := startSim(t, Config{StockFile: stock})
	item := cabinet.Item{Code: "PARA500", Name: "Paracetamol", Strength: "500 mg", Form: "tablet", Unit: "tablet", New: true}
	m, err := hl7.BuildMFN("PYX-ICU-01", item, time.Now(), hl7.Envelope{})
	require.NoError(t, err)
	assert.Equal(t, hl7.AckAccept, sendRaw(t, s, m).Code)
	assert.Equal(t, hl7.AckAccept, sendRaw(t, s, m).Code, "a resend is applied again")
	require.Len(t, s.Items(), 1)
	assert.Equal(t, "Paracetamol", s.Items()[0].Name)
	assert.Equal(t, 2, s.Stats().ItemsUpdated)

	other, err := hl7.BuildMFN("PYX-ER-02", item, time.Now(), hl7.Envelope{})
	require.NoError(t, err)
	ack := sendRaw(t, s, other)
	assert.Equal(t, hl7.AckError, ack.Code, "another cabinet's item master")
	assert.Equal(t, hl7.ConditionUnknownKey, ack.Condition)
}

func TestVendsOf(t *testing.T) {
	o := cabinet.Order{RequestID: "medreq-7", Lines: []cabinet.Line{{MedicationCode: "A", Unit: "tab", Quantity: 2}}}
	one := int32(1)
	v, err := vendsOf(o, nil)
	require.NoError(t, err)
	assert.Equal(t, []vended{{code: "A", units: "tab", amount: 2, ordered: 2, orderedCode: "A",
		number: "medreq-7-1", group: "medreq-7"}}, v, "a line names its order line and the request")
	v, err = vendsOf(o, []VendLine{{MedicationCode: "B", Amount: &one}, {MedicationCode: "C", Amount: &one}})
	require.NoError(t, err)
	assert.Equal(t, "B", v[0].code)
	assert.Equal(t, int32(1), v[0].amount)
	assert.Equal(t, "A", v[0].orderedCode)
	assert.Equal(t, vended{code: "C", amount: 1, group: "medreq-7"}, v[1], "a line beyond the order names the request only")
	_, err = vendsOf(o, []VendLine{{}, {Amount: &one}})
	assert.ErrorIs(t, err, ErrBadEvent, "a line beyond the order needs a drug")
	zero := int32(0)
	_, err = vendsOf(o, []VendLine{{Amount: &zero}})
	assert.ErrorIs(t, err, ErrBadEvent)
}

// Orders counts the authorizations applied per request: once, whatever resends and
// duplicates came; a new NW after a cancellation is a second one.
func TestOrdersCountAuthorizations(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0"})
	require.NoError(t, err)
	o := cabinet.Order{RequestID: "r1", CabinetCode: "PYX-1", Lines: []cabinet.Line{{MedicationCode: "M", Quantity: 1}}}
	nw := &hl7.Authorization{ControlID: "NW1", Control: hl7.OrderNew, Order: o}
	s.mu.Lock()
	s.applyLocked(nw, Faults{}, time.Now())
	s.applyLocked(nw, Faults{}, time.Now())
	s.applyLocked(&hl7.Authorization{ControlID: "NW1b", Control: hl7.OrderNew, Order: o}, Faults{}, time.Now())
	s.mu.Unlock()
	require.Equal(t, []OrderCount{{RequestID: "r1", Cabinet: "PYX-1", Applied: 1, Status: "held"}}, s.Orders())

	s.mu.Lock()
	s.applyLocked(&hl7.Authorization{ControlID: "CA1", Control: hl7.OrderCancel, Order: o}, Faults{}, time.Now())
	s.applyLocked(&hl7.Authorization{ControlID: "NW2", Control: hl7.OrderNew, Order: o}, Faults{}, time.Now())
	s.mu.Unlock()
	assert.Equal(t, 2, s.Orders()[0].Applied, "authorized again after a cancellation")
}

// TestDiscontinueEndsAHeldOrder: a DC (an order partly withdrawn) ends what is held, as a CA
// does, and the order keeps its line numbers from the NW.
func TestDiscontinueEndsAHeldOrder(t *testing.T) {
	s := startSim(t, Config{})
	ack, err := sendOrder(t, s, "medreq-dc", hl7.OrderNew)
	require.NoError(t, err)
	require.Equal(t, hl7.AckAccept, ack.Code)
	o, ok := s.Order("medreq-dc")
	require.True(t, ok)
	assert.Equal(t, "medreq-dc-1", o.Lines[0].OrderNumber, "ORC-2 of the line, ORC-4 the request")
	ack, err = sendOrder(t, s, "medreq-dc", hl7.OrderDiscontinue)
	require.NoError(t, err)
	assert.Equal(t, hl7.AckAccept, ack.Code)
	assert.Equal(t, []OrderCount{{RequestID: "medreq-dc", Cabinet: "PYX-ICU-01", Applied: 1, Status: "cancelled"}}, s.Orders())
}
