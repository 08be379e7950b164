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
	ack := s.answer(raw, head, faults)
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

// answer decides the acknowledgment of one message and applies it.
func (s *Sim) answer(raw []byte, head hl7.Header, faults Faults) hl7.Ack {
	switch {
	case head.ProcessingID != s.processingID():
		return hl7.Ack{Code: hl7.AckReject, Condition: hl7.ConditionUnsupportedProcess,
			Text: fmt.Sprintf("processing id %q, this cabinet takes %q", head.ProcessingID, s.processingID())}
	case head.Version != "2.5" && head.Version != "2.5.1":
		return hl7.Ack{Code: hl7.AckReject, Condition: hl7.ConditionUnsupportedVersion,
			Text: fmt.Sprintf("version %q is not supported", head.Version)}
	case faults.Busy:
		s.mu.Lock()
		s.stats.OrdersDeferred++
		s.mu.Unlock()
		return hl7.Ack{Code: hl7.AckReject, Condition: hl7.ConditionInternal, Text: "cabinet busy; resend later (fault busy)"}
	}
	msg, err := hl7.Parse(raw)
	if err != nil {
		return hl7.AckFor(hl7.AckError, err)
	}
	switch head.MessageCode {
	case "RDE":
		auth, err := hl7.DecodeRDE(msg)
		if err != nil {
			return ackOfDecode(err)
		}
		return s.apply(auth, faults)
	case "MFN":
		u, err := hl7.DecodeMFN(msg, time.UTC)
		if err != nil {
			return ackOfDecode(err)
		}
		return s.applyItem(u, faults)
	}
	return hl7.Ack{Code: hl7.AckReject, Condition: hl7.ConditionUnsupportedType,
		Text: fmt.Sprintf("%s^%s is not RDE^O11 or MFN^M01", head.MessageCode, head.TriggerEvent)}
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

// apply decides the answer to an authorization and updates the simulator's state.
func (s *Sim) apply(auth *hl7.Authorization, faults Faults) hl7.Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse := func(condition, text string) hl7.Ack {
		s.stats.OrdersRefused++
		return hl7.Ack{Code: hl7.AckError, Text: text, Condition: condition}
	}
	accept := hl7.Ack{Code: hl7.AckAccept}
	if faults.Reject {
		return refuse(hl7.ConditionInternal, "simulated refusal (fault reject)")
	}
	if s.accepted[auth.ControlID] {
		s.stats.DuplicatesRecognised++
		return hl7.Ack{Code: hl7.AckAccept, Text: "duplicate of an accepted message"}
	}
	id := auth.Order.RequestID
	held := s.orders[id]
	if auth.Control == hl7.OrderCancel {
		s.accepted[auth.ControlID] = true
		if held != nil && !held.cancelled && !held.withdrawn {
			held.cancelled = true
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
		s.accepted[auth.ControlID] = true
		s.stats.DuplicatesRecognised++
		return hl7.Ack{Code: hl7.AckAccept, Text: "duplicate of an accepted order"}
	}
	if s.stock != nil {
		if condition, reason := s.stock.reserve(auth.Order); reason != "" {
			return refuse(condition, reason)
		}
	}
	o := &simOrder{order: auth.Order}
	s.orders[id] = o
	s.accepted[auth.ControlID] = true
	s.stats.OrdersAccepted++
	if s.cfg.WithdrawAfter > 0 && !s.closed {
		s.wg.Add(1)
		o.timer = time.AfterFunc(s.cfg.WithdrawAfter, func() {
			defer s.wg.Done()
			if _, err := s.Withdraw(s.ctx, id, nil); err != nil {
				s.logger.Warn("simulated withdrawal not reported", "request_id", id, "error", err)
			}
		})
	}
	return accept
}

// applyItem adds or updates an item of the simulator's item master. It is idempotent: the
// same update applied twice leaves the same item.
func (s *Sim) applyItem(u *hl7.ItemUpdate, faults Faults) hl7.Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	if faults.Reject {
		return hl7.Ack{Code: hl7.AckError, Condition: hl7.ConditionInternal, Text: "simulated refusal (fault reject)"}
	}
	if s.stock != nil && u.CabinetCode != s.stock.cabinet {
		return hl7.Ack{Code: hl7.AckError, Condition: hl7.ConditionUnknownKey,
			Text: fmt.Sprintf("this is cabinet %s, not %s", s.stock.cabinet, u.CabinetCode)}
	}
	s.items[u.Item.Code] = u.Item
	s.stats.ItemsUpdated++
	return hl7.Ack{Code: hl7.AckAccept}
}
