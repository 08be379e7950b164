package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"strings"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/workflows"
)

// a is a typed nil handle for activity method references, as in the workflow itself.
var a *activities.Activities

const requestID = "medreq-01JQ7ZK3V8XG4N2P5R6S7T8W9Y"

// t0 is the workflow clock when every test run starts.
var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

var (
	nurse      = pyxis.Actor{ID: "u-nurse-ana", Name: "Ana Lima", Role: pyxis.RoleNurse}
	otherNurse = pyxis.Actor{ID: "u-nurse-cai", Name: "Cai Moreno", Role: pyxis.RoleNurse}
	pharmacist = pyxis.Actor{ID: "u-pharm-ben", Name: "Ben Ito", Role: pyxis.RolePharmacist}
	technician = pyxis.Actor{ID: "u-tech-dee", Name: "Dee Park", Role: pyxis.RoleTechnician}
	cabinetBot = pyxis.Actor{ID: "cabinet-ICU-A3", Role: pyxis.RoleCabinet}
)

const cabinetID = 3

// validInput is a well-formed urgent request; tests change copies of it.
func validInput() workflows.Input {
	return workflows.Input{
		RequestHeader: pyxis.RequestHeader{
			Requester:         nurse,
			Patient:           pyxis.Patient{MRN: "MRN-000042", Bed: "ICU-7", Family: "Souza", Given: "Maria"},
			CabinetID:         cabinetID,
			Priority:          pyxis.PriorityUrgent,
			Lines:             []pyxis.Line{{MedicationID: 11, Quantity: 2}, {MedicationID: 12, Quantity: 1}},
			RequiredApprovals: 1,
		},
		CabinetCode: "ICU-A3",
		Policy: workflows.Policy{
			ApprovalTimeout:      time.Hour,
			WithdrawalTimeout:    15 * time.Minute,
			CabinetAttempts:      3,
			CabinetRetryInterval: 2 * time.Second,
		},
	}
}

// MedicationRequestTestSuite runs the MedicationRequest workflow in the SDK's in-memory
// environment, with every activity replaced by a recording fake.
type MedicationRequestTestSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite

	env      *testsuite.TestWorkflowEnvironment
	fake     *fakeActivities
	updateNo int
	// admitCall and stepCall are the Admit and RecordStep mocks, kept so a test can make those
	// local activities take time.
	admitCall, stepCall *testsuite.MockCallWrapper
}

func TestMedicationRequest(t *testing.T) {
	suite.Run(t, new(MedicationRequestTestSuite))
}

func (s *MedicationRequestTestSuite) SetupTest()    { s.reset() }
func (s *MedicationRequestTestSuite) SetupSubTest() { s.reset() }

// reset builds a fresh environment whose activities all succeed unless a test says otherwise.
func (s *MedicationRequestTestSuite) reset() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetStartTime(t0)
	s.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: requestID, TaskQueue: "medication-requests"})
	s.fake = &fakeActivities{}
	s.updateNo = 0

	s.env.RegisterActivity(&activities.Activities{})
	s.admitCall = s.env.OnActivity(a.Admit, mock.Anything, mock.Anything).Return(s.fake.admit)
	s.stepCall = s.env.OnActivity(a.RecordStep, mock.Anything, mock.Anything).Return(s.fake.recordStep)
	s.env.OnActivity(a.PrepareOrder, mock.Anything, mock.Anything).Return(s.fake.prepareOrder)
	s.env.OnActivity(a.DispenseOrder, mock.Anything, mock.Anything).Return(s.fake.dispenseOrder)
	s.env.OnActivity(a.WithdrawOrder, mock.Anything, mock.Anything).Return(s.fake.withdrawOrder)
}

// execute runs the workflow to completion.
func (s *MedicationRequestTestSuite) execute(in workflows.Input) {
	s.env.ExecuteWorkflow(workflows.MedicationRequest, in)
	s.Require().True(s.env.IsWorkflowCompleted(), "workflow did not complete")
}

// finalState returns the State the workflow completed with; it must have succeeded.
func (s *MedicationRequestTestSuite) finalState() workflows.State {
	s.T().Helper()
	s.Require().NoError(s.env.GetWorkflowError())
	var st workflows.State
	s.Require().NoError(s.env.GetWorkflowResult(&st))
	return st
}

