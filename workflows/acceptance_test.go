package workflows_test

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/workflows"
)

// A step that records what an update did runs as an activity, scheduled by the workflow task
// that accepts the update, so it runs only once the update is durable; the steps the workflow
// decides itself stay local activities, in the task that decides them (recording.go). Here:
// the approval's step and the withdrawal's are activities, the authorization's is local.
func (s *MedicationRequestTestSuite) TestAnUpdatesStepRunsOnceTheUpdateIsAccepted() {
	var (
		mu            sync.Mutex
		remote, local []string
	)
	record := func(into *[]string, st pyxis.Step) {
		mu.Lock()
		defer mu.Unlock()
		for _, t := range st.Transitions {
			*into = append(*into, t.Action)
		}
	}
	s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		var st pyxis.Step
		if info.ActivityType.Name == "RecordStep" && s.NoError(args.Get(&st)) {
			record(&remote, st)
		}
	})
	s.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, args []any) {
		if st, ok := args[0].(pyxis.Step); ok && info.ActivityType.Name == "RecordStep" {
			record(&local, st)
		}
	})
	approve := s.sendUpdate(10*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist})
	withdrawn := s.sendUpdate(20*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(validInput())

	s.Equal(workflows.StatusDispensed, s.finalState().Status)
	s.Equal([]string{"approved", "withdrawn"}, remote)
	s.Equal([]string{"authorized_at_cabinet"}, local)
	// Each answer comes once its step is recorded: the state it carries is past the step.
	s.Equal(workflows.StatusApproved, s.requireCompleted(approve).Status)
	s.Equal(workflows.StatusDispensed, s.requireCompleted(withdrawn).Status)
}
