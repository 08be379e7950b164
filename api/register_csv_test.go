package api

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
)

// TestRegisterCSVNeutralisesFormulas: every text cell of the register's CSV that a
// spreadsheet would read as a formula starts with a single quote; numbers stay numbers.
func TestRegisterCSVNeutralisesFormulas(t *testing.T) {
	h, store, _ := edgeServer(t, nil)
	ctx := context.Background()
	cab, err := store.CreateCabinet(ctx, db.NewCabinet{Code: "@CAB", Name: "c", Driver: "sim"})
	require.NoError(t, err)
	med, err := store.CreateMedication(ctx, db.NewMedication{Code: "+MED", Name: `=HYPERLINK("http://evil.example","x")`, ControlledList: "A1"})
	require.NoError(t, err)
	_, err = store.SetStock(ctx, cab.ID, med.ID, 0, 5, pyxis.Actor{ID: "-tech", Role: "technician"})
	require.NoError(t, err)
	_, err = store.RecordPocketChange(ctx, db.PocketChange{CabinetID: cab.ID, MedicationID: med.ID, Kind: db.MovementLoaded, Quantity: 5,
		Actor: pyxis.Actor{ID: "\tTECH", Role: "technician"}, Witness: "@witness", Source: db.SourceAPI, RequestID: "\rREQ"})
	require.NoError(t, err)
	_, err = store.RecordPocketChange(ctx, db.PocketChange{CabinetID: cab.ID, MedicationID: med.ID, Kind: db.MovementUnloaded, Quantity: 2,
		Actor: pyxis.Actor{ID: "tech-2", Role: "technician"}, Source: db.SourceAPI})
	require.NoError(t, err)

	rec := call(h, "GET", "/v1/controlled/register?format=csv", testToken(t, "ph", pyxis.RolePharmacist), "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rows, err := csv.NewReader(strings.NewReader(rec.Body.String())).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 1+5, "header, opening, the empty pocket's count, a load, an unload, closing")
	counted, loaded, unloaded := rows[2], rows[3], rows[4]
	assert.Equal(t, []string{"counted", "0", "0", "'@CAB", "", "'-tech"}, counted[4:10])
	assert.Equal(t, []string{"'+MED", `'=HYPERLINK("http://evil.example","x")`}, loaded[1:3])
	assert.Equal(t, []string{"loaded", "5", "5", "'@CAB", "'\rREQ", "'\tTECH", "technician", "'@witness"}, loaded[4:])
	assert.Equal(t, []string{"unloaded", "-2", "3"}, unloaded[4:7], "numbers stay numbers, negative ones too")
	for _, r := range rows[1:] {
		for i, cell := range r {
			if i == 5 || i == 6 || cell == "" {
				continue // quantity and balance
			}
			assert.NotContains(t, "=+-@\t\r", cell[:1], "cell %d of %v", i, r)
		}
	}
}
