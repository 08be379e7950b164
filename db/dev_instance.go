package db

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/medreq/pyxis/db/gen"
)

// DevInstance is the dev stack's instance as its database records it: the id it shares with
// its data folder, and that folder.
type DevInstance struct {
	ID  string
	Dir string
}

// DevInstance returns the dev stack's instance recorded in this database; ok is false when
// none is (a database dev mode never ran on, or one it ran on before it recorded instances).
func (s *Store) DevInstance(ctx context.Context) (inst DevInstance, ok bool, err error) {
	row, err := s.RequestStore.q.GetDevInstance(ctx)
	if errors.Is(err, pgx.ErrNoRows) {
		return DevInstance{}, false, nil
	}
	if err != nil {
		return DevInstance{}, false, wrap("get dev instance", err)
	}
	return DevInstance{ID: row.ID, Dir: row.Dir}, true, nil
}

// ClaimDevInstance records inst unless an instance is recorded already, and returns the one
// recorded: inst, or the earlier one when two dev stacks claimed the database at once.
func (s *Store) ClaimDevInstance(ctx context.Context, inst DevInstance) (DevInstance, error) {
	if err := s.RequestStore.q.ClaimDevInstance(ctx, gen.ClaimDevInstanceParams{ID: inst.ID, Dir: inst.Dir}); err != nil {
		return DevInstance{}, wrap("claim dev instance", err)
	}
	got, _, err := s.DevInstance(ctx)
	return got, err
}
