package cabsim

import (
	"context"
	"time"

	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/mllp"
)

// handleOrder answers one message on the order listener.
func (s *Sim) handleOrder(ctx context.Context, raw []byte) []byte {
	faults := s.Faults()
	now := time.Now()
	msg, err := hl7.Parse(raw)
	if err != nil {
		s.logger.Warn("unreadable order", "error", err)
		return hl7.Reject(raw, err.Error(), hl7.ConditionSegmentSequence, now)
	}
	head := msg.Header()
	if faults.Drop {
		s.drop(ctx, head)
		return nil
	}
	var ack hl7.Ack
	auth, err := hl7.DecodeRDE(msg)
	if err != nil {
		s.logger.Warn("order rejected", "control_id", head.ControlID, "error", err)
		ack = hl7.Ack{Code: hl7.AckReject, Text: err.Error(), Condition: hl7.ConditionRequiredField}
	} else {
		ack = s.apply(auth, faults)
		s.logger.Info("order answered", "control_id", auth.ControlID, "control", auth.Control,
			"request_id", auth.Order.RequestID, "ack", ack.Code, "text", ack.Text)
	}
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
		s.logger.Error("acknowledgment not built", "error", err)
		return nil
	}
	return reply
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
	refuse := func(text string) hl7.Ack {
		s.stats.OrdersRefused++
		return hl7.Ack{Code: hl7.AckError, Text: text, Condition: hl7.ConditionInternal}
	}
	accept := hl7.Ack{Code: hl7.AckAccept}
	if faults.Reject {
		return refuse("simulated refusal (fault reject)")
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
		if reason := s.stock.reserve(auth.Order); reason != "" {
			return refuse(reason)
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
			if _, err := s.Withdraw(s.ctx, id); err != nil {
				s.logger.Warn("simulated withdrawal not reported", "request_id", id, "error", err)
			}
		})
	}
	return accept
}
