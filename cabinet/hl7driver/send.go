package hl7driver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/mllp"
	"github.com/medreq/pyxis/internal/obs"
)

// send delivers one message to the address and reads its acknowledgment; code names the
// cabinet (or cabinets) in errors and logs.
func (d *Driver) send(ctx context.Context, code, addr string, msg *hl7.Message, what string) error {
	if addr == "" {
		return &cabinet.RefusedError{Cabinet: code, Reason: "no HL7 address configured for the cabinet"}
	}
	raw, err := msg.Encode()
	if err != nil {
		return &cabinet.RefusedError{Cabinet: code, Reason: err.Error()}
	}
	controlID := msg.Header().ControlID
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(obs.AttrControlID.String(controlID))
	client, err := d.client(addr)
	if err != nil {
		return err
	}
	check := func(answer []byte) error {
		ack, err := hl7.ParseACK(answer)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadAck, err)
		}
		if ack.ControlID != controlID {
			return fmt.Errorf("%w: it acknowledges %q", ErrBadAck, ack.ControlID)
		}
		return nil
	}
	answer, err := client.SendCheck(ctx, raw, check)
	if errors.Is(err, ErrBadAck) && ctx.Err() == nil {
		// The connection is closed: its answers were out of step with its messages. The
		// same message again, on a new connection, is read right.
		d.opts.Logger.WarnContext(ctx, "cabinet answered another message: connection closed, message sent again",
			"cabinet", code, "message", what, "control_id", controlID, "error", err)
		answer, err = client.SendCheck(ctx, raw, check)
	}
	if err != nil {
		if errors.Is(err, mllp.ErrMaybeSent) {
			d.remember(controlID)
			return fmt.Errorf("%s %s to cabinet %s: %w: %w: %w", what, controlID, code, cabinet.ErrUnreachable, cabinet.ErrMaybeDelivered, err)
		}
		return fmt.Errorf("%s %s to cabinet %s: %w: %w", what, controlID, code, cabinet.ErrUnreachable, err)
	}
	ack, err := hl7.ParseACK(answer) // read by check already
	if err != nil {
		return fmt.Errorf("%s %s to cabinet %s: %w: %w: %w", what, controlID, code, cabinet.ErrUnreachable, ErrBadAck, err)
	}
	span.SetAttributes(obs.AttrAck.String(string(ack.Code)))
	cabinet.Acknowledged(ctx, string(ack.Code))
	d.opts.Logger.InfoContext(ctx, "cabinet answered", "cabinet", code, "message", what, "control_id", controlID,
		"ack", ack.Code, "condition", ack.Condition, "text", ack.Text)
	reason := ack.Text
	if reason == "" {
		reason = "answered " + string(ack.Code) + " without a reason"
	}
	switch {
	case ack.Code.Accepted():
		d.forget(controlID)
		return nil
	case ack.Code.Refused():
		return &cabinet.RefusedError{Cabinet: code, Reason: reason, EarlierAttemptUnanswered: d.forget(controlID)}
	default: // AR, CR
		return fmt.Errorf("%s %s to cabinet %s: %w: %w: %s", what, controlID, code,
			cabinet.ErrUnreachable, ErrNotNow, reason)
	}
}

// remember notes that a message went without an answer.
func (d *Driver) remember(controlID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	if len(d.unanswered) >= unansweredMax {
		for id, at := range d.unanswered {
			if now.Sub(at) > unansweredFor || len(d.unanswered) >= unansweredMax {
				delete(d.unanswered, id)
			}
		}
	}
	d.unanswered[controlID] = now
}

// forget drops a message from the unanswered ones, reporting whether it was one (within
// unansweredFor).
func (d *Driver) forget(controlID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.unanswered[controlID]
	delete(d.unanswered, controlID)
	return ok && time.Since(at) <= unansweredFor
}

// client returns the pool for an address, creating it on first use: one per address as
// cabinet.NormalizeAddress writes it, whatever the number of cabinets there.
func (d *Driver) client(addr string) (*mllp.Client, error) {
	addr = cabinet.NormalizeAddress(addr)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("hl7 driver closed: %w", cabinet.ErrUnreachable)
	}
	c, ok := d.clients[addr]
	if !ok {
		c = mllp.NewClient(addr, d.opts.Client)
		d.clients[addr] = c
	}
	return c, nil
}

// Close closes the connections to every cabinet.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	var errs []error
	for addr, c := range d.clients {
		errs = append(errs, c.Close())
		delete(d.clients, addr)
	}
	return errors.Join(errs...)
}
