package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/workflows"
)

const (
	restockID = "restock-3-11"
	taskID    = 42
)

// RestockTestSuite runs the Restock workflow in the SDK's in-memory environment with fake
// refill activities.
type RestockTestSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite

	env  *testsuite.TestWorkflowEnvironment
	fake *fakeRefills
	// openCall is the OpenRefillTask mock, kept so a test can make it take time.
	openCall *testsuite.MockCallWrapper
}

func TestRestock(t *testing.T) {
	suite.Run(t, new(RestockTestSuite))
}

func (s *RestockTestSuite) SetupTest()    { s.reset() }
func (s *RestockTestSuite) SetupSubTest() { s.reset() }

func (s *RestockTestSuite) reset() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetStartTime(t0)
	s.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: restockID, TaskQueue: "medication-requests"})
	s.fake = &fakeRefills{open: pyxis.OpenedRefill{TaskID: taskID, RequestedQty: 6, OnHand: 4, ParLevel: 10}}
	s.env.RegisterActivity(&activities.Activities{})
	s.openCall = s.env.OnActivity(a.OpenRefillTask, mock.Anything, mock.Anything).Return(s.fake.openRefillTask)
	s.env.OnActivity(a.CompleteRefill, mock.Anything, mock.Anything).Return(s.fake.completeRefill)
	s.env.OnActivity(a.CancelRefill, mock.Anything, mock.Anything).Return(s.fake.cancelRefill)
	s.env.OnActivity(a.AuditRefill, mock.Anything, mock.Anything).Return(s.fake.auditRefill)
}

func restockInput() workflows.RestockInput {
	return workflows.RestockInput{CabinetID: cabinetID, MedicationID: 11}
}

// confirm schedules a ConfirmRefillUpdate at the given offset from the start.
func (s *RestockTestSuite) confirm(after time.Duration, in workflows.ConfirmRefillInput) *restockUpdate {
	u := &restockUpdate{}
	s.env.RegisterDelayedCallback(func() {
		u.sent = true
		s.env.UpdateWorkflow(workflows.ConfirmRefillUpdate, fmt.Sprintf("confirm-%p", u), &testsuite.TestUpdateCallback{
			OnAccept: func() { u.accepted = true },
			OnReject: func(err error) { u.rejected = err },
			OnComplete: func(v any, err error) {
				u.err = err
				if st, ok := v.(workflows.RestockState); ok {
					u.state = st
				}
			},
		}, in)
	}, after)
	return u
}

type restockUpdate struct {
	sent, accepted bool
	rejected, err  error
	state          workflows.RestockState
}

func (s *RestockTestSuite) requireRejected(u *restockUpdate, errType, msg string) {
	s.T().Helper()
	s.Require().True(u.sent, "update never sent")
	s.Require().False(u.accepted, "update was accepted")
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(u.rejected, &appErr), "rejection is %T: %v", u.rejected, u.rejected)
	s.Equal(errType, appErr.Type())
	s.Equal(msg, appErr.Message())
}

func (s *RestockTestSuite) result() workflows.RestockState {
	s.T().Helper()
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var st workflows.RestockState
	s.Require().NoError(s.env.GetWorkflowResult(&st))
	return st
}

// A technician's confirmation loads the quantity, closes the task, and ends the restock.
func (s *RestockTestSuite) TestRefillConfirmed() {
	confirmedAt := t0.Add(90 * time.Minute)
	u := s.confirm(90*time.Minute, workflows.ConfirmRefillInput{Actor: technician, Quantity: 5, Source: workflows.RefillSourceAPI, TaskID: taskID})
	s.fake.onHand = 9

	s.env.ExecuteWorkflow(workflows.Restock, restockInput())

	s.Require().NoError(u.rejected)
	s.Require().NoError(u.err)
	s.Equal(workflows.RestockRefilling, u.state.Status)
	st := s.result()
	s.Equal(workflows.RestockState{
		ID: restockID, Status: workflows.RestockDone, CabinetID: cabinetID, MedicationID: 11, TaskID: taskID,
		RequestedQuantity: 6, LoadedQuantity: 5, OnHandAfter: 9, ConfirmedBy: &technician,
		Source: workflows.RefillSourceAPI, CreatedAt: t0, UpdatedAt: confirmedAt, ConfirmedAt: &confirmedAt,
	}, st)
	s.Equal([]activities.OpenRefillInput{{CabinetID: cabinetID, MedicationID: 11, WorkflowID: restockID,
		Actor: pyxis.Actor{ID: "system", Role: pyxis.RoleSystem}}}, s.fake.opens)
	s.Equal([]pyxis.RefillCompletion{{TaskID: taskID, Quantity: 5, Source: "api", At: confirmedAt,
		Actor: pyxis.Actor{ID: technician.ID, Role: technician.Role}}}, s.fake.completes)
	s.Empty(s.fake.audits)
}

