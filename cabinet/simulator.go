package cabinet

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Reporter delivers a simulated withdrawal to the system, as a real cabinet's interface would.
type Reporter func(ctx context.Context, cabinetCode, requestID string) error

// Fault is a failure the simulator can be told to show.
type Fault string

// Faults of the in-process simulator.
const (
	FaultNone    Fault = ""
	FaultRefuse  Fault = "refuse"  // answer every order with a refusal
	FaultOffline Fault = "offline" // do not answer at all
)

// Simulator is an in-process cabinet. It acknowledges every authorization (idempotently, by
// request id), records item master updates and, when WithdrawAfter is set, reports the withdrawal by itself, as a nurse at
// the cabinet would.
type Simulator struct {
	withdrawAfter time.Duration
	report        Reporter
	logger        *slog.Logger

	mu     sync.Mutex
	faults map[string]Fault // by cabinet code
	orders map[string]*simOrder
	items  map[string]map[string]Item // by cabinet code, then item code
	closed bool
	wg     sync.WaitGroup
	stop   chan struct{}
}

var _ Driver = (*Simulator)(nil)

type simOrder struct {
	order   Order
	revoked bool
	timer   *time.Timer
}

// NewSimulator returns a simulator. withdrawAfter <= 0 or a nil report disables automatic
// withdrawals; they then come only through the API.
func NewSimulator(withdrawAfter time.Duration, report Reporter, logger *slog.Logger) *Simulator {
	if logger == nil {
		logger = slog.Default()
	}
	return &Simulator{
		withdrawAfter: withdrawAfter,
		report:        report,
		logger:        logger,
		faults:        make(map[string]Fault),
		orders:        make(map[string]*simOrder),
		items:         make(map[string]map[string]Item),
		stop:          make(chan struct{}),
	}
}

// SetFault makes the cabinet with this code misbehave; FaultNone heals it.
func (s *Simulator) SetFault(cabinetCode string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == FaultNone {
		delete(s.faults, cabinetCode)
		return
	}
	s.faults[cabinetCode] = f
}

// Authorize acknowledges an order. A repeat of an order already held is acknowledged again
// without scheduling a second withdrawal.
func (s *Simulator) Authorize(ctx context.Context, o Order) (err error) {
	defer simAck(ctx, &err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.faultLocked(ctx, o.CabinetCode); err != nil {
		return err
	}
	if _, ok := s.orders[o.RequestID]; ok {
		return nil
	}
	so := &simOrder{order: o}
	s.orders[o.RequestID] = so
	if s.withdrawAfter > 0 && s.report != nil && !s.closed {
		s.wg.Add(1)
		so.timer = time.AfterFunc(s.withdrawAfter, func() {
			defer s.wg.Done()
			s.withdraw(o)
		})
	}
	return nil
}

// Revoke withdraws an authorization; an unknown or already revoked order is acknowledged.
func (s *Simulator) Revoke(ctx context.Context, o Order) (err error) {
	defer simAck(ctx, &err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.faultLocked(ctx, o.CabinetCode); err != nil {
		return err
	}
	so, ok := s.orders[o.RequestID]
	if !ok {
		so = &simOrder{order: o}
		s.orders[o.RequestID] = so
	}
	so.revoked = true
	if so.timer != nil && so.timer.Stop() {
		s.wg.Done()
	}
	return nil
}

// UpdateItem records the item in the cabinet's simulated item master; a repeat overwrites it
// with the same values.
func (s *Simulator) UpdateItem(ctx context.Context, c CabinetTarget, item Item) (err error) {
	defer simAck(ctx, &err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.faultLocked(ctx, c.CabinetCode); err != nil {
		return err
	}
	if s.items[c.CabinetCode] == nil {
		s.items[c.CabinetCode] = make(map[string]Item)
	}
	s.items[c.CabinetCode][item.Code] = item
	return nil
}

// Item returns the item master entry of a cabinet's item code, and whether there is one.
func (s *Simulator) Item(cabinetCode, itemCode string) (Item, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[cabinetCode][itemCode]
	return it, ok
}

// simAck tells the command's trace what a real cabinet would have acknowledged: AA when the
// simulator took the command, AE when it refused it; nothing when it did not answer.
func simAck(ctx context.Context, err *error) {
	var refused *RefusedError
	switch {
	case *err == nil:
		Acknowledged(ctx, AckAccept)
	case errors.As(*err, &refused):
		Acknowledged(ctx, AckRefuse)
	}
}

func (s *Simulator) faultLocked(ctx context.Context, code string) error {
	switch s.faults[code] {
	case FaultRefuse:
		return &RefusedError{Cabinet: code, Reason: "simulated refusal"}
	case FaultOffline:
		s.mu.Unlock()
		defer s.mu.Lock()
		// An offline cabinet does not answer: the caller's deadline decides.
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
		return ErrUnreachable
	}
	return nil
}

// withdraw reports the simulated withdrawal, retrying briefly: the report may reach the
// workflow a moment before it has moved to ready_at_cabinet.
func (s *Simulator) withdraw(o Order) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		s.mu.Lock()
		revoked := s.orders[o.RequestID].revoked
		s.mu.Unlock()
		if revoked {
			return
		}
		err := s.report(ctx, o.CabinetCode, o.RequestID)
		if err == nil {
			s.logger.Info("simulated withdrawal reported", "request_id", o.RequestID, "cabinet", o.CabinetCode)
			return
		}
		if attempt == 10 {
			s.logger.Warn("simulated withdrawal not reported", "request_id", o.RequestID, "error", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// Authorized reports whether the simulator holds a live (not revoked) authorization for the
// request.
func (s *Simulator) Authorized(requestID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	so, ok := s.orders[requestID]
	return ok && !so.revoked
}

// Close stops pending withdrawals and waits for reports in flight.
func (s *Simulator) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.stop)
	for _, so := range s.orders {
		if so.timer != nil && so.timer.Stop() {
			s.wg.Done()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}