// assertActivityCalls checks how often each activity ran.
func (s *MedicationRequestTestSuite) assertActivityCalls(want map[string]int) {
	s.T().Helper()
	for _, name := range []string{"Admit", "RecordStep", "DispenseOrder", "WithdrawOrder"} {
		// AssertActivityNumberOfCalls, not AssertNumberOfCalls: the latter also passes when
		// the workflow mock (never used here) has the expected count, so 0 always passes.
		s.env.AssertActivityNumberOfCalls(s.T(), name, want[name])
	}
}

// update is what became of one Workflow Update sent by sendUpdate.
type update struct {
	sent     bool
	accepted bool
	rejected error
	done     bool
	state    workflows.State
	err      error
	at       time.Time
}

// sendUpdate schedules an update at the given offset from the workflow start.
func (s *MedicationRequestTestSuite) sendUpdate(after time.Duration, name string, in any) *update {
	s.updateNo++
	id := fmt.Sprintf("%s-%d", name, s.updateNo)
	u := &update{}
	s.env.RegisterDelayedCallback(func() {
		u.sent, u.at = true, s.env.Now().UTC()
		s.env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
			OnAccept: func() { u.accepted = true },
			OnReject: func(err error) { u.rejected = err },
			OnComplete: func(v any, err error) {
				u.done, u.err = true, err
				if st, ok := v.(workflows.State); ok {
					u.state = st
				} else if err == nil {
					u.err = fmt.Errorf("update result is %T, not workflows.State", v)
				}
			},
		}, in)
	}, after)
	return u
}

// requireCompleted asserts an update was accepted and completed, and returns its State.
func (s *MedicationRequestTestSuite) requireCompleted(u *update) workflows.State {
	s.T().Helper()
	s.Require().True(u.sent, "update never sent")
	s.Require().NoError(u.rejected)
	s.Require().True(u.accepted, "update not accepted")
	s.Require().True(u.done, "update not completed")
	s.Require().NoError(u.err)
	return u.state
}

// requireRejected asserts an update was refused by its validator with the given error type
// and message.
func (s *MedicationRequestTestSuite) requireRejected(u *update, errType, msg string) {
	s.T().Helper()
	s.Require().True(u.sent, "update never sent")
	s.Require().False(u.accepted, "update was accepted")
	s.Require().Error(u.rejected)
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(u.rejected, &appErr), "rejection is %T: %v", u.rejected, u.rejected)
	s.Equal(errType, appErr.Type())
	s.Equal(msg, appErr.Message())
}

// snapshot is one StateQuery answer taken mid-flight.
type snapshot struct {
	taken bool
	at    time.Time
	state workflows.State
	err   error
}

// queryAt schedules a StateQuery at the given offset from the workflow start.
func (s *MedicationRequestTestSuite) queryAt(after time.Duration) *snapshot {
	q := &snapshot{}
	s.env.RegisterDelayedCallback(func() {
		q.taken, q.at = true, s.env.Now().UTC()
		v, err := s.env.QueryWorkflow(workflows.StateQuery)
		if err == nil {
			err = v.Get(&q.state)
		}
		q.err = err
	}, after)
	return q
}

func (s *MedicationRequestTestSuite) requireSnapshot(q *snapshot) workflows.State {
	s.T().Helper()
	s.Require().True(q.taken, "query never ran")
	s.Require().NoError(q.err)
	return q.state
}

// tr builds an expected transition. Actions that always end a request for the same cause
// carry that cause's reason code; trc gives one explicitly.
func tr(seq int32, from, to workflows.Status, action string, by pyxis.Actor, at time.Time, reason string) workflows.Transition {
	code := map[string]workflows.ReasonCode{
		"rejected": workflows.ReasonRejected, "cancelled": workflows.ReasonCancelled,
		"approval_deadline_passed": workflows.ReasonApprovalExpired, "withdrawal_window_passed": workflows.ReasonWithdrawalExpired,
		"workflow_cancelled": workflows.ReasonWorkflowCancelled, "reserve_failed": workflows.ReasonInsufficientStock,
	}[action]
	return trc(seq, from, to, action, by, at, code, reason)
}

