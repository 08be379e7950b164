package api

import (
	"io"
	"log/slog"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis/db/dbtest"
)

// The api package's own tests need no Temporal server: authentication, limits, headers, the
// codec endpoints and the audit check run against a gin router, and a Postgres database where
// the store is involved. The end-to-end tests live in e2e.
func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	dbtest.Main(m)
}
