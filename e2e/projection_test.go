package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/api"
	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/codec"
	"github.com/medreq/pyxis/workflows"
)

// requireProjectionMatchesWorkflow checks that a read of the request, which the API answers
// from the Postgres projection, shows what the workflow itself holds (its state query), once
// the projection has caught up. Times compare to the microsecond, Postgres' precision.
func (c *apiClient) requireProjectionMatchesWorkflow(id, token string) {
	c.t.Helper()
	require.EventuallyWithT(c.t, func(t *assert.CollectT) {
		var live workflows.State
		resp, err := e2e.tc.QueryWorkflow(context.Background(), id, "", workflows.StateQuery)
		if !assert.NoError(t, err) || !assert.NoError(t, resp.Get(&live)) {
			return
		}
		res, err := c.api.GetRequestWithResponse(context.Background(), id, &apiclient.GetRequestParams{}, as(token))
		if !assert.NoError(t, err) {
			return
		}
		// The server's own type, to compare with the workflow's state field by field.
		var view api.RequestView
		if !assert.Equal(t, http.StatusOK, res.StatusCode()) || !assert.NoError(t, json.Unmarshal(res.Body, &view)) {
			return
		}
		got := workflows.State{
			ID: view.ID, Status: view.Status, Priority: view.Priority, CabinetID: view.CabinetID, CabinetCode: view.CabinetCode,
			Patient: pyxis.Patient{MRN: view.Patient.MRN, Bed: view.Patient.Bed}, Requester: view.Requester,
			Approvals: view.Approvals, Transitions: view.Transitions, Reason: view.Reason, ReasonCode: view.ReasonCode,
			RequiredApprovals: view.RequiredApprovals, Escalated: view.Escalated,
			ApprovalDeadline: view.ApprovalDeadline, WithdrawalDeadline: view.WithdrawalDeadline,
		}
		if view.CreatedAt != nil && view.UpdatedAt != nil {
			got.CreatedAt, got.UpdatedAt = *view.CreatedAt, *view.UpdatedAt
		}
		if n := view.Patient.Name; n != nil {
			got.Patient.Family, got.Patient.Given = n.Family, n.Given
		}
		for _, it := range view.Items {
			got.Lines = append(got.Lines, pyxis.Line{MedicationID: it.MedicationID, Quantity: it.Quantity})
		}
		for _, it := range view.Vended {
			got.Vended = append(got.Vended, pyxis.Line{MedicationID: it.MedicationID, Quantity: it.Quantity})
		}
		assert.Equal(t, comparable(live), comparable(got))
	}, 15*time.Second, 100*time.Millisecond, "the projection of %s never matched the workflow", id)
}

// comparable keeps what both reads must agree on, with times at microsecond precision.
func comparable(s workflows.State) workflows.State {
	us := func(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }
	usp := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		v := us(*t)
		return &v
	}
	out := workflows.State{
		ID: s.ID, Status: s.Status, Priority: s.Priority, CabinetID: s.CabinetID, CabinetCode: s.CabinetCode,
		Patient: s.Patient, Requester: s.Requester, Reason: s.Reason, ReasonCode: s.ReasonCode, RequiredApprovals: s.RequiredApprovals,
		Escalated: s.Escalated, CreatedAt: us(s.CreatedAt), UpdatedAt: us(s.UpdatedAt),
		ApprovalDeadline: usp(s.ApprovalDeadline), WithdrawalDeadline: usp(s.WithdrawalDeadline),
	}
	out.Lines = append(out.Lines, s.Lines...)
	out.Vended = append(out.Vended, s.Vended...)
	for _, a := range s.Approvals {
		a.At = us(a.At)
		out.Approvals = append(out.Approvals, a)
	}
	for _, t := range s.Transitions {
		t.At = us(t.At)
		out.Transitions = append(out.Transitions, t)
	}
	return out
}

// captureEnv names a folder to write the histories of the runs tests capture, for the replay
// test: PYXIS_CAPTURE_HISTORIES=$PWD/workflows/testdata/histories go test -run ... ./e2e
const captureEnv = "PYXIS_CAPTURE_HISTORIES"

// captureHistory writes the history of a run that ends, once it has ended, as `temporal
// workflow show --output json` would, with its payloads decrypted (the test's codec key dies
// with the test), when captureEnv is set. Only test data is in them.
func captureHistory(t require.TestingT, id, name string) {
	writeHistory(t, e2e.raw, e2e.codec, id, name, true)
}

// captureRunningHistory writes the history of a run that waits on (at the cabinet, say) as far
// as it has come, when captureEnv is set.
func captureRunningHistory(t require.TestingT, id, name string) {
	writeHistory(t, e2e.raw, e2e.codec, id, name, false)
}

// writeHistory writes the history of workflow id, read with c (a client without the codec)
// and decrypted with cd, to captureEnv's folder as name.json, when captureEnv is set; closed
// waits for the run to end first.
func writeHistory(t require.TestingT, c client.Client, cd *codec.Codec, id, name string, closed bool) {
	dir := os.Getenv(captureEnv)
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if closed {
		// A long poll for the close event returns once the run has ended.
		iter := c.GetWorkflowHistory(ctx, id, "", true, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
		for iter.HasNext() {
			_, err := iter.Next()
			require.NoError(t, err, "run %s did not end", id)
		}
	}
	hist := &historypb.History{}
	iter := c.GetWorkflowHistory(ctx, id, "", false, 0)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		hist.Events = append(hist.Events, ev)
	}
	require.NoError(t, proxy.VisitPayloads(ctx, hist, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return cd.Decode(p)
		},
	}))
	raw, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(hist)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".json"), raw, 0o644))
}

// A request whose first step no worker has run yet is read from its start event, without a
// worker: submitted, with what the nurse asked for. The workflow here is started on a task
// queue no worker polls, so only the start event can answer.
func TestReadBeforeTheFirstStep(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	id := "medreq-" + ulid.Make().String()
	in := workflows.Input{RequestHeader: pyxis.RequestHeader{
		Requester: pyxis.Actor{ID: "nurse-early", Role: pyxis.RoleNurse}, Patient: pyxis.Patient{MRN: "MRN-EARLY1", Bed: "3B"},
		CabinetID: f.cabinetID, Priority: pyxis.PriorityRoutine,
		Lines: []pyxis.Line{{MedicationID: f.meds[0], Quantity: 2}},
	}, CabinetCode: f.cabinetCode}
	ctx := context.Background()
	_, err := e2e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "nobody-polls-" + id}, workflows.MedicationRequestName, in)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e2e.tc.TerminateWorkflow(ctx, id, "", "test over") })

	pharmacist := c.token("pharm-early", pyxis.RolePharmacist)
	status, body := c.do("GET", "/v1/requests/"+id, pharmacist, nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "submitted", body["status"])
	assert.Equal(t, "MRN-EARLY1", body["patient"].(map[string]any)["mrn"])
	lines := body["items"].([]any)
	require.Len(t, lines, 1)
	assert.EqualValues(t, 2, lines[0].(map[string]any)["quantity"])

	// Need-to-know holds as for any read: a nurse elsewhere does not learn it exists.
	other := c.token("nurse-elsewhere", pyxis.RoleNurse)
	status, body = c.do("GET", "/v1/requests/"+id, other, nil)
	assert.Equal(t, http.StatusNotFound, status, body)
	// A workflow id that is not a request's: not found.
	status, body = c.do("GET", "/v1/requests/medreq-"+ulid.Make().String(), pharmacist, nil)
	assert.Equal(t, http.StatusNotFound, status, body)
}
