// Package hl7driver connects the medication-request system to real cabinets over HL7 v2 and
// MLLP: Driver sends dispense authorizations (RDE^O11) and item master updates (MFN^M01) and
// reads their acknowledgments, and NewEventServer is the listener that receives the
// cabinets' reports (RDS^O13, OMS^O05) and hands them to a cabinet.EventHandler.
package hl7driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/mllp"
	"github.com/medreq/pyxis/internal/obs"
)

// Errors of a send that are worth retrying; both wrap cabinet.ErrUnreachable too.
var (
	// ErrBadAck reports an answer that is not a readable acknowledgment of the message sent.
	ErrBadAck = errors.New("bad acknowledgment")
	// ErrNotNow reports an AR (or, in enhanced mode, CR): the cabinet could not take the
	// message now; the same message is sent again later.
	ErrNotNow = errors.New("cabinet answered: not now")
)

// Options tune a Driver; zero values take the defaults shown.
type Options struct {
	// ConnectTimeout bounds one connection attempt to a cabinet (5s).
	ConnectTimeout time.Duration
	// AckTimeout bounds the wait for a cabinet's acknowledgment (30s); the caller's context
	// deadline applies too.
	AckTimeout time.Duration
	// PoolSize bounds the connections to one cabinet address, idle and busy (1). More than
	// one lets messages to a cabinet overtake each other (a CA before its NW): raise it only
	// for a cabinet that orders what it receives by itself.
	PoolSize int
	// SendingFacility and ReceivingFacility are MSH-4 and MSH-6 of what the driver sends
	// (both empty by default).
	SendingFacility   string
	ReceivingFacility string
	// ProcessingID is MSH-11: P (production, the default), T (training) or D (debugging).
	ProcessingID string
	// Enhanced sends MSH-15 AL and MSH-16 NE, asking for enhanced-mode commit
	// acknowledgments (CA, CE, CR); false (the default) is original mode (AA, AE, AR).
	Enhanced bool
	// Client tunes what the options above do not (backoff, dial attempts); its
	// DialTimeout, AckTimeout and MaxConns are overridden by them.
	Client mllp.ClientOptions
	// Now is the clock for MSH-7 (time.Now).
	Now func() time.Time
	// Logger receives a line per message sent (slog.Default()).
	Logger *slog.Logger
}

// Driver is the HL7 cabinet driver: Authorize sends RDE^O11 with ORC-1 NW, Revoke the same
// order with CA, UpdateItem an MFN^M01, to the cabinet's Address. The answer decides:
//
//   - AA (CA in enhanced mode): done;
//   - AE (CE): a *cabinet.RefusedError with the cabinet's reason (MSA-3, ERR-8): final;
//   - AR (CR): an error wrapping ErrNotNow and cabinet.ErrUnreachable: retried;
//   - no answer, a dropped connection, an unreadable answer or one to another message: an
//     error wrapping cabinet.ErrUnreachable: retried.
//
// The message control id is the same on every try, so the cabinet recognises a resent
// message. It is safe for concurrent use.
type Driver struct {
	opts Options
	env  hl7.Envelope

	mu      sync.Mutex
	clients map[string]*mllp.Client
	closed  bool
}

var _ cabinet.Driver = (*Driver)(nil)

// New returns a driver; it connects to a cabinet on its first message. A ProcessingID other
// than P, T or D makes every message refused (check it with hl7.ValidProcessingID first).
func New(opts Options) *Driver {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ProcessingID == "" {
		opts.ProcessingID = hl7.ProcessingProduction
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 1
	}
	opts.Client.DialTimeout = opts.ConnectTimeout
	opts.Client.AckTimeout = opts.AckTimeout
	opts.Client.MaxConns = opts.PoolSize
	env := hl7.Envelope{SendingFacility: opts.SendingFacility, ReceivingFacility: opts.ReceivingFacility,
		ProcessingID: opts.ProcessingID, Enhanced: opts.Enhanced}
	return &Driver{opts: opts, env: env, clients: make(map[string]*mllp.Client)}
}