func trc(seq int32, from, to workflows.Status, action string, by pyxis.Actor, at time.Time, code workflows.ReasonCode, reason string) workflows.Transition {
	return workflows.Transition{Seq: seq, From: from, To: to, Action: action, Actor: by, At: at, Reason: reason, ReasonCode: code}
}

// assertRecorded checks that exactly the given transitions were written, in order, once
// each, and that only the first carries the projection header.
func (s *MedicationRequestTestSuite) assertRecorded(in workflows.Input, want []workflows.Transition) {
	s.T().Helper()
	expected := make([]pyxis.Transition, len(want))
	for i, t := range want {
		expected[i] = pyxis.Transition{
			RequestID:  requestID,
			Seq:        t.Seq,
			From:       string(t.From),
			Status:     string(t.To),
			Action:     t.Action,
			Reason:     t.Reason,
			ReasonCode: string(t.ReasonCode),
			Actor:      t.Actor,
			At:         t.At,
			Details:    map[string]any{"from": string(t.From)},
		}
		// A reason the workflow knows is in the audit details; a refused admission's words
		// are the shortage's, which only the admission itself learns.
		if t.Reason != "" && t.Action != "reserve_failed" {
			expected[i].Details["reason"] = t.Reason
		}
	}
	if len(expected) > 0 {
		header := in.RequestHeader
		expected[0].Header = &header
	}
	// Deadlines, notes and vends have tests of their own.
	got := s.fake.recorded()
	for i := range got {
		got[i].ApprovalDeadline, got[i].WithdrawalDeadline, got[i].Note, got[i].Vended = nil, nil, "", nil
	}
	s.Equal(expected, got)
}

// expectedCabinetInput is the command every cabinet activity must receive for validInput.
func expectedCabinetInput(in workflows.Input) activities.CabinetInput {
	return activities.CabinetInput{RequestID: requestID, RequestHeader: in.RequestHeader}
}

// requirePrepared checks that every cabinet command prepared its order from in.
func (s *MedicationRequestTestSuite) requirePrepared(in workflows.Input) {
	s.T().Helper()
	got := s.fake.cabinetInputs("PrepareOrder")
	s.Require().NotEmpty(got)
	for _, c := range got {
		s.Equal(expectedCabinetInput(in), c)
	}
}

// fakeActivities stands in for activities.Activities. Every call is logged in order (record
// calls with their sequence number) with its input; the error fields choose each call's
// outcome by its 1-based attempt number, nil meaning success.
type fakeActivities struct {
	mu      sync.Mutex
	log     []string
	records []pyxis.Transition
	reserve []reservation
	vends   []pyxis.Vend
	cabinet map[string][]activities.CabinetInput
	// stock holds, per stock change, the requests whose steps carried it.
	stock  map[pyxis.StockChange][]string
	counts map[string]int
	// sent holds the input of every attempt of each cabinet command.
	sent map[string][]activities.Delivery

	reserveErr, authorizeErr, revokeErr, stepErr, prepareErr func(attempt int) error
}

func (f *fakeActivities) enter(entry, name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counts == nil {
		f.counts = map[string]int{}
		f.cabinet = map[string][]activities.CabinetInput{}
		f.stock = map[pyxis.StockChange][]string{}
	}
	f.log = append(f.log, entry)
	f.counts[name]++
	return f.counts[name]
}

func outcome(fn func(int) error, attempt int) error {
	if fn == nil {
		return nil
	}
	return fn(attempt)
}

// reservation is what an admission asked to reserve.
type reservation struct {
	requestID string
	cabinetID int64
	lines     []pyxis.Line
}

