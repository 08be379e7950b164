package db

import (
	"context"
	"log/slog"
	"time"

	"github.com/medreq/pyxis"
)

// RecordedTransition is a transition of a request recorded for the first time, with what
// metrics need to know of its request. The store tells its TransitionObserver of each once
// the transaction that recorded it has committed: a retried step, which records nothing
// again, tells nothing again.
type RecordedTransition struct {
	RequestID string
	// From and Status are the statuses before and after; ReasonCode says why, if anything.
	From, Status, ReasonCode string
	At                       time.Time
	// Priority is the request's priority; Created when it was submitted; AwaitingSince when
	// it entered awaiting_approval (Created when it never did).
	Priority               string
	Created, AwaitingSince time.Time
}

// TransitionObserver is told of every transition a store records for the first time. It
// runs in the caller's goroutine after the commit, and must be quick.
type TransitionObserver func(RecordedTransition)

// WithTransitionObserver returns stores over the same pool whose RequestStore tells o of the
// transitions it records (the worker's, for its metrics).
func (s *Store) WithTransitionObserver(o TransitionObserver) *Store {
	c := *s
	r := *s.RequestStore
	r.observe = o
	c.RequestStore = &r
	return &c
}

// notify tells the observer of transitions just committed. What it reads of their request
// (priority, times) no later transition changes, so it is read after the commit, outside
// the transaction's locks. A failed read loses those observations, not the transitions.
func (s *RequestStore) notify(ctx context.Context, fresh []pyxis.Transition) {
	if s.observe == nil || len(fresh) == 0 {
		return
	}
	// Every transition of a step belongs to one request.
	times, err := s.q.GetRequestTimes(ctx, fresh[0].RequestID)
	if err != nil {
		slog.WarnContext(ctx, "metrics: transitions recorded but not counted", "request_id", fresh[0].RequestID,
			"transitions", len(fresh), "error", err)
		return
	}
	for _, t := range fresh {
		s.observe(RecordedTransition{
			RequestID: t.RequestID, From: t.From, Status: t.Status, ReasonCode: t.ReasonCode, At: t.At,
			Priority: string(times.Priority), Created: times.CreatedAt, AwaitingSince: times.AwaitingSince,
		})
	}
}
