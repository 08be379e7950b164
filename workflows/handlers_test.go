package workflows_test

import (
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis/workflows"
)

// slowUpdates is a worker interceptor under which every update handler keeps running for a
// minute after it changed the workflow's state, as a handler slowed by an interceptor
// (tracing, say) may.
type slowUpdates struct {
	interceptor.WorkerInterceptorBase
}

func (*slowUpdates) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	in := &slowUpdateInbound{}
	in.Next = next
	return in
}

type slowUpdateInbound struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (in *slowUpdateInbound) ExecuteUpdate(ctx workflow.Context, u *interceptor.UpdateInput) (any, error) {
	out, err := in.Next.ExecuteUpdate(ctx, u)
	if serr := workflow.Sleep(ctx, time.Minute); serr != nil {
		return nil, serr
	}
	return out, err
}

// The run does not end while an update handler still runs: the withdrawal that dispensed the
// request is answered even when its handler returns a minute after the last step was
// recorded, and the run ends then.
func (s *MedicationRequestTestSuite) TestRunWaitsForRunningUpdateHandlers() {
	s.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&slowUpdates{}}})
	approve := s.approveAt10()
	withdrawn := s.withdrawnAt(20 * time.Minute)

	s.execute(validInput())

	s.Equal(workflows.StatusApproved, s.requireCompleted(approve).Status)
	s.Equal(workflows.StatusDispensed, s.requireCompleted(withdrawn).Status)
	s.Equal(workflows.StatusDispensed, s.finalState().Status)
	s.Equal(t0.Add(21*time.Minute), s.env.Now().UTC(), "the run ended when the last handler returned")
}