// The cabinet's load report confirms a refill with its message control id.
func (s *RestockTestSuite) TestRefillConfirmedByCabinet() {
	s.confirm(time.Minute, workflows.ConfirmRefillInput{Actor: cabinetBot, Quantity: 6, Source: workflows.RefillSourceCabinet, MessageControlID: "MSG-1"})

	s.env.ExecuteWorkflow(workflows.Restock, restockInput())

	s.Equal(workflows.RestockDone, s.result().Status)
	s.Require().Len(s.fake.completes, 1)
	s.Equal("MSG-1", s.fake.completes[0].CabinetMessageID)
	s.Equal("cabinet", s.fake.completes[0].Source)
}

// Confirmations the validator refuses change nothing; the first valid one wins.
func (s *RestockTestSuite) TestConfirmRefused() {
	valid := workflows.ConfirmRefillInput{Actor: technician, Quantity: 6, Source: workflows.RefillSourceAPI}
	withQty := func(q int32) workflows.ConfirmRefillInput { c := valid; c.Quantity = q; return c }
	zero := s.confirm(time.Minute, withQty(0))
	huge := s.confirm(time.Minute, withQty(workflows.MaxRefillQuantity+1))
	byNurse := s.confirm(time.Minute, workflows.ConfirmRefillInput{Actor: nurse, Quantity: 6, Source: "api"})
	byPharmacist := s.confirm(time.Minute, workflows.ConfirmRefillInput{Actor: pharmacist, Quantity: 6, Source: "api"})
	oldTask := s.confirm(time.Minute, workflows.ConfirmRefillInput{Actor: technician, Quantity: 6, Source: "api", TaskID: 7})
	noSource := s.confirm(time.Minute, workflows.ConfirmRefillInput{Actor: technician, Quantity: 6})
	first := s.confirm(2*time.Minute, valid)
	second := s.confirm(2*time.Minute, withQty(3))

	s.env.ExecuteWorkflow(workflows.Restock, restockInput())

	const qtyMsg = "the quantity loaded must be between 1 and 10000"
	s.requireRejected(zero, workflows.ErrInvalidInput, qtyMsg)
	s.requireRejected(huge, workflows.ErrInvalidInput, qtyMsg)
	s.requireRejected(byNurse, workflows.ErrForbidden, "only a technician, an admin or the cabinet may confirm a refill")
	s.requireRejected(byPharmacist, workflows.ErrForbidden, "only a technician, an admin or the cabinet may confirm a refill")
	s.requireRejected(oldTask, workflows.ErrInvalidState, "refill task 7 is not the open task of this pocket")
	s.requireRejected(noSource, workflows.ErrInvalidInput, `unknown refill source ""`)
	s.True(first.accepted)
	s.requireRejected(second, workflows.ErrInvalidState, "the restock of this pocket is refilling, not awaiting a refill")
	s.Equal(int32(6), s.result().LoadedQuantity)
	s.Len(s.fake.completes, 1)
}

