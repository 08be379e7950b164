package db_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
)

func TestMedications(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)

	b, err := s.CreateMedication(ctx, db.NewMedication{Code: "B", Name: "Bee", ControlledList: "A1"})
	require.NoError(t, err)
	a, err := s.CreateMedication(ctx, db.NewMedication{Code: "A", Name: "Ay", Strength: "1 mg", Form: "tablet", Unit: "tab"})
	require.NoError(t, err)
	assert.NotZero(t, a.ID)
	assert.False(t, a.CreatedAt.IsZero())
	assert.Equal(t, "1 mg", a.Strength)
	assert.True(t, b.Controlled())

	_, err = s.CreateMedication(ctx, db.NewMedication{Code: "A", Name: "Again"})
	assert.ErrorIs(t, err, pyxis.ErrConflict)
	_, err = s.CreateMedication(ctx, db.NewMedication{Code: "", Name: "No code"})
	assert.ErrorIs(t, err, pyxis.ErrInvalid)

	list, err := s.ListMedications(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, []string{"A", "B"}, []string{list[0].Code, list[1].Code})
	assert.Equal(t, a, list[0])

	got, err := s.GetMedications(ctx, []int64{b.ID, 999_999, a.ID, 888_888})
	require.NoError(t, err)
	assert.Equal(t, []pyxis.Medication{b, a}, got, "known ids only, ordered by id (b was created first)")
	got, err = s.GetMedications(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestCabinets(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)

	c, err := s.CreateCabinet(ctx, db.NewCabinet{Code: "ICU-1", Name: "ICU cabinet", Unit: "ICU", Driver: "sim"})
	require.NoError(t, err)
	assert.Equal(t, "online", c.Status)
	m, err := s.CreateCabinet(ctx, db.NewCabinet{Code: "ER-1", Name: "ER cabinet", Status: "maintenance", Driver: "hl7", Address: "10.0.0.9:2575"})
	require.NoError(t, err)
	assert.Equal(t, "maintenance", m.Status)

	_, err = s.CreateCabinet(ctx, db.NewCabinet{Code: "ICU-1", Name: "dup", Driver: "sim"})
	assert.ErrorIs(t, err, pyxis.ErrConflict)
	_, err = s.CreateCabinet(ctx, db.NewCabinet{Code: "X", Name: "x", Status: "exploded", Driver: "sim"})
	assert.ErrorIs(t, err, pyxis.ErrInvalid)

	got, err := s.GetCabinet(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, c, got)
	got, err = s.GetCabinetByCode(ctx, "ER-1")
	require.NoError(t, err)
	assert.Equal(t, m, got)

	_, err = s.GetCabinet(ctx, 424242)
	assert.ErrorIs(t, err, pyxis.ErrNotFound)
	_, err = s.GetCabinetByCode(ctx, "nope")
	assert.ErrorIs(t, err, pyxis.ErrNotFound)

	list, err := s.ListCabinets(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "ER-1", list[0].Code)
}

func TestUsers(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)

	require.NoError(t, s.UpsertUser(ctx, db.User{ID: "u2", Name: "Paula", Role: "pharmacist", Registration: "CRF-1", Active: true}))
	require.NoError(t, s.UpsertUser(ctx, db.User{ID: "u1", Name: "Nina", Role: "nurse", Active: true}))
	require.NoError(t, s.UpsertUser(ctx, db.User{ID: "u1", Name: "Nina R.", Role: "nurse", Registration: "COREN-9", Unit: "ICU", Active: false}))
	assert.ErrorIs(t, s.UpsertUser(ctx, db.User{ID: "u3", Name: "X", Role: "surgeon"}), pyxis.ErrInvalid)

	users, err := s.ListUsers(ctx)
	require.NoError(t, err)
	for i := range users {
		assert.False(t, users[i].CreatedAt.IsZero())
		assert.False(t, users[i].UpdatedAt.Before(users[i].CreatedAt))
		users[i].CreatedAt, users[i].UpdatedAt = time.Time{}, time.Time{}
	}
	assert.Equal(t, []db.User{
		{ID: "u1", Name: "Nina R.", Role: "nurse", Registration: "COREN-9", Unit: "ICU", Active: false},
		{ID: "u2", Name: "Paula", Role: "pharmacist", Registration: "CRF-1", Active: true},
	}, users)
}

func TestStock(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)

	rows, err := s.ListStock(ctx, f.cabinet.ID)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, "AMOX500", rows[0].MedicationCode)
	assert.Equal(t, "Amoxicillin", rows[0].MedicationName)
	assert.Equal(t, int32(10), rows[0].OnHand)
	assert.Equal(t, int32(5), rows[0].ParLevel)

	row, err := s.SetStock(ctx, f.cabinet.ID, f.medA.ID, 7, 3, testActor)
	require.NoError(t, err)
	assert.Equal(t, int32(7), row.OnHand)
	assert.Equal(t, int32(3), row.ParLevel)
	assert.Equal(t, "AMOX500", row.MedicationCode)

	_, err = s.SetStock(ctx, 999_999, f.medA.ID, 1, 0, testActor)
	assert.ErrorIs(t, err, pyxis.ErrNotFound)
	_, err = s.SetStock(ctx, f.cabinet.ID, 999_999, 1, 0, testActor)
	assert.ErrorIs(t, err, pyxis.ErrNotFound)
	_, err = s.SetStock(ctx, f.cabinet.ID, f.medA.ID, -1, 0, testActor)
	assert.ErrorIs(t, err, pyxis.ErrInvalid)

	hold(t, s, f, "req-1", pyxis.Line{MedicationID: f.medA.ID, Quantity: 4})
	_, err = s.SetStock(ctx, f.cabinet.ID, f.medA.ID, 3, 3, testActor)
	assert.ErrorIs(t, err, pyxis.ErrStockBelowReserved)
	row, err = s.SetStock(ctx, f.cabinet.ID, f.medA.ID, 4, 3, testActor)
	require.NoError(t, err)
	assert.Equal(t, int32(4), row.Reserved, "a count keeps what is reserved")

	empty, err := s.ListStock(ctx, 999_999)
	require.NoError(t, err)
	assert.Empty(t, empty)
}
