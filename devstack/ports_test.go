package devstack

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/service"
)

// TestTakenPortIsReportedBeforeTheDatabase starts dev mode with its Temporal port taken and a
// database nobody answers for: the refusal names the port's setting and flag, and comes before
// any attempt at the database.
func TestTakenPortIsReportedBeforeTheDatabase(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = taken.Close() })
	cfg := service.Config{DatabaseURL: "postgres://nobody@127.0.0.1:1/nothing", MLLPAddr: "127.0.0.1:0", TemporalNamespace: "default"}
	o := Options{
		TempDir: true, ThrowawayDB: true, HTTPAddr: "127.0.0.1:0", TemporalAddr: taken.Addr().String(),
		UIAddr: "127.0.0.1:0", CabinetSimAddr: "127.0.0.1:0", CabinetSimAdmin: "127.0.0.1:0", TemporalStore: TemporalStoreSQLite,
	}
	_, err = Start(t.Context(), cfg, o)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PYXIS_DEV_TEMPORAL_ADDR or --temporal-addr")
	assert.NotContains(t, err.Error(), "DATABASE_URL")
}
