package db

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// RecordDeliveryAttempt records a failed attempt of a request's cabinet command (the table's
// comment in migration 0010 tells the rules). A request not in the projection is ErrNotFound.
func (s *RequestStore) RecordDeliveryAttempt(ctx context.Context, at pyxis.DeliveryAttempt) error {
	if at.Command != pyxis.DeliveryAuthorize && at.Command != pyxis.DeliveryRevoke {
		return wrap("record delivery attempt", invalidf("unknown cabinet command %q", at.Command))
	}
	_, err := s.q.RecordDeliveryAttempt(ctx, gen.RecordDeliveryAttemptParams{
		RequestID: at.RequestID, Command: at.Command, Attempt: max(at.Attempt, 1), LastError: at.LastError,
		At: at.At, MaybeDelivered: at.MaybeDelivered,
	})
	return wrap("record delivery attempt", err)
}

// SettleDelivery closes a request's cabinet command that the cabinet answered, and reports
// whether an earlier attempt of it may have reached the cabinet without an answer. A command
// with no failed attempt recorded had none.
func (s *RequestStore) SettleDelivery(ctx context.Context, requestID, command string) (maybeDelivered bool, err error) {
	maybe, err := s.q.SettleDelivery(ctx, gen.SettleDeliveryParams{RequestID: requestID, Command: command})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return maybe, wrap("settle delivery", err)
}
