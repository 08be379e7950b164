package hl7driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/mllp"
)

// ListenerOptions tune the report listener; zero values take the defaults shown.
type ListenerOptions struct {
	// Location reads report timestamps that carry no offset (UTC).
	Location *time.Location
	// Now is the clock for the acknowledgments' MSH-7 (time.Now).
	Now func() time.Time
	// Logger receives a line per report (slog.Default()).
	Logger *slog.Logger
	// Explain returns the text (MSA-3, ERR-8) of an AE for an error of the EventHandler
	// other than cabinet.ErrUnknownOrder, or "" for the generic "report not applied; resend
	// later". Nil sends the generic text for every such error: internal error texts stay in
	// the logs.
	Explain func(err error) string
}

func (o ListenerOptions) withDefaults() ListenerOptions {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// NewEventServer returns an MLLP server that receives cabinet reports and applies them with
// h; call Listen and Serve on it. Frames that are oversize or truncated are answered AR when
// their MSH can be read and dropped otherwise (see NewEventHandler for the rest).
func NewEventServer(h cabinet.EventHandler, o ListenerOptions, so mllp.ServerOptions) *mllp.Server {
	o = o.withDefaults()
	if so.Logger == nil {
		so.Logger = o.Logger
	}
	so.OnFrameError = func(_ context.Context, fe *mllp.FrameError) []byte {
		if fe.Head == nil {
			return nil
		}
		return hl7.Reject(fe.Head, fe.Err.Error(), hl7.ConditionSegmentSequence, o.Now())
	}
	return mllp.NewServer(NewEventHandler(h, o), so)
}

// NewEventHandler returns the MLLP handler of the report listener. For each message:
//
//   - it does not parse: AR with the parse error when its MSH can be read, else no answer;
//   - it is not RDS^O13 or OMS^O05, or lacks what they require: AR;
//   - h.HandleEvent returns nil: AA (h must return nil for a report it has already applied,
//     so a resent report, same MSH-10, is acknowledged AA and counted once);
//   - h returns an error wrapping cabinet.ErrUnknownOrder: AE, condition 204, "unknown order";
//   - h returns any other error: AE, condition 207, with o.Explain's text or a generic one
//     (the error itself is logged, not sent); the cabinet resends later.
func NewEventHandler(h cabinet.EventHandler, o ListenerOptions) mllp.Handler {
	o = o.withDefaults()
	return func(ctx context.Context, raw []byte) []byte {
		now := o.Now()
		msg, err := hl7.Parse(raw)
		if err != nil {
			o.Logger.Warn("unreadable cabinet message", "error", err)
			return hl7.Reject(raw, err.Error(), conditionOf(err), now)
		}
		head := msg.Header()
		reply := func(a hl7.Ack) []byte {
			ack, err := hl7.Reply(head, a, now)
			if err != nil {
				o.Logger.Error("acknowledgment not built", "control_id", head.ControlID, "error", err)
				return nil
			}
			return ack
		}
		ev, err := hl7.DecodeEvent(msg, o.Location)
		if err != nil {
			o.Logger.Warn("cabinet message rejected", "control_id", head.ControlID, "error", err)
			return reply(hl7.Ack{Code: hl7.AckReject, Text: err.Error(), Condition: conditionOf(err)})
		}
		log := o.Logger.With("control_id", ev.MessageControlID, "cabinet", ev.CabinetCode,
			"kind", string(ev.Kind), "request_id", ev.RequestID)
		err = h.HandleEvent(ctx, ev)
		switch {
		case err == nil:
			log.Info("cabinet report applied")
			return reply(hl7.Ack{Code: hl7.AckAccept})
		case errors.Is(err, cabinet.ErrUnknownOrder):
			log.Warn("cabinet report for an unknown order")
			return reply(hl7.Ack{Code: hl7.AckError, Condition: hl7.ConditionUnknownKey,
				Text: fmt.Sprintf("unknown order %q", ev.RequestID)})
		default:
			log.Error("cabinet report not applied", "error", err)
			text := ""
			if o.Explain != nil {
				text = o.Explain(err)
			}
			if text == "" {
				text = "report not applied; resend later"
			}
			return reply(hl7.Ack{Code: hl7.AckError, Condition: hl7.ConditionInternal, Text: text})
		}
	}
}

// conditionOf picks the ERR-3 condition for a parse or decode error.
func conditionOf(err error) string {
	switch {
	case errors.Is(err, hl7.ErrUnsupported):
		return hl7.ConditionUnsupportedType
	case errors.Is(err, hl7.ErrInvalid):
		return hl7.ConditionRequiredField
	case errors.Is(err, hl7.ErrBadEscape):
		return hl7.ConditionDataType
	default:
		return hl7.ConditionSegmentSequence
	}
}
