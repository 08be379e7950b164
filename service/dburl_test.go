package service

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestMaskURLRedactsBothForms reads connection strings the way pgx does and shows them
// without their password, in URL and in keyword/value form, whatever the password holds.
func TestMaskURLRedactsBothForms(t *testing.T) {
	t.Setenv("PGPASSWORD", "")
	t.Setenv("PGPASSFILE", "/nonexistent/pgpass")
	t.Setenv("PGSERVICEFILE", "/nonexistent/pg_service.conf")
	tests := []struct {
		name, in, want string
		secret         string
	}{
		{"URL", "postgres://pyxis:s3cret@db.internal:6432/pyxis?sslmode=disable",
			"postgres://pyxis:***@db.internal:6432/pyxis?sslmode=disable", "s3cret"},
		{"URL, special characters escaped", "postgresql://pyxis:p%40ss%3Aw%2Frd%20%23%3F@db:5432/pyxis?sslmode=require&pool_max_conns=8",
			"postgres://pyxis:***@db:5432/pyxis", "p@ss:w/rd #?"},
		{"URL, password as a parameter", "postgres://pyxis@db/pyxis?password=hunter2&sslmode=disable",
			"postgres://pyxis:***@db:5432/pyxis?sslmode=disable", "hunter2"},
		{"URL without a password", "postgres://postgres@127.0.0.1:5432/pyxis_dev?sslmode=disable",
			"postgres://postgres@127.0.0.1:5432/pyxis_dev?sslmode=disable", ""},
		{"keyword/value", "host=db.internal port=6432 user=pyxis password=s3cret dbname=pyxis sslmode=disable",
			"postgres://pyxis:***@db.internal:6432/pyxis?sslmode=disable", "s3cret"},
		{"keyword/value, quoted with spaces and quotes", `host=db user=pyxis password='it\'s a \'secret\' = yes' dbname=pyxis sslmode=disable`,
			"postgres://pyxis:***@db:5432/pyxis?sslmode=disable", `it's a 'secret' = yes`},
		{"keyword/value, password first and unquoted symbols", `password=a@b:c/d?e#f host=db user=u dbname=d sslmode=disable`,
			"postgres://u:***@db:5432/d?sslmode=disable", "a@b:c/d?e#f"},
		{"several hosts", "postgres://u:pw@h1:5432,h2:5433/d?sslmode=disable",
			"postgres://u:***@h1:5432,h2:5433/d?sslmode=disable", "pw"},
		{"unix socket", "host=/var/run/postgresql user=u password=pw dbname=d",
			"postgres://u:***@/d?host=%2Fvar%2Frun%2Fpostgresql&sslmode=disable", "pw"},
		{"unreadable", "postgres://u:pw@db:notaport/d", "(unreadable connection string)", "pw"},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MaskURL(tt.in)
			assert.Equal(t, tt.want, got)
			if tt.secret != "" {
				assert.NotContains(t, got, tt.secret)
				for _, part := range strings.Fields(tt.secret) {
					if len(part) > 3 {
						assert.NotContains(t, got, part)
					}
				}
			}
		})
	}
	cfg := Config{DatabaseURL: "host=db user=u password=topsecret dbname=d"}
	assert.NotContains(t, cfg.String(), "topsecret", "the Config logged at start")
}
