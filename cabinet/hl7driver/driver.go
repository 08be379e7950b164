// Package hl7driver connects the medication-request system to real cabinets over HL7 v2 and
// MLLP: Driver sends dispense authorizations (RDE^O11) and item master updates (MFN^M01) and
// reads their acknowledgments, and NewEventServer is the listener that receives the
// cabinets' reports (RDS^O13, OMS^O05) and hands them to a cabinet.EventHandler.
package hl7driver

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/mllp"
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
	// Location is the zone every time sent is written in, with its offset (MSH-7, ORC-9,
	// TQ1-7, TQ1-8, MFE-3): the hospital's. Nil: each time in its own zone (the clock's).
	Location *time.Location
	// AssigningAuthority is PID-3.4, the authority of the MRN; empty: SendingFacility.
	AssigningAuthority string
	// PatientClass is PV1-2 (HL7 table 0004); empty: I.
	PatientClass string
	// ServerApplication is MSH-5 of an item master update to an address several cabinets
	// share (UpdateItemAt); empty: hl7.DefaultServerApplication.
	ServerApplication string
	// Client tunes what the options above do not (backoff, dial attempts); its
	// DialTimeout, AckTimeout and MaxConns are overridden by them.
	Client mllp.ClientOptions
	// Now is the clock for MSH-7 of an order without IssuedAt and an item without ChangedAt
	// (time.Now).
	Now func() time.Time
	// Logger receives a line per message sent (slog.Default()).
	Logger *slog.Logger
}

// Driver is the HL7 cabinet driver: Authorize sends RDE^O11 with ORC-1 NW, Revoke the same
// order with CA (DC when it was partly dispensed), UpdateItem and UpdateItemAt an MFN^M01,
// to the cabinet's Address. Cabinets at the same address (NormalizeAddress) share one pool
// of connections, and with one connection (the default) their messages go out one at a
// time, in the order they were sent. The answer decides:
//
//   - AA (CA in enhanced mode): done;
//   - AE (CE): a *cabinet.RefusedError with the cabinet's reason (MSA-3, ERR-8): final;
//   - AR (CR): an error wrapping ErrNotNow and cabinet.ErrUnreachable: retried;
//   - no answer, a dropped connection, an unreadable answer: an error wrapping
//     cabinet.ErrUnreachable, and cabinet.ErrMaybeDelivered when the message had been sent.
//
// An answer that acknowledges another message (MSA-2) means the answers on the connection
// are out of step with the messages (a cabinet that answered one message twice): the
// connection is closed, and the message sent once more on a new one.
//
// The message is the same on every try (its control id and its times come from the order),
// so the cabinet recognises a resent message. It is safe for concurrent use.
type Driver struct {
	opts Options
	env  hl7.Envelope

	mu      sync.Mutex
	clients map[string]*mllp.Client
	// unanswered holds the control ids of messages sent without an answer, and when: a
	// later refusal of the same message is marked EarlierAttemptUnanswered.
	unanswered map[string]time.Time
	closed     bool
}

var (
	_ cabinet.Driver     = (*Driver)(nil)
	_ cabinet.ItemMaster = (*Driver)(nil)
)

// Bounds of the memory of messages sent without an answer.
const (
	unansweredFor = 24 * time.Hour
	unansweredMax = 10000
)

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
		ProcessingID: opts.ProcessingID, Enhanced: opts.Enhanced, Location: opts.Location,
		AssigningAuthority: opts.AssigningAuthority, PatientClass: opts.PatientClass,
		ServerApplication: opts.ServerApplication}
	return &Driver{opts: opts, env: env, clients: make(map[string]*mllp.Client), unanswered: make(map[string]time.Time)}
}

// Authorize sends the order as a new dispense authorization (NW).
func (d *Driver) Authorize(ctx context.Context, o cabinet.Order) error {
	return d.sendOrder(ctx, o, hl7.OrderNew)
}

// Revoke cancels the order's authorization (CA), or discontinues it (DC) when
// o.PartlyDispensed says part of it was withdrawn.
func (d *Driver) Revoke(ctx context.Context, o cabinet.Order) error {
	if o.PartlyDispensed {
		return d.sendOrder(ctx, o, hl7.OrderDiscontinue)
	}
	return d.sendOrder(ctx, o, hl7.OrderCancel)
}

// UpdateItem sends the item to one cabinet's item master (MFN^M01, MAD, MUP or MDC), with
// the cabinet's code in MSH-5.
func (d *Driver) UpdateItem(ctx context.Context, c cabinet.CabinetTarget, item cabinet.Item) error {
	msg, err := hl7.BuildMFN(c.CabinetCode, item, d.opts.Now(), d.env)
	if err != nil {
		return &cabinet.RefusedError{Cabinet: c.CabinetCode, Reason: err.Error()}
	}
	return d.send(ctx, c.CabinetCode, c.Address, msg, "MFN")
}

// UpdateItemAt sends the item once to the site's address for all its cabinets: MSH-5 is the
// cabinet's code when the site has one cabinet, else the central server's application
// (Options.ServerApplication). It is what the item master of a central server or an
// interface engine expects; a site of one cabinet gets what UpdateItem sends it.
func (d *Driver) UpdateItemAt(ctx context.Context, s cabinet.Site, item cabinet.Item) error {
	name := strings.Join(s.Cabinets, ",")
	receiver := cmp.Or(d.env.ServerApplication, hl7.DefaultServerApplication)
	switch len(s.Cabinets) {
	case 0:
		return &cabinet.RefusedError{Cabinet: s.Address, Reason: "a site without cabinets has no item master to update"}
	case 1:
		receiver = s.Cabinets[0]
	}
	msg, err := hl7.BuildMFN(receiver, item, d.opts.Now(), d.env)
	if err != nil {
		return &cabinet.RefusedError{Cabinet: name, Reason: err.Error()}
	}
	return d.send(ctx, name, s.Address, msg, "MFN")
}

func (d *Driver) sendOrder(ctx context.Context, o cabinet.Order, oc hl7.OrderControl) error {
	msg, err := hl7.BuildRDE(o, oc, d.opts.Now(), d.env)
	if err != nil {
		// The order itself is wrong: sending it again will not help.
		return &cabinet.RefusedError{Cabinet: o.CabinetCode, Reason: err.Error()}
	}
	return d.send(ctx, o.CabinetCode, o.Address, msg, "RDE "+string(oc))
}
