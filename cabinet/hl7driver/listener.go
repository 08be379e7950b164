package hl7driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"go.opentelemetry.io/otel/codes"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/mllp"
	"github.com/medreq/pyxis/internal/obs"
)

// DefaultVersions are the MSH-12 versions the listener takes when ListenerOptions.Versions is
// empty: every version since v2.3, whose dispense report (RDS^O01 in v2.3, RDS^O13 since
// v2.4) has the fields this interface reads where v2.5 has them.
var DefaultVersions = []string{"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"}

// ListenerOptions tune the report listener; zero values take the defaults shown.
type ListenerOptions struct {
	// Location reads report timestamps that carry no offset, and writes the
	// acknowledgments' MSH-7 (UTC).
	Location *time.Location
	// ProcessingID is the MSH-11 the listener takes: P (production, the default), T or D.
	// A message with another is answered AR 202 and not applied.
	ProcessingID string
	// Versions are the MSH-12 values taken (DefaultVersions); others are answered AR 203.
	Versions []string
	// Now is the clock for the acknowledgments' MSH-7 (time.Now).
	Now func() time.Time
	// MaxSegments and MaxFields bound a message before it is parsed: segments in all (500),
	// and fields in one segment (200). A report has a dozen segments of a few dozen fields; a
	// message beyond either is answered AE 100 unparsed.
	MaxSegments, MaxFields int
	// Logger receives a line per report (slog.Default()).
	Logger *slog.Logger
}

