// Package hl7driver connects the medication-request system to real cabinets over HL7 v2 and
// MLLP: Driver sends dispense authorizations (RDE^O11) and reads their acknowledgments, and
// NewEventServer is the listener that receives the cabinets' reports (RDS^O13, OMS^O05) and
// hands them to a cabinet.EventHandler.
package hl7driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/mllp"
)

// ErrBadAck reports an answer that is not a readable acknowledgment of the message sent. It is
// treated like a transport failure: worth retrying.
var ErrBadAck = errors.New("bad acknowledgment")

// Options tune a Driver; zero values take the defaults shown.
type Options struct {
	// ConnectTimeout bounds one connection attempt to a cabinet (5s).
	ConnectTimeout time.Duration
	// AckTimeout bounds the wait for a cabinet's acknowledgment (30s); the caller's context
	// deadline applies too.
	AckTimeout time.Duration
	// PoolSize bounds the connections to one cabinet address, idle and busy (2).
	PoolSize int
	// Client tunes what the options above do not (backoff, dial attempts); its
	// DialTimeout, AckTimeout and MaxConns are overridden by them.
	Client mllp.ClientOptions
	// Now is the clock for MSH-7 (time.Now).
	Now func() time.Time
	// Logger receives a line per message sent (slog.Default()).
	Logger *slog.Logger
}

// Driver is the HL7 cabinet driver: Authorize sends RDE^O11 with ORC-1 NW, Revoke the same
// order with CA, to the order's Address. An AA answer is success; AE or AR is a
// *cabinet.RefusedError carrying the cabinet's reason; every other failure (connect, timeout,
// dropped connection, unreadable answer) is an ordinary error wrapping
// cabinet.ErrUnreachable, worth retrying: the message control id is the same on every try,
// so the cabinet recognises a resent authorization. It is safe for concurrent use.
type Driver struct {
	opts Options

	mu      sync.Mutex
	clients map[string]*mllp.Client
	closed  bool
}

var _ cabinet.Driver = (*Driver)(nil)

// New returns a driver; it connects to a cabinet on its first order.
func New(opts Options) *Driver {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Client.DialTimeout = opts.ConnectTimeout
	opts.Client.AckTimeout = opts.AckTimeout
	opts.Client.MaxConns = opts.PoolSize
	return &Driver{opts: opts, clients: make(map[string]*mllp.Client)}
}

// Authorize sends the order as a new dispense authorization (NW).
func (d *Driver) Authorize(ctx context.Context, o cabinet.Order) error {
	return d.send(ctx, o, hl7.OrderNew)
}

// Revoke cancels the order's authorization (CA).
func (d *Driver) Revoke(ctx context.Context, o cabinet.Order) error {
	return d.send(ctx, o, hl7.OrderCancel)
}

func (d *Driver) send(ctx context.Context, o cabinet.Order, oc hl7.OrderControl) error {
	if o.Address == "" {
		return &cabinet.RefusedError{Cabinet: o.CabinetCode, Reason: "no HL7 address configured for the cabinet"}
	}
	msg, err := hl7.BuildRDE(o, oc, d.opts.Now())
	if err != nil {
		// The order itself is wrong: sending it again will not help.
		return &cabinet.RefusedError{Cabinet: o.CabinetCode, Reason: err.Error()}
	}
	raw, err := msg.Encode()
	if err != nil {
		return &cabinet.RefusedError{Cabinet: o.CabinetCode, Reason: err.Error()}
	}
	controlID := hl7.ControlID(o.RequestID, oc)
	client, err := d.client(o.Address)
	if err != nil {
		return err
	}
	answer, err := client.Send(ctx, raw)
	if err != nil {
		return fmt.Errorf("RDE %s to cabinet %s: %w: %w", controlID, o.CabinetCode, cabinet.ErrUnreachable, err)
	}
	ack, err := hl7.ParseACK(answer)
	if err != nil {
		return fmt.Errorf("RDE %s to cabinet %s: %w: %w: %w", controlID, o.CabinetCode, cabinet.ErrUnreachable, ErrBadAck, err)
	}
	if ack.ControlID != controlID {
		return fmt.Errorf("RDE %s to cabinet %s: %w: %w: it acknowledges %q", controlID, o.CabinetCode,
			cabinet.ErrUnreachable, ErrBadAck, ack.ControlID)
	}
	d.opts.Logger.Info("cabinet answered", "cabinet", o.CabinetCode, "control_id", controlID, "ack", ack.Code)
	if ack.Code == hl7.AckAccept {
		return nil
	}
	reason := ack.Text
	if reason == "" {
		reason = "answered " + string(ack.Code) + " without a reason"
	}
	return &cabinet.RefusedError{Cabinet: o.CabinetCode, Reason: reason}
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