// A refill that does not come keeps the task open and is audited as overdue every interval.
func (s *RestockTestSuite) TestOverdueRefillEscalatesAndKeepsWaiting() {
	in := restockInput()
	in.EscalateEvery = 4 * time.Hour
	s.confirm(13*time.Hour, workflows.ConfirmRefillInput{Actor: technician, Quantity: 6, Source: "api"})

	s.env.ExecuteWorkflow(workflows.Restock, in)

	st := s.result()
	s.Equal(workflows.RestockDone, st.Status)
	s.Equal(3, st.Escalations)
	s.Require().Len(s.fake.audits, 3)
	for i, au := range s.fake.audits {
		s.Equal("refill_overdue", au.Action)
		s.Equal(t0.Add(time.Duration(i+1)*4*time.Hour), au.At)
		s.Equal(fmt.Sprintf("%dh0m0s", (i+1)*4), au.Details["waited"])
		s.Contains(au.IdemKey, fmt.Sprintf("%s/", restockID))
		s.Contains(au.IdemKey, fmt.Sprintf("/overdue/%d", i+1))
	}
}

// A confirmation that names the task is taken while the task is still being opened; one
// that names no task is refused until the task is open.
func (s *RestockTestSuite) TestConfirmWhileOpening() {
	s.openCall.After(time.Minute)
	anonymous := s.confirm(30*time.Second, workflows.ConfirmRefillInput{Actor: cabinetBot, Quantity: 6, Source: "cabinet"})
	named := s.confirm(30*time.Second, workflows.ConfirmRefillInput{Actor: cabinetBot, Quantity: 6, Source: "cabinet", TaskID: taskID})

	s.env.ExecuteWorkflow(workflows.Restock, restockInput())

	s.requireRejected(anonymous, workflows.ErrInvalidState, "the restock of this pocket is opening, not awaiting a refill")
	s.True(named.accepted)
	st := s.result()
	s.Equal(workflows.RestockDone, st.Status)
	s.Equal(t0.Add(time.Minute), st.UpdatedAt, "completed as soon as the task was open")
	s.Len(s.fake.completes, 1)
	s.Empty(s.fake.audits)
}

// The default escalation interval is eight hours.
func (s *RestockTestSuite) TestDefaultEscalation() {
	s.confirm(17*time.Hour, workflows.ConfirmRefillInput{Actor: technician, Quantity: 6, Source: "api"})
	s.env.ExecuteWorkflow(workflows.Restock, restockInput())
	s.Equal(2, s.result().Escalations)
}

// A pocket back at par by the time the restock runs needs no task.
func (s *RestockTestSuite) TestNotNeeded() {
	s.fake.open = pyxis.OpenedRefill{NotNeeded: true, OnHand: 10, ParLevel: 10}
	late := s.confirm(time.Minute, workflows.ConfirmRefillInput{Actor: technician, Quantity: 6, Source: "api"})

	s.env.ExecuteWorkflow(workflows.Restock, restockInput())

	s.Equal(workflows.RestockNotNeeded, s.result().Status)
	s.False(late.accepted)
	s.Empty(s.fake.completes)
}

// Cancelling the run in Temporal cancels an unconfirmed task, and still applies a confirmed one.
func (s *RestockTestSuite) TestTemporalCancellation() {
	s.Run("awaiting refill", func() {
		s.env.RegisterDelayedCallback(s.env.CancelWorkflow, time.Hour)
		s.env.ExecuteWorkflow(workflows.Restock, restockInput())
		s.True(temporal.IsCanceledError(s.env.GetWorkflowError()))
		s.Equal([]activities.CancelRefillInput{{TaskID: taskID, Actor: pyxis.Actor{ID: "system", Role: "system"},
			Reason: "the restock workflow was cancelled in Temporal"}}, s.fake.cancels)
		s.Empty(s.fake.completes)
	})
	s.Run("refilling", func() {
		// The cancellation arrives in the same instant as the confirmation, before the stock is updated.
		s.confirm(time.Hour, workflows.ConfirmRefillInput{Actor: technician, Quantity: 6, Source: "api"})
		s.env.RegisterDelayedCallback(s.env.CancelWorkflow, time.Hour)
		s.env.ExecuteWorkflow(workflows.Restock, restockInput())
		s.True(temporal.IsCanceledError(s.env.GetWorkflowError()))
		s.Empty(s.fake.cancels)
		s.Len(s.fake.completes, 1, "the confirmed refill is applied")
	})
}

func (s *RestockTestSuite) TestInvalidInput() {
	s.env.ExecuteWorkflow(workflows.Restock, workflows.RestockInput{CabinetID: cabinetID})
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(s.env.GetWorkflowError(), &appErr))
	s.Equal(workflows.ErrInvalidInput, appErr.Type())
	s.Empty(s.fake.opens)
}

