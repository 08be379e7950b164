package workflows

import "go.temporal.io/sdk/workflow"

// WorkflowRegistry is what a worker and a replayer have in common: Register works on both, so
// the replay tests register exactly what the worker runs.
type WorkflowRegistry interface {
	RegisterWorkflowWithOptions(w interface{}, options workflow.RegisterOptions)
}

// Register registers every workflow under the type name its histories record. The names are
// constants, not the functions' names, so renaming a function never orphans a running workflow.
func Register(r WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(MedicationRequest, workflow.RegisterOptions{Name: MedicationRequestName})
	r.RegisterWorkflowWithOptions(Restock, workflow.RegisterOptions{Name: RestockName})
	r.RegisterWorkflowWithOptions(ItemSync, workflow.RegisterOptions{Name: "ItemSync"})
}
