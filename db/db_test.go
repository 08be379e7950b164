package db_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/db"
)

// A database named beside another keeps the server, role and parameters of the URL it was
// named from, a Unix socket's folder among them; the key=value form has no place for the
// name, and a refusal never repeats a URL that may hold a password.
func TestWithDatabase(t *testing.T) {
	got, err := db.WithDatabase("postgres://pyxis:s3cret@db.example:6432/pyxis?sslmode=require&pool_max_conns=8", "pyxis_temporal")
	require.NoError(t, err)
	assert.Equal(t, "postgres://pyxis:s3cret@db.example:6432/pyxis_temporal?sslmode=require&pool_max_conns=8", got)
	got, err = db.WithDatabase("postgresql://postgres@/postgres?host=/var/run/postgresql", "pyxis_dev")
	require.NoError(t, err)
	assert.Equal(t, "postgresql://postgres@/pyxis_dev?host=/var/run/postgresql", got)

	for _, bad := range []string{
		"host=/var/run/postgresql dbname=pyxis password=s3cret",
		"postgres://pyxis:s3cret%zz@db.example/pyxis", // an escape url.Parse refuses, echoing the URL
		"mysql://pyxis:s3cret@db.example/pyxis",
	} {
		_, err := db.WithDatabase(bad, "pyxis_dev")
		if assert.ErrorContains(t, err, "want a postgres:// URL", bad) {
			assert.NotContains(t, err.Error(), "s3cret", bad)
		}
	}
}