func (o ListenerOptions) withDefaults() ListenerOptions {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.ProcessingID == "" {
		o.ProcessingID = hl7.ProcessingProduction
	}
	if len(o.Versions) == 0 {
		o.Versions = DefaultVersions
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSegments <= 0 {
		o.MaxSegments = 500
	}
	if o.MaxFields <= 0 {
		o.MaxFields = 200
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// NewEventServer returns an MLLP server that receives cabinet reports and applies them with
// h; call Listen and Serve on it. A frame cut short is answered AR 207 (resend it) when its
// MSH can be read; an oversize one is refused unread, the connection closed without an
// answer (mllp.ServerOptions.MaxFrameSize); see NewEventHandler for the rest. The handler's
// context carries the peer (mllp.PeerFromContext).
func NewEventServer(h cabinet.EventHandler, o ListenerOptions, so mllp.ServerOptions) *mllp.Server {
	o = o.withDefaults()
	if so.Logger == nil {
		so.Logger = o.Logger
	}
	so.OnFrameError = func(_ context.Context, fe *mllp.FrameError) []byte {
		if fe.Head == nil {
			return nil
		}
		a := hl7.Ack{Code: hl7.AckReject, Condition: hl7.ConditionInternal, Text: "truncated frame; resend the message"}
		return hl7.Answer(fe.Head, a, o.Now().In(o.Location))
	}
	return mllp.NewServer(NewEventHandler(h, o), so)
}

// NewEventHandler returns the MLLP handler of the report listener. For each message, in
// this order:
//
//   - no readable MSH: no answer (logged); no MSH-10: AR 101 with MSA-2 empty;
//   - MSH-11 is not the listener's processing id: AR 202; MSH-12 not a version taken: AR 203;
//   - it does not parse: AE 100 (bad segment) or 102 (bad escape);
//   - it is not RDS^O13 (RDS^O01 in v2.3) or OMS^O05: AR 200 (type) or 201 (event);
//   - it lacks what its type requires or holds a value that cannot be read: AE 101, 102,
//     103 or 100, with ERR-2 locating the field. Text in another character set and amounts
//     that are not whole numbers are not such values: the event carries them, flagged
//     (hl7.DecodeEvent), and the handler decides;
//   - h.HandleEvent returns nil: AA (h must return nil for a report it has already applied,
//     so a resent report, same MSH-10, is acknowledged AA and counted once);
//   - h returns a *cabinet.ReportError: its Condition and Text, and its Ack, but for the
//     conditions that ask for a resend (hl7.Resend: 206, 207), always answered AR;
//   - h returns any other error: AR 207 "report not applied; resend later" (the error
//     itself is logged, never sent).
//
// ERR-3 alone tells the sender what to do: 206 and 207 resend the same message later,
// every other condition never. A message whose MSH-15 asks for a commit acknowledgment is
// answered with the commit counterparts CA, CE and CR (hl7.Header.CommitAck); any other with
// AA, AE or AR. The handler's context carries the message as received, in UTF-8
// (cabinet.WithRaw, hl7.TranscodeRaw).
func NewEventHandler(h cabinet.EventHandler, o ListenerOptions) mllp.Handler {
	o = o.withDefaults()
	return func(ctx context.Context, raw []byte) []byte {
		now := o.Now().In(o.Location)
		log := o.Logger
		if p, ok := mllp.PeerFromContext(ctx); ok {
			log = log.With("peer", p.Addr.String())
		}
		head, err := hl7.ParseHeader(raw)
		if err != nil {
			log.WarnContext(ctx, "cabinet message without a readable MSH: not answered", "error", err)
			return nil
		}
		log = log.With("control_id", head.ControlID)
		reply := func(a hl7.Ack) []byte {
			ack, err := hl7.Reply(head, a, now)
			if err != nil {
				log.ErrorContext(ctx, "acknowledgment not built", "error", err)
				return nil
			}
			return ack
		}
		if head.ControlID == "" {
			log.WarnContext(ctx, "cabinet message without MSH-10: answered AR with MSA-2 empty")
			return reply(hl7.Ack{Code: hl7.AckReject, Condition: hl7.ConditionRequiredField,
				Text: "MSH-10 message control id is empty", Segment: "MSH", Occurrence: 1, Field: 10})
		}
		if head.ProcessingID != o.ProcessingID {
			log.WarnContext(ctx, "cabinet message for another processing id", "processing_id", head.ProcessingID)
			return reply(hl7.Ack{Code: hl7.AckReject, Condition: hl7.ConditionUnsupportedProcess,
				Text: fmt.Sprintf("processing id %q, this system takes %q", head.ProcessingID, o.ProcessingID)})
		}
		if !slices.Contains(o.Versions, head.Version) {
			log.WarnContext(ctx, "cabinet message of an unsupported version", "version", head.Version)
			return reply(hl7.Ack{Code: hl7.AckReject, Condition: hl7.ConditionUnsupportedVersion,
				Text: fmt.Sprintf("version %q is not supported", head.Version)})
		}
		if why := overShape(raw, o.MaxSegments, o.MaxFields); why != "" {
			log.WarnContext(ctx, "cabinet message refused unparsed", "reason", why)
			return reply(hl7.Ack{Code: hl7.AckError, Condition: hl7.ConditionSegmentSequence, Text: why})
		}
		msg, err := hl7.Parse(raw)
		if err != nil {
			// The parser's words may quote the message: neither the log nor the answer repeats
			// them, only where the message went wrong.
			a := hl7.AckFor(hl7.AckError, err)
			a.Text = "the message does not parse"
			log.WarnContext(ctx, "unreadable cabinet message", "condition", a.Condition, "segment", a.Segment, "field", a.Field)
			return reply(a)
		}
		ev, err := hl7.DecodeEvent(msg, o.Location)
		if errors.Is(err, hl7.ErrUnsupported) || errors.Is(err, hl7.ErrUnsupportedEvent) {
			log.WarnContext(ctx, "cabinet message of an unsupported type", "error", err)
			return reply(hl7.AckFor(hl7.AckReject, err))
		}
		if err != nil {
			log.WarnContext(ctx, "cabinet message refused", "error", err)
			return reply(hl7.AckFor(hl7.AckError, err))
		}
		log = log.With("cabinet", ev.CabinetCode, "kind", string(ev.Kind), obs.KeyWorkflowID, ev.RequestID)
		ctx, span := obs.StartSpan(ctx, "cabinet report", obs.AttrCabinet.String(ev.CabinetCode),
			obs.AttrReportKind.String(string(ev.Kind)), obs.AttrControlID.String(head.ControlID))
		if ev.RequestID != "" {
			span.SetAttributes(obs.AttrWorkflowID.String(ev.RequestID))
		}
		if len(ev.Flags) > 0 {
			log.WarnContext(ctx, "cabinet report accepted with flags", "flags", ev.Flags)
		}
		ack := answerOf(ctx, log, h.HandleEvent(cabinet.WithRaw(ctx, hl7.TranscodeRaw(raw)), ev))
		span.SetAttributes(obs.AttrAck.String(string(ack.Code)))
		if !ack.Code.Accepted() {
			span.SetStatus(codes.Error, "not accepted")
		}
		span.End()
		return reply(ack)
	}
}

// answerOf turns the handler's result into the acknowledgment, logging it.
func answerOf(ctx context.Context, log *slog.Logger, err error) hl7.Ack {
	var re *cabinet.ReportError
	switch {
	case err == nil:
		log.InfoContext(ctx, "cabinet report applied")
		return hl7.Ack{Code: hl7.AckAccept}
	case errors.As(err, &re):
		code, cond := hl7.AckCode(re.Ack), re.Condition
		if cond == "" {
			cond = hl7.ConditionInternal
		}
		if code != hl7.AckError || hl7.Resend(cond) {
			// ERR-3 is the sender's key: a condition that asks for a resend is an AR.
			code = hl7.AckReject
		}
		log.WarnContext(ctx, "cabinet report not applied", "ack", code, "condition", cond, "text", re.Text, "error", re.Err)
		return hl7.Ack{Code: code, Condition: cond, Text: re.Text}
	default:
		log.ErrorContext(ctx, "cabinet report not applied", "error", err)
		return hl7.Ack{Code: hl7.AckReject, Condition: hl7.ConditionInternal, Text: "report not applied; resend later"}
	}
}

// overShape says why a message has too many segments or a segment too many fields, or "".
// It counts separators only (MSH-1's field separator, CR or LF between segments): nothing of
// the message is decoded or kept.
func overShape(raw []byte, maxSegments, maxFields int) string {
	sep := byte('|')
	if len(raw) > 3 {
		sep = raw[3]
	}
	segments, fields, empty := 0, 0, true
	for _, c := range raw {
		switch c {
		case '\r', '\n':
			if !empty {
				segments++
			}
			fields, empty = 0, true
		case sep:
			empty = false
			fields++
		default:
			empty = false
		}
		if fields > maxFields {
			return fmt.Sprintf("a segment with more than %d fields", maxFields)
		}
		if segments > maxSegments || segments == maxSegments && !empty {
			return fmt.Sprintf("more than %d segments", maxSegments)
		}
	}
	return ""
}
