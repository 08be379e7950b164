package api

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/codec"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// ward is a store with two units' cabinets, their nurses in the directory, and requests in
// the projection (complete, so reads need no Temporal).
type ward struct {
	pool     *pgxpool.Pool
	store    *db.Store
	icu, w3  pyxis.Cabinet
	requests map[string]string // name -> request id
}

const (
	unitICU = "Intensive Care Unit"
	unitW3  = "Ward 3B (Medical)"
)

func newWard(t *testing.T) ward {
	t.Helper()
	pool := dbtest.NewPool(t)
	w := ward{pool: pool, store: db.NewStore(pool), requests: map[string]string{}}
	ctx := t.Context()
	var err error
	w.icu, err = w.store.CreateCabinet(ctx, db.NewCabinet{Code: "PYX-ICU-01", Name: "ICU", Unit: unitICU, Driver: "sim"})
	require.NoError(t, err)
	w.w3, err = w.store.CreateCabinet(ctx, db.NewCabinet{Code: "PYX-3B-01", Name: "3B", Unit: unitW3, Driver: "sim"})
	require.NoError(t, err)
	med, err := w.store.CreateMedication(ctx, db.NewMedication{Code: "PARA500", Name: "Paracetamol"})
	require.NoError(t, err)
	for _, u := range []db.User{
		{ID: "nurse-ana", Name: "Ana", Role: "nurse", Unit: unitICU, Active: true},
		{ID: "nurse-caio", Name: "Caio", Role: "nurse", Unit: unitW3, Active: true},
	} {
		require.NoError(t, w.store.UpsertUser(ctx, u))
	}
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	for i, r := range []struct {
		name, requester string
		cabinet         pyxis.Cabinet
	}{
		{"ana@icu", "nurse-ana", w.icu}, {"caio@icu", "nurse-caio", w.icu},
		{"caio@w3", "nurse-caio", w.w3}, {"ana@w3", "nurse-ana", w.w3},
	} {
		id := fmt.Sprintf("medreq-01JQ7ZK3V8XG4N2P5R6S7T8W%02d", i)
		_, err := w.store.RecordStep(ctx, pyxis.Step{RequestID: id, Transitions: []pyxis.Transition{{
			RequestID: id, Seq: 1, Status: "submitted", Action: "submitted", At: at.Add(time.Duration(i) * time.Minute),
			Actor:  pyxis.Actor{ID: r.requester, Role: "nurse", Name: r.requester},
			Header: &pyxis.RequestHeader{Requester: pyxis.Actor{ID: r.requester, Name: r.requester}, Patient: pyxis.Patient{MRN: "MRN-" + r.name, Bed: "1"}, CabinetID: r.cabinet.ID, Priority: "urgent", Lines: []pyxis.Line{{MedicationID: med.ID, Quantity: 1}}},
		}}})
		require.NoError(t, err)
		w.requests[r.name] = id
	}
	return w
}

// ids returns the request ids of a list answer.
func ids(t *testing.T, body ListView[RequestSummaryView]) []string {
	t.Helper()
	var out []string
	for _, r := range body.Data {
		out = append(out, r.ID)
	}
	return out
}