// Authorize sends the order as a new dispense authorization (NW).
func (d *Driver) Authorize(ctx context.Context, o cabinet.Order) error {
	return d.sendOrder(ctx, o, hl7.OrderNew)
}

// Revoke cancels the order's authorization (CA).
func (d *Driver) Revoke(ctx context.Context, o cabinet.Order) error {
	return d.sendOrder(ctx, o, hl7.OrderCancel)
}

// UpdateItem sends the item to the cabinet's item master (MFN^M01, MAD or MUP).
func (d *Driver) UpdateItem(ctx context.Context, c cabinet.CabinetTarget, item cabinet.Item) error {
	msg, err := hl7.BuildMFN(c.CabinetCode, item, d.opts.Now(), d.env)
	if err != nil {
		return &cabinet.RefusedError{Cabinet: c.CabinetCode, Reason: err.Error()}
	}
	return d.send(ctx, c, msg, "MFN")
}

func (d *Driver) sendOrder(ctx context.Context, o cabinet.Order, oc hl7.OrderControl) error {
	msg, err := hl7.BuildRDE(o, oc, d.opts.Now(), d.env)
	if err != nil {
		// The order itself is wrong: sending it again will not help.
		return &cabinet.RefusedError{Cabinet: o.CabinetCode, Reason: err.Error()}
	}
	return d.send(ctx, o.Target(), msg, "RDE "+string(oc))
}

// send delivers one message and reads its acknowledgment.
func (d *Driver) send(ctx context.Context, c cabinet.CabinetTarget, msg *hl7.Message, what string) error {
	if c.Address == "" {
		return &cabinet.RefusedError{Cabinet: c.CabinetCode, Reason: "no HL7 address configured for the cabinet"}
	}
	raw, err := msg.Encode()
	if err != nil {
		return &cabinet.RefusedError{Cabinet: c.CabinetCode, Reason: err.Error()}
	}
	controlID := msg.Header().ControlID
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(obs.AttrControlID.String(controlID))
	client, err := d.client(c.Address)
	if err != nil {
		return err
	}
	answer, err := client.Send(ctx, raw)
	if err != nil {
		return fmt.Errorf("%s %s to cabinet %s: %w: %w", what, controlID, c.CabinetCode, cabinet.ErrUnreachable, err)
	}
	ack, err := hl7.ParseACK(answer)
	if err != nil {
		return fmt.Errorf("%s %s to cabinet %s: %w: %w: %w", what, controlID, c.CabinetCode, cabinet.ErrUnreachable, ErrBadAck, err)
	}
	if ack.ControlID != controlID {
		return fmt.Errorf("%s %s to cabinet %s: %w: %w: it acknowledges %q", what, controlID, c.CabinetCode,
			cabinet.ErrUnreachable, ErrBadAck, ack.ControlID)
	}
	span.SetAttributes(obs.AttrAck.String(string(ack.Code)))
	cabinet.Acknowledged(ctx, string(ack.Code))
	d.opts.Logger.InfoContext(ctx, "cabinet answered", "cabinet", c.CabinetCode, "message", what, "control_id", controlID,
		"ack", ack.Code, "condition", ack.Condition, "text", ack.Text)
	reason := ack.Text
	if reason == "" {
		reason = "answered " + string(ack.Code) + " without a reason"
	}
	switch {
	case ack.Code.Accepted():
		return nil
	case ack.Code.Refused():
		return &cabinet.RefusedError{Cabinet: c.CabinetCode, Reason: reason}
	default: // AR, CR
		return fmt.Errorf("%s %s to cabinet %s: %w: %w: %s", what, controlID, c.CabinetCode,
			cabinet.ErrUnreachable, ErrNotNow, reason)
	}
}

// client returns the pool for an address, creating it on first use.
func (d *Driver) client(addr string) (*mllp.Client, error) {
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
