package db

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSpanName(t *testing.T) {
	for stmt, want := range map[string]string{
		"-- name: GetCabinet :one\nSELECT id FROM cabinets WHERE id = $1": "GetCabinet",
		"begin":                         "BEGIN",
		"  select pg_advisory_lock($1)": "SELECT",
		"":                              "",
	} {
		assert.Equal(t, want, spanName(stmt), stmt)
	}
}