func TestNurseReadsOnlyWhatSheNeeds(t *testing.T) {
	w := newWard(t)
	h := serverWith(t, w.store, nil)
	ana, caio := testToken(t, "nurse-ana", pyxis.RoleNurse), testToken(t, "nurse-caio", pyxis.RoleNurse)
	// A nurse the directory has just met has no unit: she sees her own requests only.
	newcomer := testToken(t, "nurse-new", pyxis.RoleNurse)
	pharmacist, admin := testToken(t, "pharm-1", pyxis.RolePharmacist), testToken(t, "admin-1", pyxis.RoleAdmin)
	r := w.requests
	// What an id no request can have answers (an unknown id of the right form asks Temporal,
	// which this test has not).
	missing := call(h, "GET", "/v1/requests/medreq-unknown", pharmacist, "")
	requireError(t, missing, http.StatusNotFound, CodeNotFound)

	for _, tc := range []struct {
		who, token string
		may        []string
	}{
		{"ana: hers and her unit's", ana, []string{"ana@icu", "caio@icu", "ana@w3"}},
		{"caio: his and his unit's", caio, []string{"caio@icu", "caio@w3", "ana@w3"}},
		{"newcomer: nothing", newcomer, nil},
		{"pharmacist: all", pharmacist, []string{"ana@icu", "caio@icu", "caio@w3", "ana@w3"}},
		{"admin: all", admin, []string{"ana@icu", "caio@icu", "caio@w3", "ana@w3"}},
	} {
		t.Run(tc.who, func(t *testing.T) {
			for name, id := range r {
				allowed := false
				for _, m := range tc.may {
					allowed = allowed || m == name
				}
				for _, path := range []string{"/v1/requests/" + id, "/v1/requests/" + id + "/audit"} {
					rec := call(h, "GET", path, tc.token, "")
					if allowed {
						assert.Equal(t, http.StatusOK, rec.Code, "%s %s", name, path)
						continue
					}
					// Exactly what an unknown request answers: nothing says it exists.
					assert.Equal(t, missing.Code, rec.Code, "%s %s", name, path)
					assert.JSONEq(t, missing.Body.String(), rec.Body.String())
					assert.NotContains(t, rec.Body.String(), "MRN")
				}
			}
			// The list is filtered in the database, so every page is full and the pages
			// together are exactly what she may read, newest first.
			var want []string
			for i := len(tc.may) - 1; i >= 0; i-- {
				want = append(want, r[tc.may[i]])
			}
			var sorted []string
			for _, id := range []string{r["ana@w3"], r["caio@w3"], r["caio@icu"], r["ana@icu"]} {
				for _, w := range want {
					if w == id {
						sorted = append(sorted, id)
					}
				}
			}
			rec := call(h, "GET", "/v1/requests", tc.token, "")
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, sorted, ids(t, decode[ListView[RequestSummaryView]](t, rec)))
			var paged []string
			cursor := ""
			for range 10 {
				rec := call(h, "GET", "/v1/requests?limit=1&cursor="+cursor, tc.token, "")
				require.Equal(t, http.StatusOK, rec.Code)
				page := decode[ListView[RequestSummaryView]](t, rec)
				paged = append(paged, ids(t, page)...)
				if page.NextCursor == "" {
					break
				}
				require.Len(t, page.Data, 1, "a page before the last is full")
				cursor = page.NextCursor
			}
			assert.Equal(t, sorted, paged)
		})
	}

	// A request that does not exist answers the audit read alike.
	rec := call(h, "GET", "/v1/requests/medreq-01JQ7ZK3V8XG4N2P5R6S7T8W99/audit", ana, "")
	assert.Equal(t, missing.Code, rec.Code)
	assert.JSONEq(t, missing.Body.String(), rec.Body.String())

	// Moving a nurse to another unit changes what she sees at once in this process.
	require.Equal(t, http.StatusOK, call(h, "PATCH", "/v1/users/nurse-new", admin, `{"unit": "`+unitW3+`"}`).Code)
	assert.Equal(t, http.StatusOK, call(h, "GET", "/v1/requests/"+r["caio@w3"], newcomer, "").Code)
}

