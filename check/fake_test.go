package check

import (
	"context"
	"errors"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/medreq/pyxis/workflows"
)

// fakeTemporal is the Temporal side of the system as a test makes it up: the request
// workflows and what describing each answers. The database side of the checker's tests is a
// real Postgres; this side is made up so that each test can break exactly one promise.
type fakeTemporal struct {
	workflows map[string]fakeWorkflow
	// describe answers DescribeWorkflowExecution for a workflow; nil: a workflow that waits
	// and retries nothing.
	describe func(id string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

// fakeWorkflow is a request workflow as the visibility store lists it.
type fakeWorkflow struct {
	status  string // its RequestStatus search attribute
	closed  enumspb.WorkflowExecutionStatus
	started time.Time
}

func (f *fakeTemporal) WorkflowService() workflowservice.WorkflowServiceClient {
	return fakeService{}
}

func (f *fakeTemporal) ListWorkflow(_ context.Context, _ *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	resp := &workflowservice.ListWorkflowExecutionsResponse{}
	for id, w := range f.workflows {
		p, err := converter.GetDefaultDataConverter().ToPayload(w.status)
		if err != nil {
			return nil, err
		}
		status := w.closed
		if status == enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED {
			status = enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
		}
		resp.Executions = append(resp.Executions, &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: "run-" + id},
			Status:    status,
			StartTime: timestamppb.New(w.started),
			SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{
				workflows.RequestStatusKey.GetName(): p,
			}},
		})
	}
	return resp, nil
}

func (f *fakeTemporal) DescribeWorkflowExecution(_ context.Context, id, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	if f.describe != nil {
		return f.describe(id)
	}
	if _, ok := f.workflows[id]; !ok {
		return nil, errors.New("workflow not found")
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{}, nil
}

// fakeService answers DescribeNamespace, the one call the checker makes on the service: a
// week's retention. Any other call panics (the embedded interface is nil).
type fakeService struct {
	workflowservice.WorkflowServiceClient
}

func (fakeService) DescribeNamespace(context.Context, *workflowservice.DescribeNamespaceRequest, ...grpc.CallOption) (*workflowservice.DescribeNamespaceResponse, error) {
	return &workflowservice.DescribeNamespaceResponse{
		Config: &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(7 * 24 * time.Hour)},
	}, nil
}

// retrying is what describing a workflow answers when one of its activities has been retrying
// since started.
func retrying(started time.Time) *workflowservice.DescribeWorkflowExecutionResponse {
	return &workflowservice.DescribeWorkflowExecutionResponse{PendingActivities: []*workflowpb.PendingActivityInfo{{
		ActivityType:    &commonpb.ActivityType{Name: "DispenseOrder"},
		Attempt:         4,
		LastStartedTime: timestamppb.New(started),
	}}}
}

// failingTask is what describing a workflow answers when its workflow task keeps failing.
func failingTask() *workflowservice.DescribeWorkflowExecutionResponse {
	return &workflowservice.DescribeWorkflowExecutionResponse{PendingWorkflowTask: &workflowpb.PendingWorkflowTaskInfo{Attempt: 5}}
}