// fakeRefills stands in for the refill activities and records their inputs. Like the store,
// it applies a task's completion once: completes holds the completions that were applied,
// and a second one for the same task returns Applied false. (When the run is cancelled in
// the instant of a confirmation, the cancelled CompleteRefill may already be running in the
// test environment while the compensation sends it again.)
type fakeRefills struct {
	mu        sync.Mutex
	open      pyxis.OpenedRefill
	onHand    int32
	opens     []activities.OpenRefillInput
	completes []pyxis.RefillCompletion
	cancels   []activities.CancelRefillInput
	audits    []activities.RefillAuditInput
}

func (f *fakeRefills) openRefillTask(_ context.Context, in activities.OpenRefillInput) (*pyxis.OpenedRefill, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens = append(f.opens, in)
	res := f.open
	return &res, nil
}

func (f *fakeRefills) completeRefill(_ context.Context, in pyxis.RefillCompletion) (*pyxis.CompletedRefill, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, done := range f.completes {
		if done.TaskID == in.TaskID {
			return &pyxis.CompletedRefill{Applied: false}, nil
		}
	}
	f.completes = append(f.completes, in)
	return &pyxis.CompletedRefill{Applied: true, OnHandAfter: f.onHand}, nil
}

func (f *fakeRefills) cancelRefill(_ context.Context, in activities.CancelRefillInput) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels = append(f.cancels, in)
	return nil
}

func (f *fakeRefills) auditRefill(_ context.Context, in activities.RefillAuditInput) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audits = append(f.audits, in)
	return nil
}

// A consume that leaves a pocket below par starts a Restock child for that pocket only, and
// the request still ends dispensed.
func (s *MedicationRequestTestSuite) TestConsumeBelowParStartsRestock() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetStartTime(t0)
	s.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: requestID, TaskQueue: "medication-requests"})
	s.env.RegisterActivity(&activities.Activities{})
	s.env.OnActivity(a.Admit, mock.Anything, mock.Anything).Return(s.fake.admit)
	s.env.OnActivity(a.PrepareOrder, mock.Anything, mock.Anything).Return(s.fake.prepareOrder)
	s.env.OnActivity(a.DispenseOrder, mock.Anything, mock.Anything).Return(s.fake.dispenseOrder)
	s.env.OnActivity(a.RecordStep, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in pyxis.Step) (*activities.StockResult, error) {
			if len(in.Vends) == 0 {
				return &activities.StockResult{}, nil
			}
			return &activities.StockResult{
				Lines: []pyxis.Line{{MedicationID: 11, Quantity: 2}, {MedicationID: 12, Quantity: 1}},
				Levels: []activities.StockLevel{
					{MedicationID: 11, OnHand: 3, ParLevel: 5},
					{MedicationID: 12, OnHand: 5, ParLevel: 5},
				},
			}, nil
		})
	var mu sync.Mutex
	var started []string
	var inputs []workflows.RestockInput
	s.env.RegisterWorkflowWithOptions(workflows.Restock, workflow.RegisterOptions{Name: "Restock"})
	s.env.OnWorkflow("Restock", mock.Anything, mock.Anything).Return(
		func(ctx workflow.Context, in workflows.RestockInput) (*workflows.RestockState, error) {
			mu.Lock()
			defer mu.Unlock()
			started = append(started, workflow.GetInfo(ctx).WorkflowExecution.ID)
			inputs = append(inputs, in)
			return &workflows.RestockState{Status: workflows.RestockDone}, nil
		})
	s.sendUpdate(10*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist})
	s.sendUpdate(20*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(validInput())

	s.Equal(workflows.StatusDispensed, s.finalState().Status)
	s.Equal([]string{"restock-3-11"}, started, "only the pocket below par is restocked")
	s.Equal([]workflows.RestockInput{{CabinetID: cabinetID, MedicationID: 11}}, inputs)
}

