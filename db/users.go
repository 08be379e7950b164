package db

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// Audit actions of the users directory.
const (
	ActionUserCreated     = "user_created"
	ActionUserUpdated     = "user_updated"
	ActionUserProvisioned = "user_provisioned"
)

// UpsertUser creates a user, or replaces the name, role, registration, unit and active flag
// of the user with the same ID, without an audit entry: it is for seeding demo data. It
// returns ErrInvalid for an unknown role.
func (s *CatalogueStore) UpsertUser(ctx context.Context, u User) error {
	role := gen.UserRole(u.Role)
	if !role.Valid() {
		return wrap("upsert user", invalidf("unknown role %q", u.Role))
	}
	return wrap("upsert user", s.q.UpsertUser(ctx, gen.UpsertUserParams{
		ID:           u.ID,
		Name:         u.Name,
		Role:         role,
		Registration: u.Registration,
		Unit:         u.Unit,
		Active:       u.Active,
	}))
}

// ListUsers returns every user ordered by id.
func (s *CatalogueStore) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.q.ListUsers(ctx)
	if err != nil {
		return nil, wrap("list users", err)
	}
	out := make([]User, len(rows))
	for i, r := range rows {
		out[i] = userFromGen(r)
	}
	return out, nil
}

// GetUser returns the user with the given id, or ErrNotFound.
func (s *CatalogueStore) GetUser(ctx context.Context, id string) (User, error) {
	row, err := s.q.GetUser(ctx, id)
	if err != nil {
		return User{}, wrap("get user", err)
	}
	return userFromGen(row), nil
}

// CreateUser adds a user to the directory, audited (user_created, details before null and
// after the user) in the same transaction. It returns ErrConflict when the id is taken and
// ErrInvalid for an unknown role or an empty id or name.
func (s *CatalogueStore) CreateUser(ctx context.Context, u User, by pyxis.Actor) (User, error) {
	role := gen.UserRole(u.Role)
	if !role.Valid() {
		return User{}, wrap("create user", invalidf("unknown role %q", u.Role))
	}
	var out User
	err := s.inTx(ctx, func(q *gen.Queries) error {
		row, err := q.CreateUser(ctx, gen.CreateUserParams{
			ID: u.ID, Name: u.Name, Role: role, Registration: u.Registration, Unit: u.Unit, Active: u.Active,
		})
		if err != nil {
			return err
		}
		out = userFromGen(row)
		return auditChange(ctx, q, by, ActionUserCreated, nil, userSnapshot(out), nil)
	})
	if err != nil {
		return User{}, wrap("create user", err)
	}
	return out, nil
}

// EnsureUser adds u to the directory unless a user with its ID exists, and returns the user
// the directory holds. A user added here is audited (user_provisioned, by by, details before
// null and after the user, source "token"): it is how a user is provisioned just in time, on
// the first sight of a valid token. It returns ErrInvalid for an unknown role or an empty id
// or name.
func (s *CatalogueStore) EnsureUser(ctx context.Context, u User, by pyxis.Actor) (User, error) {
	role := gen.UserRole(u.Role)
	if !role.Valid() {
		return User{}, wrap("ensure user", invalidf("unknown role %q", u.Role))
	}
	var out User
	err := s.inTx(ctx, func(q *gen.Queries) error {
		row, err := q.InsertUserIfMissing(ctx, gen.InsertUserIfMissingParams{
			ID: u.ID, Name: u.Name, Role: role, Registration: u.Registration, Unit: u.Unit, Active: u.Active,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			// Someone was first: the directory's row stands.
			row, err = q.GetUser(ctx, u.ID)
			out = userFromGen(row)
			return err
		}
		if err != nil {
			return err
		}
		out = userFromGen(row)
		return auditChange(ctx, q, by, ActionUserProvisioned, nil, userSnapshot(out), map[string]any{"source": "token"})
	})
	if err != nil {
		return User{}, wrap("ensure user", err)
	}
	return out, nil
}

// UpdateUser changes the fields of the user set in p, audited (user_updated, details before
// and after) in the same transaction. It returns ErrNotFound for an unknown id and ErrInvalid
// for an unknown role or an empty name.
func (s *CatalogueStore) UpdateUser(ctx context.Context, id string, p UserPatch, by pyxis.Actor) (User, error) {
	if p.Role != nil && !gen.UserRole(*p.Role).Valid() {
		return User{}, wrap("update user", invalidf("unknown role %q", *p.Role))
	}
	var out User
	err := s.inTx(ctx, func(q *gen.Queries) error {
		row, err := q.LockUser(ctx, id)
		if err != nil {
			return err
		}
		before := userFromGen(row)
		after := before
		set(&after.Name, p.Name)
		set(&after.Role, p.Role)
		set(&after.Registration, p.Registration)
		set(&after.Unit, p.Unit)
		set(&after.Active, p.Active)
		row, err = q.UpdateUser(ctx, gen.UpdateUserParams{
			ID: id, Name: after.Name, Role: gen.UserRole(after.Role), Registration: after.Registration,
			Unit: after.Unit, Active: after.Active,
		})
		if err != nil {
			return err
		}
		out = userFromGen(row)
		return auditChange(ctx, q, by, ActionUserUpdated, userSnapshot(before), userSnapshot(out), nil)
	})
	if err != nil {
		return User{}, wrap("update user", err)
	}
	return out, nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// userFromGen converts a generated row to the domain type.
func userFromGen(r gen.User) User {
	return User{
		ID: r.ID, Name: r.Name, Role: string(r.Role), Registration: r.Registration, Unit: r.Unit,
		Active: r.Active, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

// userSnapshot is what the audit trail records of a user.
func userSnapshot(u User) map[string]any {
	return map[string]any{
		"id": u.ID, "name": u.Name, "role": u.Role, "registration": u.Registration, "unit": u.Unit, "active": u.Active,
	}
}
