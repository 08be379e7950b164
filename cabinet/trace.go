package cabinet

import "context"

// Acknowledgment codes a cabinet answers a command with (HL7 MSA-1): original mode AA, AE,
// AR; enhanced mode commit acknowledgments CA, CE, CR.
const (
	AckAccept = "AA"
	AckRefuse = "AE"
)

// CommandTrace receives what a driver learns while it sends one command, beyond the error it
// returns: the caller (the activities, for metrics) puts one in the command's context with
// WithCommandTrace. Every field may be nil.
type CommandTrace struct {
	// Acknowledged is called with the acknowledgment code the cabinet answered.
	Acknowledged func(code string)
}

type traceKey struct{}

// WithCommandTrace returns a context that carries t to the driver.
func WithCommandTrace(ctx context.Context, t *CommandTrace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

// Acknowledged tells the command's trace, if any, that the cabinet answered with code.
// Drivers call it when an acknowledgment arrives; a command no acknowledgment came back for
// (no connection, no answer, refused before it was sent) calls nothing.
func Acknowledged(ctx context.Context, code string) {
	if t, ok := ctx.Value(traceKey{}).(*CommandTrace); ok && t != nil && t.Acknowledged != nil {
		t.Acknowledged(code)
	}
}
