package loadtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// TestBaselineTakesTheLifecyclesSteps runs the bare workflow with each number of steps and
// counts the activities it ran, and the order they ran in against the two updates: the
// approval's step before the approval answers, the order after it, the withdrawal's step
// before the withdrawal answers.
func TestBaselineTakesTheLifecyclesSteps(t *testing.T) {
	for k := 0; k <= MaxBaselineActivities; k++ {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflowWithOptions(BaselineWorkflow, workflow.RegisterOptions{Name: BaselineWorkflowName})
			env.RegisterActivityWithOptions(BaselineStep, activity.RegisterOptions{Name: BaselineStepName})

			var events []string
			env.SetOnActivityStartedListener(func(*activity.Info, context.Context, converter.EncodedValues) {
				events = append(events, "step")
			})
			update := func(name string) {
				env.UpdateWorkflow(name, name, &testsuite.TestUpdateCallback{
					OnAccept: func() {},
					OnReject: func(err error) { t.Errorf("%s rejected: %v", name, err) },
					OnComplete: func(_ any, err error) {
						assert.NoError(t, err, name)
						events = append(events, name)
					},
				})
			}
			env.RegisterDelayedCallback(func() { update(BaselineApprove) }, time.Second)
			env.RegisterDelayedCallback(func() { update(BaselineWithdrawn) }, 2*time.Second)
			env.ExecuteWorkflow(BaselineWorkflowName, k)

			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError())
			want := map[int][]string{
				0: {BaselineApprove, BaselineWithdrawn},
				1: {"step", BaselineApprove, BaselineWithdrawn},
				2: {"step", BaselineApprove, "step", BaselineWithdrawn},
				3: {"step", BaselineApprove, "step", "step", BaselineWithdrawn},
			}[k]
			assert.Equal(t, want, events)
		})
	}
}