// admit stands in for Admit: reserveErr decides the reservation by attempt; an
// InsufficientStock application error is the business outcome (recorded refused), any other
// error fails the attempt.
func (f *fakeActivities) admit(_ context.Context, in pyxis.Admission) (*activities.AdmitResult, error) {
	n := f.enter("Admit", "Admit")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reserve = append(f.reserve, reservation{requestID: in.RequestID, cabinetID: in.CabinetID, lines: in.Lines})
	err := outcome(f.reserveErr, n)
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &appErr) && appErr.Type() == activities.ErrInsufficientStock:
		refused := in.Refused
		refused.Reason = appErr.Message()
		f.records = append(f.records, in.Submitted, refused)
		return &activities.AdmitResult{Reason: appErr.Message()}, nil
	case err != nil:
		return nil, err
	}
	f.records = append(f.records, in.Submitted, in.Reserved)
	return &activities.AdmitResult{Reserved: true}, nil
}

// recordStep stands in for RecordStep; it is logged as RecordStep#<seqs>[/<stock change>].
func (f *fakeActivities) recordStep(_ context.Context, in pyxis.Step) (*activities.StockResult, error) {
	var seqs []string
	for _, t := range in.Transitions {
		seqs = append(seqs, fmt.Sprint(t.Seq))
	}
	entry := "RecordStep#" + strings.Join(seqs, ",")
	if in.Stock != "" {
		entry += "/" + string(in.Stock)
	}
	if err := outcome(f.stepErr, f.enter(entry, "RecordStep")); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = append(f.records, in.Transitions...)
	f.vends = append(f.vends, in.Vends...)
	if in.Stock != "" {
		f.stock[in.Stock] = append(f.stock[in.Stock], in.RequestID)
	}
	return &activities.StockResult{}, nil
}

// prepareOrder stands in for PrepareOrder: the order is the command's input, kept so tests can
// check it; it is not logged among the calls (every cabinet attempt prepares one).
func (f *fakeActivities) prepareOrder(_ context.Context, in activities.CabinetInput) (*cabinet.Order, error) {
	n := f.enter("", "PrepareOrder")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = f.log[:len(f.log)-1]
	if err := outcome(f.prepareErr, n); err != nil {
		return nil, err
	}
	f.cabinet["PrepareOrder"] = append(f.cabinet["PrepareOrder"], in)
	return &cabinet.Order{RequestID: in.RequestID, CabinetCode: "ICU-A3", Status: "online", PatientMRN: in.Patient.MRN}, nil
}

// dispenseOrder and withdrawOrder stand in for the cabinet commands; authorizeErr and
// revokeErr decide them by attempt.
func (f *fakeActivities) dispenseOrder(_ context.Context, d activities.Delivery) error {
	f.keep("DispenseOrder", d)
	return outcome(f.authorizeErr, f.enter("DispenseOrder", "DispenseOrder"))
}

func (f *fakeActivities) withdrawOrder(_ context.Context, d activities.Delivery) error {
	f.keep("WithdrawOrder", d)
	return outcome(f.revokeErr, f.enter("WithdrawOrder", "WithdrawOrder"))
}

// keep keeps a cabinet command's input, so tests can check what each attempt sent.
func (f *fakeActivities) keep(name string, d activities.Delivery) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sent == nil {
		f.sent = map[string][]activities.Delivery{}
	}
	f.sent[name] = append(f.sent[name], d)
}

// deliveries returns the inputs of every attempt of a cabinet command.
func (f *fakeActivities) deliveries(name string) []activities.Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]activities.Delivery(nil), f.sent[name]...)
}

// calls is the order in which activities ran.
func (f *fakeActivities) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fakeActivities) recordedVends() []pyxis.Vend {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pyxis.Vend(nil), f.vends...)
}

func (f *fakeActivities) recorded() []pyxis.Transition {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pyxis.Transition(nil), f.records...)
}

func (f *fakeActivities) cabinetInputs(name string) []activities.CabinetInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]activities.CabinetInput(nil), f.cabinet[name]...)
}

// stockChanges lists the requests whose steps carried the stock change.
func (f *fakeActivities) stockChanges(change pyxis.StockChange) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.stock[change]...)
}

// always fails every attempt with err.
func always(err error) func(int) error { return func(int) error { return err } }

// failFirst fails the first n attempts with err, then succeeds.
func failFirst(n int, err error) func(int) error {
	return func(attempt int) error {
		if attempt <= n {
			return err
		}
		return nil
	}
}

// at returns a pointer to t, for expected deadlines.
func at(t time.Time) *time.Time { return &t }