// A withdrawal that leaves every pocket at par (the fake step reports no level below it)
// starts nothing.
func (s *MedicationRequestTestSuite) TestConsumeAtParStartsNoRestock() {
	s.env.RegisterWorkflowWithOptions(workflows.Restock, workflow.RegisterOptions{Name: "Restock"})
	s.sendUpdate(10*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist})
	s.sendUpdate(20*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(validInput())

	s.Equal(workflows.StatusDispensed, s.finalState().Status)
	s.env.AssertWorkflowNumberOfCalls(s.T(), "Restock", 0)
}

// A wait long enough for the server to suggest it continues as new, carrying the open task,
// its escalations and the next one's time; the new run opens no second task, audits the next
// escalation on time, and a confirmation after it completes the refill.
func (s *RestockTestSuite) TestLongWaitContinuesAsNew() {
	in := restockInput()
	in.EscalateEvery = 4 * time.Hour
	// The server suggests it after the second escalation; the run notices when it next wakes.
	s.env.RegisterDelayedCallback(func() { s.env.SetContinueAsNewSuggested(true) }, 9*time.Hour)

	s.env.ExecuteWorkflow(workflows.Restock, in)

	s.Require().True(s.env.IsWorkflowCompleted())
	var next *workflow.ContinueAsNewError
	s.Require().ErrorAs(s.env.GetWorkflowError(), &next)
	s.Equal(workflows.RestockName, next.WorkflowType.Name)
	var carried workflows.RestockInput
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(next.Input, &carried))
	s.Equal(workflows.RestockInput{CabinetID: cabinetID, MedicationID: 11, EscalateEvery: 4 * time.Hour,
		Continued: &workflows.RestockWait{TaskID: taskID, RequestedQuantity: 6, CreatedAt: t0, UpdatedAt: t0,
			Escalations: 3, NextEscalation: t0.Add(16 * time.Hour)}}, carried)
	s.Len(s.fake.opens, 1)
	s.Len(s.fake.audits, 3)
	s.Empty(s.fake.completes)

	// The next run, as the server starts it.
	first := s.fake
	s.reset()
	s.env.SetStartTime(t0.Add(12 * time.Hour))
	queried := s.queryState(time.Minute)
	u := s.confirm(5*time.Hour, workflows.ConfirmRefillInput{Actor: technician, Quantity: 6, Source: workflows.RefillSourceAPI, TaskID: taskID})

	s.env.ExecuteWorkflow(workflows.Restock, carried)

	s.Require().NoError(u.rejected)
	s.Equal(workflows.RestockAwaitingRefill, queried.Status)
	s.Equal(t0, queried.CreatedAt)
	st := s.result()
	s.Equal(workflows.RestockDone, st.Status)
	s.Equal(int64(taskID), st.TaskID)
	s.Equal(4, st.Escalations)
	s.Equal(t0, st.CreatedAt)
	s.Empty(s.fake.opens, "the open task is carried, not opened again")
	s.Require().Len(s.fake.audits, 1)
	s.Equal(t0.Add(16*time.Hour), s.fake.audits[0].At)
	s.Equal("16h0m0s", s.fake.audits[0].Details["waited"])
	s.Contains(s.fake.audits[0].IdemKey, "/overdue/4")
	s.Require().Len(s.fake.completes, 1)
	s.Equal(int64(taskID), s.fake.completes[0].TaskID)
	s.Len(first.completes, 0)
}

// A confirmation handled as the server suggests continuing as new completes the refill in the
// run it came to: the run continues as new only while it is still waiting.
func (s *RestockTestSuite) TestConfirmAsContinueAsNewIsSuggested() {
	s.env.RegisterDelayedCallback(func() { s.env.SetContinueAsNewSuggested(true) }, time.Hour)
	s.confirm(time.Hour, workflows.ConfirmRefillInput{Actor: technician, Quantity: 6, Source: workflows.RefillSourceAPI})

	s.env.ExecuteWorkflow(workflows.Restock, restockInput())

	s.Equal(workflows.RestockDone, s.result().Status)
	s.Len(s.fake.completes, 1)
}

// queryState schedules a StateQuery of the Restock at the given offset from the start.
func (s *RestockTestSuite) queryState(after time.Duration) *workflows.RestockState {
	st := &workflows.RestockState{}
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(workflows.StateQuery)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(st))
	}, after)
	return st
}
