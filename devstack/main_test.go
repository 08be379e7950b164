package devstack

import (
	"testing"

	"github.com/medreq/pyxis/db/dbtest"
)

// The dev stack's tests need Postgres (dbtest stops the private cluster it may start); they
// link the Temporal server, as the package does, and start it only to measure a short load.
func TestMain(m *testing.M) { dbtest.Main(m) }