// accessLog returns the access log as an admin reads it (which adds an entry of its own).
func accessLog(t *testing.T, h http.Handler, query string) []AccessEntryView {
	t.Helper()
	rec := call(h, "GET", "/v1/access-log?"+query, testToken(t, "auditor", pyxis.RoleAdmin), "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return decode[ListView[AccessEntryView]](t, rec).Data
}

func TestReadsOfPatientDataAreLogged(t *testing.T) {
	w := newWard(t)
	key, err := codec.GenerateKey("k1")
	require.NoError(t, err)
	cd, err := codec.New([]codec.Key{key})
	require.NoError(t, err)
	h := serverWith(t, w.store, func(c *Config) { c.Codec = cd })
	ana := testToken(t, "nurse-ana", pyxis.RoleNurse)
	pharmacist := testToken(t, "pharm-1", pyxis.RolePharmacist)
	r := w.requests
	start := time.Now().Add(-time.Second)

	require.Equal(t, http.StatusOK, call(h, "GET", "/v1/requests/"+r["ana@icu"], ana, "", "X-Request-ID", "rid-read", "X-Forwarded-For", "203.0.113.9").Code)
	require.Equal(t, http.StatusOK, call(h, "GET", "/v1/requests?limit=2", ana, "", "X-Request-ID", "rid-list").Code)
	require.Equal(t, http.StatusOK, call(h, "GET", "/v1/requests/"+r["ana@w3"]+"/audit", ana, "", "X-Request-ID", "rid-audit").Code)
	// What she may not read is refused as if it did not exist, and the attempt is logged
	// (denied).
	require.Equal(t, http.StatusNotFound, call(h, "GET", "/v1/requests/"+r["caio@w3"], ana, "", "X-Request-ID", "rid-refused").Code)
	plain, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{"mrn": "MRN-1", "request_id": r["ana@icu"]})
	require.NoError(t, err)
	sealed, err := cd.Encode([]*commonpb.Payload{plain, plain})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, call(h, "POST", "/codec/decode", pharmacist, payloadsJSON(t, sealed), "X-Request-ID", "rid-decode").Code)
	require.Equal(t, http.StatusOK, call(h, "POST", "/codec/encode", pharmacist, payloadsJSON(t, []*commonpb.Payload{plain})).Code)

	got := accessLog(t, h, "")
	require.Len(t, got, 5, "one entry per read and per refusal; encoding reveals nothing: %+v", got)
	byRID := map[string]AccessEntryView{}
	for _, e := range got {
		assert.WithinDuration(t, time.Now(), e.At, time.Minute)
		assert.Equal(t, "192.0.2.1", e.ClientIP, "the peer's address: X-Forwarded-For is believed only from trusted proxies")
		byRID[e.HTTPRequestID] = e
	}
	nurseAna := pyxis.Actor{ID: "nurse-ana", Role: pyxis.RoleNurse}
	assert.Equal(t, AccessEntryView{ID: byRID["rid-read"].ID, At: byRID["rid-read"].At, Actor: nurseAna, Action: "request.read",
		Endpoint: "GET /v1/requests/:id", RequestIDs: []string{r["ana@icu"]}, ClientIP: "192.0.2.1", HTTPRequestID: "rid-read",
		Details: map[string]any{}}, byRID["rid-read"])
	list := byRID["rid-list"]
	assert.Equal(t, "request.list", list.Action)
	assert.Equal(t, "GET /v1/requests", list.Endpoint)
	assert.Equal(t, []string{r["ana@w3"], r["caio@icu"]}, list.RequestIDs, "the ids on the page")
	assert.Equal(t, map[string]any{"filter": map[string]any{"limit": "2"}}, list.Details)
	assert.Equal(t, []string{r["ana@w3"]}, byRID["rid-audit"].RequestIDs)
	assert.Equal(t, "request.audit", byRID["rid-audit"].Action)
	decoded := byRID["rid-decode"]
	assert.Equal(t, pyxis.Actor{ID: "pharm-1", Role: pyxis.RolePharmacist}, decoded.Actor)
	assert.Equal(t, "codec.decode", decoded.Action)
	assert.Equal(t, "POST /codec/decode", decoded.Endpoint)
	assert.Equal(t, []string{r["ana@icu"]}, decoded.RequestIDs, "the requests the decoded payloads name")
	refused := byRID["rid-refused"]
	assert.Equal(t, []any{"denied", []string{r["caio@w3"]}, map[string]any{"attempted": "request.read"}},
		[]any{refused.Action, refused.RequestIDs, refused.Details})
	assert.Equal(t, map[string]any{"payloads": float64(2)}, decoded.Details)

	// Reading the access log is logged once per read, never about what it lists.
	again := accessLog(t, h, "")
	require.Len(t, again, 6, "the four reads, the refusal and the first read of the log")
	assert.Equal(t, "access_log.read", again[0].Action)
	assert.Empty(t, again[0].RequestIDs)
	assert.Equal(t, "GET /v1/access-log", again[0].Endpoint)
	assert.Equal(t, "auditor", again[0].Actor.ID)

	// Filters and pages.
	byRequest := accessLog(t, h, "request_id="+r["ana@w3"])
	require.Len(t, byRequest, 2)
	assert.Equal(t, []string{"rid-audit", "rid-list"}, []string{byRequest[0].HTTPRequestID, byRequest[1].HTTPRequestID})
	byActor := accessLog(t, h, "actor_id=pharm-1")
	require.Len(t, byActor, 1)
	assert.Equal(t, "rid-decode", byActor[0].HTTPRequestID)
	q := url.Values{"actor_id": {"nurse-ana"}, "from": {start.UTC().Format(time.RFC3339Nano)}, "to": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}
	assert.Len(t, accessLog(t, h, q.Encode()), 4)
	assert.Empty(t, accessLog(t, h, url.Values{"to": {start.UTC().Format(time.RFC3339Nano)}}.Encode()))
	var paged []string
	cursor := ""
	for range 10 {
		rec := call(h, "GET", "/v1/access-log?actor_id=nurse-ana&limit=2&cursor="+cursor, testToken(t, "auditor", pyxis.RoleAdmin), "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		page := decode[ListView[AccessEntryView]](t, rec)
		for _, e := range page.Data {
			paged = append(paged, e.HTTPRequestID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	assert.Equal(t, []string{"rid-refused", "rid-audit", "rid-list", "rid-read"}, paged)

	admin := testToken(t, "auditor", pyxis.RoleAdmin)
	for _, tc := range []struct{ query, field string }{
		{"request_id=nope", "request_id"}, {"from=yesterday", "from"}, {"limit=0", "limit"}, {"limit=201", "limit"},
		{"from=2026-03-02T09:00:00Z&to=2026-03-02T08:00:00Z", "to"}, {"actor_id=%00", "actor_id"},
	} {
		requireError(t, call(h, "GET", "/v1/access-log?"+tc.query, admin, ""), http.StatusUnprocessableEntity, CodeValidation, tc.field)
	}
	assert.Equal(t, http.StatusBadRequest, call(h, "GET", "/v1/access-log?cursor=!!", admin, "").Code)
	for _, role := range []string{pyxis.RoleNurse, pyxis.RolePharmacist, pyxis.RoleTechnician} {
		requireError(t, call(h, "GET", "/v1/access-log", testToken(t, "x-"+role, role), ""), http.StatusForbidden, CodeForbidden)
	}

	// Behind a trusted proxy the client is the one it names.
	proxied := serverWith(t, w.store, func(c *Config) { c.TrustedProxies = []string{"192.0.2.0/24"} })
	require.Equal(t, http.StatusOK, call(proxied, "GET", "/v1/requests/"+r["ana@icu"], ana, "", "X-Request-ID", "rid-proxied", "X-Forwarded-For", "203.0.113.9").Code)
	viaProxy := accessLog(t, h, "actor_id=nurse-ana&limit=1")
	require.Len(t, viaProxy, 1)
	assert.Equal(t, "203.0.113.9", viaProxy[0].ClientIP)
}

// TestUnloggedReadsAreRefused breaks the access log and checks that patient data is not
// served without its entry.
func TestUnloggedReadsAreRefused(t *testing.T) {
	w := newWard(t)
	key, err := codec.GenerateKey("k1")
	require.NoError(t, err)
	cd, err := codec.New([]codec.Key{key})
	require.NoError(t, err)
	h := serverWith(t, w.store, func(c *Config) { c.Codec = cd })
	pharmacist := testToken(t, "pharm-1", pyxis.RolePharmacist)
	id := w.requests["ana@icu"]
	plain, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{"mrn": "MRN-SECRET"})
	require.NoError(t, err)
	sealed, err := cd.Encode([]*commonpb.Payload{plain})
	require.NoError(t, err)
	reads := []struct{ method, path, body string }{
		{"GET", "/v1/requests/" + id, ""},
		{"GET", "/v1/requests", ""},
		{"GET", "/v1/requests/" + id + "/audit", ""},
		{"POST", "/codec/decode", payloadsJSON(t, sealed)},
	}
	for _, rd := range reads {
		require.Equal(t, http.StatusOK, call(h, rd.method, rd.path, pharmacist, rd.body).Code)
	}

	_, err = w.pool.Exec(t.Context(), `CREATE FUNCTION refuse_access() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'access log unavailable'; END; $$;
		CREATE TRIGGER access_log_broken BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION refuse_access()`)
	require.NoError(t, err)
	for _, rd := range reads {
		rec := call(h, rd.method, rd.path, pharmacist, rd.body)
		requireError(t, rec, http.StatusServiceUnavailable, CodeUnavailable)
		assert.NotContains(t, rec.Body.String(), "MRN", rd.path)
		assert.NotContains(t, rec.Body.String(), "access log unavailable", "no database text reaches the client")
	}

	_, err = w.pool.Exec(t.Context(), "DROP TRIGGER access_log_broken ON access_log")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, call(h, "GET", "/v1/requests/"+id, pharmacist, "").Code)
}
