package workflows_test

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/codec"
	"github.com/medreq/pyxis/workflows"
)

// forgery is an argument the test sends as an attacker who reaches Temporal but holds no
// codec key would: in plaintext.
type forgery struct{ v any }

// forgingConverter is the worker's guarded converter, except that it writes a forgery in
// plaintext, and the next payloads too while forgeNext is set: the in-memory environment
// encodes what a test sends with the same converter the workflow decodes with.
type forgingConverter struct {
	converter.DataConverter
	forgeNext *atomic.Bool
}

func (f forgingConverter) ToPayloads(values ...any) (*commonpb.Payloads, error) {
	if f.forgeNext.CompareAndSwap(true, false) {
		return converter.GetDefaultDataConverter().ToPayloads(values...)
	}
	if len(values) == 1 {
		if fg, ok := values[0].(forgery); ok {
			return converter.GetDefaultDataConverter().ToPayloads(fg.v)
		}
	}
	return f.DataConverter.ToPayloads(values...)
}

// WithSerializationContext keeps the forger around the guard that learns the workflow id.
func (f forgingConverter) WithSerializationContext(sc converter.SerializationContext) converter.DataConverter {
	return forgingConverter{converter.WithDataConverterSerializationContext(f.DataConverter, sc), f.forgeNext}
}

// refusals records what the guard refused.
type refusals struct {
	mu  sync.Mutex
	got []codec.Refusal
}

func (r *refusals) add(x codec.Refusal) { r.mu.Lock(); r.got = append(r.got, x); r.mu.Unlock() }

func (r *refusals) list() []codec.Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]codec.Refusal(nil), r.got...)
}

// guard installs the worker's guarded converters in the test environment.
func (s *MedicationRequestTestSuite) guard() (*refusals, *atomic.Bool) {
	k, err := codec.GenerateKey("k1")
	s.Require().NoError(err)
	cd, err := codec.New([]codec.Key{k})
	s.Require().NoError(err)
	r := &refusals{}
	dc, fc := codec.GuardedConverters(codec.NewGuard(cd, r.add))
	forgeNext := &atomic.Bool{}
	s.env.SetDataConverter(forgingConverter{dc, forgeNext})
	s.env.SetFailureConverter(fc)
	return r, forgeNext
}

// A pharmacist's approval in plaintext, as anyone who reaches the Temporal frontend could send
// it, is rejected before its validator: nothing is recorded, the request still awaits
// approval, and the refusal names the request. A genuine approval afterwards goes through.
func (s *MedicationRequestTestSuite) TestPlaintextApprovalIsRejected() {
	refused, _ := s.guard()
	forged := s.sendUpdate(5*time.Minute, workflows.ApproveUpdate, forgery{workflows.ApproveInput{Actor: pharmacist}})
	waiting := s.queryAt(6 * time.Minute)
	genuine := s.sendUpdate(7*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist})
	s.sendUpdate(8*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(validInput())

	s.Require().True(forged.sent)
	s.False(forged.accepted, "a plaintext approval was accepted")
	s.Require().Error(forged.rejected)
	s.True(containsForged(forged.rejected), "rejection: %v", forged.rejected)
	st := s.requireSnapshot(waiting)
	s.Equal(workflows.StatusAwaitingApproval, st.Status)
	s.Empty(st.Approvals)
	s.Len(st.Transitions, 2, "the forged approval recorded nothing")
	s.Equal([]codec.Refusal{{WorkflowID: requestID, Reason: codec.RefusedNotEncrypted, Fingerprint: refused.list()[0].Fingerprint}}, refused.list())

	s.Equal(workflows.StatusApproved, s.requireCompleted(genuine).Status)
	s.Equal(workflows.StatusDispensed, s.finalState().Status)
}

// A request started in plaintext ends before it does anything: no admission, no stock.
func (s *MedicationRequestTestSuite) TestPlaintextStartDoesNothing() {
	refused, forgeNext := s.guard()
	forgeNext.Store(true)
	s.env.ExecuteWorkflow(workflows.MedicationRequest, validInput())
	s.Require().True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.True(containsForged(err), "workflow error: %v", err)
	s.assertActivityCalls(map[string]int{})
	s.Require().Len(refused.list(), 1)
	s.Equal(codec.RefusedNotEncrypted, refused.list()[0].Reason)
	s.Equal(requestID, refused.list()[0].WorkflowID)
}

// containsForged reports whether err says the payload was forged: the SDK passes the
// decoding error on as text inside a Temporal failure.
func containsForged(err error) bool {
	return err != nil && strings.Contains(err.Error(), codec.ErrForged.Error())
}

// A change signalled in plaintext while the item master is being sent is dropped (and
// reported): the entry is not sent again for it, as it is for a genuine one.
func TestPlaintextSignalIsDropped(t *testing.T) {
	for _, forged := range []bool{true, false} {
		t.Run(map[bool]string{true: "forged", false: "genuine"}[forged], func(t *testing.T) {
			var ts testsuite.WorkflowTestSuite
			env := ts.NewTestWorkflowEnvironment()
			k, err := codec.GenerateKey("k1")
			require.NoError(t, err)
			cd, err := codec.New([]codec.Key{k})
			require.NoError(t, err)
			refused := &refusals{}
			dc, fc := codec.GuardedConverters(codec.NewGuard(cd, refused.add))
			env.SetDataConverter(forgingConverter{dc, &atomic.Bool{}})
			env.SetFailureConverter(fc)
			id := workflows.ItemSyncWorkflowID(cabinetID, 11)
			env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue})
			env.RegisterActivity(&activities.Activities{})
			// Each send takes a minute; the change comes during the first.
			env.OnActivity(a.SyncItem, mock.Anything, mock.Anything).After(time.Minute).Return(nil)
			env.RegisterDelayedCallback(func() {
				var change any = workflows.ItemChanged{}
				if forged {
					change = forgery{change}
				}
				env.SignalWorkflow(workflows.ItemChangedSignal, change)
			}, 10*time.Second)

			env.ExecuteWorkflow(workflows.ItemSync, workflows.ItemSyncInput{CabinetID: cabinetID, MedicationID: 11})

			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError())
			if forged {
				env.AssertActivityNumberOfCalls(t, "SyncItem", 1)
				require.Len(t, refused.list(), 1)
				assert.Equal(t, id, refused.list()[0].WorkflowID)
				return
			}
			env.AssertActivityNumberOfCalls(t, "SyncItem", 2)
			assert.Empty(t, refused.list())
		})
	}
}
