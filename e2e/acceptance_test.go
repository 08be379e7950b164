package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis"
	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/internal/metrics"
	"github.com/medreq/pyxis/service"
	"github.com/medreq/pyxis/worker"
	"github.com/medreq/pyxis/workflows"
)

// An update is durable only once the workflow task that handles it completes. Temporal
// refuses a completion that ends the run while something else arrived for it during the task
// (UNHANDLED_COMMAND: a deadline's timer firing, an activity completing), and then aborts
// every update the task had not accepted yet: the caller is told the workflow was not ready
// (503), and the retried task runs without the update. These tests provoke that on a worker of
// their own (the workflow is started on its task queue, so no other worker takes its tasks),
// and check that the request as the database keeps it is the request as its workflow holds
// it.

// taskFault injects a fault into the workflow, once and not while replaying: after a step (a
// RecordStep local activity or activity) that afterStep picks has committed, it runs act, in
// the workflow task; or, when the workflow schedules a step as an activity (the step of an
// update, since the change), it panics if atSchedule picks it, which fails the task that would
// have accepted the update, as a worker killed in it would.
type taskFault struct {
	interceptor.WorkerInterceptorBase
	afterStep  func(pyxis.Step) bool
	act        func()
	atSchedule func(pyxis.Step) bool
	fired      atomic.Bool
}

func (f *taskFault) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &taskFaultInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, f: f}
}

type taskFaultInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	f *taskFault
}

func (i *taskFaultInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&taskFaultOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, f: i.f})
}

type taskFaultOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	f *taskFault
}

func (o *taskFaultOutbound) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	return o.after(ctx, activityType, args, o.Next.ExecuteLocalActivity(ctx, activityType, args...))
}

func (o *taskFaultOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	if o.picks(ctx, o.f.atSchedule, activityType, args) && o.f.fired.CompareAndSwap(false, true) {
		panic("test fault: the workflow task fails before it completes")
	}
	return o.after(ctx, activityType, args, o.Next.ExecuteActivity(ctx, activityType, args...))
}

// after runs the fault's act once the step fut records has committed, if afterStep picks it.
func (o *taskFaultOutbound) after(ctx workflow.Context, activityType string, args []any, fut workflow.Future) workflow.Future {
	if !o.picks(ctx, o.f.afterStep, activityType, args) {
		return fut
	}
	if err := fut.Get(ctx, nil); err == nil && o.f.fired.CompareAndSwap(false, true) {
		o.f.act()
	}
	return fut
}

// picks reports whether an activity is a step that pick picks, outside a replay.
func (o *taskFaultOutbound) picks(ctx workflow.Context, pick func(pyxis.Step) bool, activityType string, args []any) bool {
	st, ok := args[0].(pyxis.Step)
	return ok && activityType == "RecordStep" && pick != nil && pick(st) && !workflow.IsReplaying(ctx)
}

// records reports whether a step records an action.
func records(action string) func(pyxis.Step) bool {
	return func(st pyxis.Step) bool {
		return slices.ContainsFunc(st.Transitions, func(t pyxis.Transition) bool { return t.Action == action })
	}
}

// startOnFaultyWorker starts a request for one line of f's first medication on a worker of its
// own that injects fault, with a short withdrawal window, and returns its id once it awaits
// approval.
func (c *apiClient) startOnFaultyWorker(f fixture, fault *taskFault) string {
	t := c.t
	t.Helper()
	queue := "task-fault-" + ulid.Make().String()
	cabinets, closeDrivers := service.NewCabinetDrivers(e2e.sim, service.Config{CabinetAckTimeout: time.Second})
	t.Cleanup(closeDrivers)
	w := sdkworker.New(e2e.workerClient, queue, sdkworker.Options{Interceptors: []interceptor.WorkerInterceptor{fault}})
	worker.Register(w, service.WorkerActivities(e2e.store, cabinets, true, metrics.New()))
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	id := "medreq-" + ulid.Make().String()
	in := workflows.Input{RequestHeader: pyxis.RequestHeader{
		Requester: pyxis.Actor{ID: "nurse-fault", Name: "nurse-fault name", Role: pyxis.RoleNurse},
		Patient:   pyxis.Patient{MRN: "MRN-FAULT1", Bed: "4C"},
		CabinetID: f.cabinetID, Priority: pyxis.PriorityStat, RequiredApprovals: 1,
		Lines: []pyxis.Line{{MedicationID: f.meds[0], Quantity: 2}},
	}, CabinetCode: f.cabinetCode, Policy: workflows.Policy{
		ApprovalTimeout: 10 * time.Minute, WithdrawalTimeout: 3 * time.Second, CabinetRetryInterval: 100 * time.Millisecond,
	}}
	_, err := e2e.tc.ExecuteWorkflow(t.Context(), client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.MedicationRequestName, in)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e2e.tc.TerminateWorkflow(context.Background(), id, "", "test over") })
	c.waitStatus(id, c.token("pharm-fault", pyxis.RolePharmacist), "awaiting_approval")
	return id
}

