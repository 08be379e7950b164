// Package obs carries what every log line and span of one piece of work shares: the
// identifiers of an HTTP request (its X-Request-ID, the actor, the workflow it touches) on
// the context, a slog.Handler that writes them and the trace id on every line, and the span
// attribute keys of the system. Identifiers only: patient data (MRN, names, date of birth)
// and free text never go here, nor into a span.
package obs

import (
	"context"
	"sync"
)

// Fields are the identifiers of one piece of work (an HTTP request, a cabinet report). A
// middleware puts them on the context with Start; handlers fill in what they learn later
// (the actor once authenticated, the workflow once started), and every line logged with the
// context carries them.
type Fields struct {
	mu         sync.Mutex
	requestID  string
	actor      string
	workflowID string
}

type fieldsKey struct{}

// Start returns ctx carrying a new, empty set of fields, and that set.
func Start(ctx context.Context) (context.Context, *Fields) {
	f := &Fields{}
	return context.WithValue(ctx, fieldsKey{}, f), f
}

// FromContext returns the fields ctx carries, or nil.
func FromContext(ctx context.Context) *Fields {
	f, _ := ctx.Value(fieldsKey{}).(*Fields)
	return f
}

// SetRequestID records the X-Request-ID of the work ctx belongs to; without fields on ctx it
// does nothing.
func SetRequestID(ctx context.Context, id string) { FromContext(ctx).set(&fieldsRef{requestID: &id}) }

// SetActor records the id of the user (or cabinet, "cabinet:CODE") the work is done for.
func SetActor(ctx context.Context, id string) { FromContext(ctx).set(&fieldsRef{actor: &id}) }

// SetWorkflowID records the workflow the work touches (a medication request's id).
func SetWorkflowID(ctx context.Context, id string) {
	FromContext(ctx).set(&fieldsRef{workflowID: &id})
}

type fieldsRef struct{ requestID, actor, workflowID *string }

func (f *Fields) set(r *fieldsRef) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.requestID != nil {
		f.requestID = *r.requestID
	}
	if r.actor != nil {
		f.actor = *r.actor
	}
	if r.workflowID != nil {
		f.workflowID = *r.workflowID
	}
}

// Get returns the fields recorded so far ("" for each one unknown).
func (f *Fields) Get() (requestID, actor, workflowID string) {
	if f == nil {
		return "", "", ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requestID, f.actor, f.workflowID
}
