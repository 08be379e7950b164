package cabsim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/mllp"
)

// handleOrder answers one message on the order listener: an RDE^O11 authorization or an
// MFN^M01 item master update. It answers as the listener of the system does: AR for another
// processing id (202), version (203) or message type (200, 201) and under the busy fault; AE
// for what cannot be read or is wrong.
//
// An AA goes out only once the state that holds the message's effect is on disk (with a
// state file): a crash after the AA cannot lose what it acknowledged. When the write fails or
// takes too long the answer is AR 207 (resend later; the resend is recognised as a duplicate
// and acknowledged once the write succeeds); when the simulator closes meanwhile there is no
// answer, and the sender resends.
func (s *Sim) handleOrder(ctx context.Context, raw []byte) []byte {
	faults := s.Faults()
	now := time.Now()
	head, err := hl7.ParseHeader(raw)
	if err != nil || head.ControlID == "" {
		s.logger.Warn("message without a readable MSH or MSH-10: not answered", "error", err)
		return nil
	}
	if faults.Drop {
		s.drop(ctx, head)
		return nil
	}
	ack, gen := s.answer(raw, head, faults)
	if ack.Code == hl7.AckAccept {
		wctx, cancel := context.WithTimeout(ctx, durableWait)
		err := s.durable(wctx, gen)
		cancel()
		switch {
		case err != nil && (ctx.Err() != nil || s.ctx.Err() != nil):
			s.logger.Info("closing before the message was kept: not answered", "control_id", head.ControlID)
			return nil
		case err != nil:
			s.logger.Error("message applied but not kept on disk: answered AR", "control_id", head.ControlID, "error", err)
			ack = hl7.Ack{Code: hl7.AckReject, Condition: hl7.ConditionInternal,
				Text: "the cabinet could not keep the message now; resend it later"}
		}
	}
	s.logger.Info("message answered", "control_id", head.ControlID, "type", head.MessageCode+"^"+head.TriggerEvent,
		"ack", ack.Code, "text", ack.Text)
	if faults.Slow > 0 {
		t := time.NewTimer(faults.Slow)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
	reply, err := hl7.Reply(head, ack, time.Now())
	if err != nil {
		s.logger.Error("acknowledgment not built", "error", err, "at", now)
		return nil
	}
	return reply
}

// answer decides the acknowledgment of one message and applies it. gen is the generation of
// the durable state that holds what an AA acknowledges (a duplicate's AA acknowledges the
// first message's effect, which may not be on disk yet either).
func (s *Sim) answer(raw []byte, head hl7.Header, faults Faults) (ack hl7.Ack, gen uint64) {
	switch {
	case head.ProcessingID != s.processingID():
		return hl7.Ack{Code: hl7.AckReject, Condition: hl7.ConditionUnsupportedProcess,
			Text: fmt.Sprintf("processing id %q, this cabinet takes %q", head.ProcessingID, s.processingID())}, 0
	case head.Version != "2.5" && head.Version != "2.5.1":
		return hl7.Ack{Code: hl7.AckReject, Condition: hl7.ConditionUnsupportedVersion,
			Text: fmt.Sprintf("version %q is not supported", head.Version)}, 0
	case faults.Busy:
		s.mu.Lock()
		s.stats.OrdersDeferred++
		s.changedLocked()
		s.mu.Unlock()
		return hl7.Ack{Code: hl7.AckReject, Condition: hl7.ConditionInternal, Text: "cabinet busy; resend later (fault busy)"}, 0
	}
	msg, err := hl7.Parse(raw)
	if err != nil {
		return hl7.AckFor(hl7.AckError, err), 0
	}
	var apply func(now time.Time) hl7.Ack
	switch head.MessageCode {
	case "RDE":
		auth, err := hl7.DecodeRDE(msg, time.UTC)
		if err != nil {
			return ackOfDecode(err), 0
		}
		apply = func(now time.Time) hl7.Ack { return s.applyLocked(auth, faults, now) }
	case "MFN":
		u, err := hl7.DecodeMFN(msg, time.UTC)
		if err != nil {
			return ackOfDecode(err), 0
		}
		apply = func(time.Time) hl7.Ack { return s.applyItemLocked(u, faults) }
	default:
		return hl7.Ack{Code: hl7.AckReject, Condition: hl7.ConditionUnsupportedType,
			Text: fmt.Sprintf("%s^%s is not RDE^O11 or MFN^M01", head.MessageCode, head.TriggerEvent)}, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ack = apply(s.clock.Now())
	return ack, s.changedLocked()
}

// ackOfDecode answers a decoder's error: AR for an unsupported type or event, AE otherwise.
func ackOfDecode(err error) hl7.Ack {
	if errors.Is(err, hl7.ErrUnsupported) || errors.Is(err, hl7.ErrUnsupportedEvent) {
		return hl7.AckFor(hl7.AckReject, err)
	}
	return hl7.AckFor(hl7.AckError, err)
}

func (s *Sim) processingID() string {
	if s.cfg.ProcessingID == "" {
		return hl7.ProcessingProduction
	}
	return s.cfg.ProcessingID
}

// drop starts an answer frame and closes the connection before finishing it, as a cabinet
// that loses power or network mid-answer would.
func (s *Sim) drop(ctx context.Context, head hl7.Header) {
	s.logger.Info("dropping the connection mid-frame (fault drop)", "control_id", head.ControlID)
	nc, ok := mllp.ConnFromContext(ctx)
	if !ok {
		return
	}
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = nc.Write([]byte{mllp.StartBlock, 'M', 'S', 'H', '|'})
	_ = nc.Close()
}

// applyLocked decides the answer to an authorization and updates the simulator's state.
func (s *Sim) applyLocked(auth *hl7.Authorization, faults Faults, now time.Time) hl7.Ack {
	refuse := func(condition, text string) hl7.Ack {
		s.stats.OrdersRefused++
		return hl7.Ack{Code: hl7.AckError, Text: text, Condition: condition}
	}
	accept := hl7.Ack{Code: hl7.AckAccept}
	if faults.Reject {
		return refuse(hl7.ConditionInternal, "simulated refusal (fault reject)")
	}
	if _, ok := s.accepted[auth.ControlID]; ok {
		s.stats.DuplicatesRecognised++
		return hl7.Ack{Code: hl7.AckAccept, Text: "duplicate of an accepted message"}
	}
	id := auth.Order.RequestID
	held := s.orders[id]
	if auth.Control == hl7.OrderCancel || auth.Control == hl7.OrderDiscontinue {
		s.accepted[auth.ControlID] = now
		if held != nil && !held.done() {
			held.cancelled, held.doneAt = true, now
			if held.timer != nil && held.timer.Stop() {
				s.wg.Done()
			}
			if s.stock != nil {
				s.stock.release(held.order)
			}
			s.stats.OrdersCancelled++
		}
		return accept
	}
	if held != nil && !held.cancelled {
		// The same request under another control id: still one authorization.
		s.accepted[auth.ControlID] = now
		s.stats.DuplicatesRecognised++
		return hl7.Ack{Code: hl7.AckAccept, Text: "duplicate of an accepted order"}
	}
	if s.stock != nil {
		if condition, reason := s.stock.reserve(auth.Order); reason != "" {
			return refuse(condition, reason)
		}
	}
	o := &simOrder{order: auth.Order, acceptedAt: now, applied: 1}
	if held != nil {
		o.applied += held.applied
	}
	if s.cfg.WithdrawAfter > 0 {
		o.dueAt = now.Add(s.cfg.WithdrawAfter)
	}
	s.orders[id] = o
	s.accepted[auth.ControlID] = now
	s.stats.OrdersAccepted++
	s.scheduleLocked(o)
	return accept
}

// scheduleLocked sets the timer of a held order's automatic withdrawal, when it has one.
func (s *Sim) scheduleLocked(o *simOrder) {
	if o.dueAt.IsZero() || o.done() || s.closed || !s.started {
		return
	}
	id := o.order.RequestID
	s.wg.Add(1)
	o.timer = s.clock.AfterFunc(o.dueAt.Sub(s.clock.Now()), func() {
		defer s.wg.Done()
		s.autoWithdraw(id)
	})
}

// autoWithdraw is the simulated nurse's withdrawal of a held order: it queues the report,
// which the outbox delivers.
func (s *Sim) autoWithdraw(id string) {
	if s.reporter == nil {
		s.logger.Warn("simulated withdrawal not reported", "request_id", id, "error", ErrNoReportTo)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[id]
	if o == nil || o.done() || s.closed {
		return
	}
	o.timer = nil
	if _, err := s.withdrawLocked(id, nil, s.clock.Now()); err != nil {
		s.logger.Warn("simulated withdrawal not reported", "request_id", id, "error", err)
	}
}

// applyItemLocked adds or updates an item of the simulator's item master. It is idempotent:
// the same update applied twice leaves the same item.
func (s *Sim) applyItemLocked(u *hl7.ItemUpdate, faults Faults) hl7.Ack {
	if faults.Reject {
		return hl7.Ack{Code: hl7.AckError, Condition: hl7.ConditionInternal, Text: "simulated refusal (fault reject)"}
	}
	if s.stock != nil && u.CabinetCode != s.stock.cabinet && u.CabinetCode != hl7.DefaultServerApplication {
		return hl7.Ack{Code: hl7.AckError, Condition: hl7.ConditionUnknownKey,
			Text: fmt.Sprintf("this is cabinet %s, not %s", s.stock.cabinet, u.CabinetCode)}
	}
	s.items[u.Item.Code] = u.Item
	s.stats.ItemsUpdated++
	return hl7.Ack{Code: hl7.AckAccept}
}