// agrees waits until the request's transitions in the database are the ones its workflow
// holds, seq by seq, and the status too, and returns the view.
func (c *apiClient) agrees(id, token string) apiclient.RequestView {
	c.t.Helper()
	var view apiclient.RequestView
	require.EventuallyWithT(c.t, func(t *assert.CollectT) {
		resp, err := c.api.GetRequestWithResponse(context.Background(), id, &apiclient.GetRequestParams{}, as(token))
		if !assert.NoError(t, err) || !assert.Equal(t, http.StatusOK, resp.StatusCode()) {
			return
		}
		view = *resp.JSON200
		q, err := e2e.tc.QueryWorkflow(context.Background(), id, "", workflows.StateQuery)
		if !assert.NoError(t, err) {
			return
		}
		var st workflows.State
		if !assert.NoError(t, q.Get(&st)) {
			return
		}
		assert.Equal(t, string(st.Status), string(view.Status))
		assert.Equal(t, workflowTransitions(st.Transitions), viewTransitions(view))
	}, 20*time.Second, 100*time.Millisecond, "request %s: the database does not agree with the workflow", id)
	return view
}

func workflowTransitions(ts []workflows.Transition) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = fmt.Sprintf("%d %s by %s → %s", t.Seq, t.Action, t.Actor.ID, t.To)
	}
	return out
}

func viewTransitions(v apiclient.RequestView) []string {
	var out []string
	if v.Transitions != nil {
		for _, t := range *v.Transitions {
			out = append(out, fmt.Sprintf("%d %s by %s → %s", t.Seq, t.Action, t.Actor.Id, t.To))
		}
	}
	return out
}

// nudge sends the request a signal it does not listen for: an event that arrives while a
// workflow task is running, as a deadline's timer firing or an activity completing would.
func nudge(t *testing.T, id string) func() {
	return func() {
		require.NoError(t, e2e.tc.SignalWorkflow(context.Background(), id, "", "test-nudge", nil))
	}
}

// A rejection's step commits (the projection says rejected, the stock is released), then an
// event arrives before the task completes, and Temporal refuses the completion that ends the
// run. Since recordAfterAcceptance the step runs in a task after the one that accepted the
// rejection, so the rejection is durable already: the retried task completes it, the
// pharmacist's answer is 202, and the database holds what the workflow does. Before, the
// task that handled the rejection ran its step: Temporal aborted the rejection (503), the
// retried task ran without it, and the database kept it: rejected there with the stock
// released, awaiting approval in the workflow, and an approval after it skipped as a retry of
// the step at the same seq, its request sent to the cabinet with nothing reserved.
func TestARejectionWhoseCompletionIsRefusedAfterItsStepIsKept(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(6)
	fault := &taskFault{afterStep: records("rejected")}
	id := c.startOnFaultyWorker(f, fault)
	fault.act = nudge(t, id)
	pharmacist := c.token("pharm-fault", pyxis.RolePharmacist)

	resp, err := c.api.RejectRequestWithResponse(t.Context(), id, apiclient.ReasonBody{Reason: ptr("duplicate order")}, as(pharmacist))
	require.NoError(t, err)
	require.True(t, fault.fired.Load(), "the fault was not injected")
	view := c.agrees(id, pharmacist)
	require.Equal(t, http.StatusAccepted, resp.StatusCode(), "%s", resp.Body)
	assert.Equal(t, apiclient.RequestStatus("rejected"), view.Status)
	c.endedOnce(f, id, pharmacist, "rejected")
}

// The approval, which does not end the run: its step commits, then the task fails (the
// worker dies in it). A task the worker fails keeps the updates it carried (Temporal delivers
// them again), before the change as since: the retried step records nothing twice, and the
// request goes on to the cabinet and, no one withdrawing, ends expired with nothing held.
func TestAnApprovalWhoseTaskFailsAfterItsStepIsKept(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(6)
	fault := &taskFault{afterStep: records("approved"), act: func() { panic("test fault: the workflow task fails after its step committed") }}
	id := c.startOnFaultyWorker(f, fault)
	pharmacist := c.token("pharm-fault", pyxis.RolePharmacist)

	resp, err := c.api.ApproveRequestWithResponse(t.Context(), id, apiclient.NoteBody{}, as(pharmacist))
	require.NoError(t, err)
	require.True(t, fault.fired.Load(), "the fault was not injected")
	require.Equal(t, http.StatusAccepted, resp.StatusCode(), "%s", resp.Body)
	c.agrees(id, pharmacist)

	c.waitStatus(id, pharmacist, "expired")
	view := c.agrees(id, pharmacist)
	assert.Contains(t, viewTransitions(view), "3 approved by pharm-fault → approved")
	c.endedOnce(f, id, pharmacist, "approved")
}

