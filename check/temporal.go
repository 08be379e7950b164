package check

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/medreq/pyxis/workflows"
)

// Temporal is what the checker asks of Temporal (a client.Client): the namespace's retention,
// the request workflows, and what each running one is doing.
type Temporal interface {
	WorkflowService() workflowservice.WorkflowServiceClient
	ListWorkflow(ctx context.Context, request *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

// workflowInfo is a request's workflow as the visibility store lists it.
type workflowInfo struct {
	id      string
	running bool
	status  string
	started time.Time
}

// listWorkflows lists the MedicationRequest workflows (of the scope's cabinets).
func listWorkflows(ctx context.Context, tc Temporal, o Options) (map[string]workflowInfo, error) {
	query := "WorkflowType = 'MedicationRequest'"
	if len(o.CabinetCodes) > 0 {
		quoted := make([]string, len(o.CabinetCodes))
		for i, c := range o.CabinetCodes {
			quoted[i] = "'" + strings.ReplaceAll(c, "'", "") + "'"
		}
		query += " AND CabinetCode IN (" + strings.Join(quoted, ", ") + ")"
	}
	out := map[string]workflowInfo{}
	var token []byte
	for {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: o.Namespace, Query: query, PageSize: 1000, NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list workflows: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			w := workflowInfo{
				id:      e.GetExecution().GetWorkflowId(),
				running: e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
				started: e.GetStartTime().AsTime(),
			}
			if p, ok := e.GetSearchAttributes().GetIndexedFields()[workflows.RequestStatusKey.GetName()]; ok {
				var s string
				if converter.GetDefaultDataConverter().FromPayload(p, &s) == nil {
					w.status = s
				}
			}
			if !w.running && e.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
				w.status = "workflow_" + strings.ToLower(strings.TrimPrefix(e.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_"))
			}
			out[w.id] = w
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return out, nil
		}
	}
}

// stuckActivities finds running requests with an activity that has been retrying for longer
// than StuckAfter.
func stuckActivities(ctx context.Context, tc Temporal, wfs map[string]workflowInfo, o Options) []Violation {
	var out []Violation
	ids := make([]string, 0, len(wfs))
	for id, w := range wfs {
		if w.running {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	now := o.Now()
	for _, id := range ids {
		desc, err := tc.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			out = append(out, Violation{Unverified, id, fmt.Sprintf("describe its workflow: %v", err)})
			continue
		}
		for _, pa := range desc.GetPendingActivities() {
			since := pa.GetLastStartedTime().AsTime()
			if pa.GetAttempt() > 1 && !since.IsZero() && now.Sub(since) > o.StuckAfter {
				out = append(out, Violation{Stuck, id, fmt.Sprintf("activity %s retrying (attempt %d): %s",
					pa.GetActivityType().GetName(), pa.GetAttempt(), failureMessage(o.Failures, pa.GetLastFailure()))})
			}
		}
		if wt := desc.GetPendingWorkflowTask(); wt != nil && wt.GetAttempt() > 3 {
			out = append(out, Violation{Stuck, id, fmt.Sprintf("workflow task failing (attempt %d)", wt.GetAttempt())})
		}
	}
	return out
}

// failureMessage is a failure's message, opened with fc when the message is sealed.
func failureMessage(fc converter.FailureConverter, f *failurepb.Failure) string {
	if fc == nil || f == nil || f.GetEncodedAttributes() == nil {
		return f.GetMessage()
	}
	return fc.FailureToError(f).Error()
}
