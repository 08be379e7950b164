package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// edgeServer is an API over a fresh database, without Temporal (stock keeping needs none).
func edgeServer(t *testing.T, change func(*Config)) (http.Handler, *db.Store, *pgxpool.Pool) {
	t.Helper()
	pool := dbtest.NewPool(t)
	store := db.NewStore(pool)
	return serverWith(t, store, func(c *Config) {
		c.RateLimit = 0
		if change != nil {
			change(c)
		}
	}), store, pool
}

func decodeMap(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var out map[string]any
	require.NoError(t, json.Unmarshal(body, &out), "%s", body)
	return out
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	e, _ := decodeMap(t, body)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// TestControlledStockChangesOnlyThroughCountsLoadsAndResolutions drives the stock-keeping
// endpoints over HTTP: PUT may set a controlled pocket's par level and create it empty, never
// change its level (409 controlled_stock, naming the way to take); a load fills it, witnessed
// by someone else; a count's discrepancy is resolved by someone other than who counted (409
// same_person); and no level passes db.MaxOnHand (422).
func TestControlledStockChangesOnlyThroughCountsLoadsAndResolutions(t *testing.T) {
	h, store, pool := edgeServer(t, nil)
	ctx := context.Background()
	cab, err := store.CreateCabinet(ctx, db.NewCabinet{Code: "CTL-1", Name: "c", Driver: "sim"})
	require.NoError(t, err)
	morphine, err := store.CreateMedication(ctx, db.NewMedication{Code: "MORF10", Name: "Morphine", ControlledList: "A1"})
	require.NoError(t, err)
	para, err := store.CreateMedication(ctx, db.NewMedication{Code: "PARA500", Name: "Paracetamol"})
	require.NoError(t, err)
	tech, tech2 := testToken(t, "tech-1", pyxis.RoleTechnician), testToken(t, "tech-2", pyxis.RoleTechnician)
	pharm, pharm2 := testToken(t, "pharm-1", pyxis.RolePharmacist), testToken(t, "pharm-2", pyxis.RolePharmacist)
	stock := func(med int64) string { return fmt.Sprintf("/v1/cabinets/%d/stock/%d", cab.ID, med) }
	loads := fmt.Sprintf("/v1/cabinets/%d/loads", cab.ID)

	rec := call(h, "PUT", stock(morphine.ID), tech, `{"on_hand": 10, "par_level": 10}`)
	require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
	assert.Equal(t, CodeControlledStock, errorCode(t, rec.Body.Bytes()))
	msg := decodeMap(t, rec.Body.Bytes())["error"].(map[string]any)["message"].(string)
	for _, path := range []string{"/counts", "set_on_hand", "/loads"} {
		assert.Contains(t, msg, path, "the refusal names the way to take")
	}
	rec = call(h, "PUT", stock(morphine.ID), tech, `{"on_hand": 0, "par_level": 10}`)
	require.Equal(t, http.StatusOK, rec.Code, "a new controlled pocket starts empty: %s", rec.Body.String())

	// Loads: technicians and admins; a controlled load waits for a witness who signs in and
	// is someone else. A typed witness is no field at all.
	rec = call(h, "POST", loads, pharm, fmt.Sprintf(`{"medication_id": %d, "quantity": 8}`, morphine.ID))
	assert.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
	rec = call(h, "POST", loads, tech, fmt.Sprintf(`{"medication_id": %d, "quantity": 8, "witness": "tech-2"}`, morphine.ID))
	require.Equal(t, http.StatusBadRequest, rec.Code, "a free-text witness is refused: %s", rec.Body.String())
	rec = call(h, "POST", loads, tech, fmt.Sprintf(`{"medication_id": %d, "quantity": 8}`, morphine.ID))
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	load := decodeMap(t, rec.Body.Bytes())
	assert.Equal(t, "pending_witness", load["status"])
	assert.Nil(t, load["on_hand"])
	witness := fmt.Sprintf("/v1/loads/%d/witness", int64(load["id"].(float64)))
	assert.Equal(t, witness[:len(witness)-len("/witness")], rec.Header().Get("Location"))
	assert.Equal(t, int32(0), stockOf(t, store, cab.ID, morphine.ID).OnHand, "nothing moves before the witness")
	rec = call(h, "POST", witness, tech, "")
	require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
	assert.Equal(t, CodeSamePerson, errorCode(t, rec.Body.Bytes()))
	rec = call(h, "POST", "/v1/loads/999999/witness", tech2, "")
	assert.Equal(t, http.StatusNotFound, rec.Code, rec.Body.String())
	rec = call(h, "POST", witness, tech2, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	load = decodeMap(t, rec.Body.Bytes())
	assert.EqualValues(t, 8, load["on_hand"])
	assert.Equal(t, "tech-2", load["witness"])
	assert.Equal(t, "witnessed", load["status"])
	rec = call(h, "POST", witness, pharm2, "")
	require.Equal(t, http.StatusConflict, rec.Code, "witnessed once: %s", rec.Body.String())
	assert.Equal(t, CodeInvalidState, errorCode(t, rec.Body.Bytes()))
	rec = call(h, "POST", loads, tech, fmt.Sprintf(`{"medication_id": %d, "quantity": 3}`, para.ID))
	require.Equal(t, http.StatusCreated, rec.Code, "an uncontrolled load needs no witness: %s", rec.Body.String())
	rec = call(h, "POST", fmt.Sprintf("/v1/cabinets/%d/loads", 999999), tech, fmt.Sprintf(`{"medication_id": %d, "quantity": 3}`, para.ID))
	assert.Equal(t, http.StatusNotFound, rec.Code, rec.Body.String())
	rec = call(h, "POST", loads, tech, `{"medication_id": 999999, "quantity": 3}`)
	assert.Equal(t, http.StatusNotFound, rec.Code, rec.Body.String())

	ms, err := store.ListMovements(ctx, cab.ID, morphine.ID)
	require.NoError(t, err)
	require.Len(t, ms, 2)
	assert.Equal(t, []any{db.MovementLoaded, int32(8), "tech-1", "tech-2", db.SourceAPI},
		[]any{ms[1].Kind, ms[1].Quantity, ms[1].Actor.ID, ms[1].WitnessID, ms[1].Source})
	var audited int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE action = 'stock_loaded' AND actor_id = 'tech-1'").Scan(&audited))
	assert.Equal(t, 2, audited, "each load is audited")

	// PUT may still change the par level alone, and the level of an uncontrolled pocket.
	rec = call(h, "PUT", stock(morphine.ID), tech, `{"on_hand": 8, "par_level": 12}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = call(h, "PUT", stock(morphine.ID), tech, `{"on_hand": 9, "par_level": 12}`)
	require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
	rec = call(h, "PUT", stock(para.ID), tech, `{"on_hand": 9, "par_level": 12}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	// Count, then resolve: not by who counted.
	rec = call(h, "POST", fmt.Sprintf("/v1/cabinets/%d/counts", cab.ID), pharm, fmt.Sprintf(`{"medication_id": %d, "count": 7}`, morphine.ID))
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	d := decodeMap(t, rec.Body.Bytes())["discrepancy"].(map[string]any)
	resolve := fmt.Sprintf("/v1/discrepancies/%d/resolve", int64(d["id"].(float64)))
	rec = call(h, "POST", resolve, pharm, `{"reason": "recounted", "set_on_hand": 7}`)
	require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
	assert.Equal(t, CodeSamePerson, errorCode(t, rec.Body.Bytes()))
	rec = call(h, "POST", resolve, pharm2, `{"reason": "recounted", "set_on_hand": 7}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	row := stockOf(t, store, cab.ID, morphine.ID)
	assert.Equal(t, []int32{7, 12}, []int32{row.OnHand, row.ParLevel})

	// Bounds: 422 everywhere a level or a quantity comes in.
	for _, c := range []struct{ token, method, path, body, field string }{
		{tech, "PUT", stock(para.ID), `{"on_hand": 100001, "par_level": 1}`, "on_hand"},
		{tech, "PUT", stock(para.ID), `{"on_hand": 1, "par_level": 100001}`, "par_level"},
		{tech, "POST", loads, fmt.Sprintf(`{"medication_id": %d, "quantity": 100001}`, para.ID), "quantity"},
		{tech, "POST", loads, fmt.Sprintf(`{"medication_id": %d, "quantity": 99999}`, para.ID), "quantity"},
		{tech2, "POST", fmt.Sprintf("/v1/cabinets/%d/counts", cab.ID), fmt.Sprintf(`{"medication_id": %d, "count": 100001}`, para.ID), "count"},
		{pharm2, "POST", resolve, `{"reason": "x", "set_on_hand": 100001}`, "set_on_hand"},
	} {
		rec := call(h, c.method, c.path, c.token, c.body)
		require.Equal(t, http.StatusUnprocessableEntity, rec.Code, "%s %s: %s", c.method, c.body, rec.Body.String())
		assert.Contains(t, rec.Body.String(), `"field":"`+c.field+`"`, c.body)
	}
	assert.Equal(t, int32(9), stockOf(t, store, cab.ID, para.ID).OnHand, "nothing refused changed a level")
}

func stockOf(t *testing.T, store *db.Store, cabinetID, medicationID int64) db.StockRow {
	t.Helper()
	rows, err := store.ListStock(context.Background(), cabinetID)
	require.NoError(t, err)
	for _, r := range rows {
		if r.MedicationID == medicationID {
			return r
		}
	}
	t.Fatalf("medication %d not stocked", medicationID)
	return db.StockRow{}
}