// The task that accepts an approval fails before it completes (the worker dies as it
// schedules the approval's step): the approval was seen but not accepted, and Temporal
// delivers it again to the retried task, which records it once.
func TestAnApprovalWhoseTaskFailsBeforeAcceptanceIsRecordedOnce(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(6)
	fault := &taskFault{atSchedule: records("approved")}
	id := c.startOnFaultyWorker(f, fault)
	pharmacist := c.token("pharm-fault", pyxis.RolePharmacist)

	c.approve(id, pharmacist)
	require.True(t, fault.fired.Load(), "the fault was not injected")
	c.waitStatus(id, pharmacist, "ready_at_cabinet")
	c.agrees(id, pharmacist)
	assert.Equal(t, 1, countOf(c.auditActions(id, pharmacist), "approved"))
}

// endedOnce checks that the ended request id holds no stock of f and that its audit trail
// records action once.
func (c *apiClient) endedOnce(f fixture, id, token, action string) {
	c.t.Helper()
	_, reserved := c.stock(f, f.meds[0])
	assert.Zero(c.t, reserved, "the ended request still holds stock")
	assert.Equal(c.t, 1, countOf(c.auditActions(id, token), action), "%s audited other than once", action)
}

func countOf(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

// Two pharmacists decide on the same requests at the same moment, one rejecting and one
// approving a moment later, with no fault injected: each request takes one decision, the
// other pharmacist is told it came too late (409), the database holds what the workflow took,
// and the stock held is the approved requests'. An update that arrives while another's task
// runs does not make Temporal refuse that task (only an event does, which the rejection test
// above provokes), so this passed before the change too: it guards the answers and the ledger
// now that each decision's step is an activity of its own.
func TestTwoPharmacistsDecidingAtOnceLeaveOneDecision(t *testing.T) {
	const n = 30
	c := newAPI(t, testConfig())
	f := c.fixture(2 * n)
	nurse := c.token("nurse-race", pyxis.RoleNurse)
	approver, rejecter := c.token("pharm-race-a", pyxis.RolePharmacist), c.token("pharm-race-r", pyxis.RolePharmacist)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = c.create(f, nurse, 2)
	}
	for _, id := range ids {
		c.waitStatus(id, approver, "awaiting_approval")
	}

	answers := make([][2]int, n)
	var wg sync.WaitGroup
	for i, id := range ids {
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			// The approval follows the rejection by 0 to n-1 ms, so either may come first.
			time.Sleep(time.Duration(i) * time.Millisecond)
			resp, err := c.api.ApproveRequestWithResponse(context.Background(), id, apiclient.NoteBody{}, as(approver))
			if assert.NoError(t, err) {
				answers[i][0] = resp.StatusCode()
			}
		}()
		go func() {
			defer wg.Done()
			<-start
			resp, err := c.api.RejectRequestWithResponse(context.Background(), id, apiclient.ReasonBody{Reason: ptr("duplicate order")}, as(rejecter))
			if assert.NoError(t, err) {
				answers[i][1] = resp.StatusCode()
			}
		}()
		close(start)
	}
	wg.Wait()

	approved := 0
	for i, id := range ids {
		view := c.agrees(id, approver)
		ans := answers[i]
		switch view.Status {
		case "rejected":
			assert.Equal(t, [2]int{http.StatusConflict, http.StatusAccepted}, ans, "request %s rejected", id)
		case "approved", "ready_at_cabinet":
			approved++
			assert.Equal(t, [2]int{http.StatusAccepted, http.StatusConflict}, ans, "request %s approved", id)
		default:
			t.Errorf("request %s is %s after an approval and a rejection", id, view.Status)
		}
	}
	t.Logf("%d approved, %d rejected", approved, n-approved)
	_, reserved := c.stock(f, f.meds[0])
	assert.Equal(t, 2*approved, reserved, "the stock held is not the approved requests'")

	// The approved ones wait at the cabinet: cancelled, so they hold nothing after the test.
	for _, id := range ids {
		_, _ = c.api.CancelRequestWithResponse(context.Background(), id, apiclient.ReasonBody{Reason: ptr("test over")}, as(nurse))
	}
}
