package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/codec"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

var testSecret = []byte("unit-test-secret-unit-test-secret!")

func testToken(t *testing.T, sub, role string) string {
	t.Helper()
	tok, err := IssueToken(testSecret, sub, sub, role, time.Hour, time.Now())
	require.NoError(t, err)
	return tok
}

// call sends a request to h and returns the recorder.
func call(h http.Handler, method, path, token, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func serverWith(t *testing.T, store Store, change func(*Config)) http.Handler {
	t.Helper()
	cfg := DefaultConfig()
	cfg.JWTSecret = testSecret
	if change != nil {
		change(&cfg)
	}
	s := NewServer(store, nil, cfg)
	t.Cleanup(s.Close)
	return s.Handler()
}

func TestRateLimitPerUser(t *testing.T) {
	h := serverWith(t, nil, func(c *Config) { c.RateLimit, c.RateBurst = 0.5, 3 })
	ana, bob := testToken(t, "ana", pyxis.RoleNurse), testToken(t, "bob", pyxis.RoleNurse)
	// /v1/audit/verify is for admins: each call is a cheap 403 after the limiter.
	for range 3 {
		require.Equal(t, http.StatusForbidden, call(h, "GET", "/v1/audit/verify", ana, "").Code)
	}
	rec := call(h, "GET", "/v1/audit/verify", ana, "")
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	retry, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	require.NoError(t, err)
	assert.InDelta(t, 2, retry, 1)
	var e ErrorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e))
	assert.Equal(t, CodeRateLimited, e.Error.Code)
	assert.NotEmpty(t, rec.Header().Get("X-Request-ID"))

	assert.Equal(t, http.StatusForbidden, call(h, "GET", "/v1/audit/verify", bob, "").Code, "another user has a bucket of their own")
	assert.Equal(t, http.StatusUnauthorized, call(h, "GET", "/v1/audit/verify", "", "").Code)

	unlimited := serverWith(t, nil, func(c *Config) { c.RateLimit = 0 })
	for range 50 {
		require.Equal(t, http.StatusForbidden, call(unlimited, "GET", "/v1/audit/verify", ana, "").Code)
	}
}

func TestRateLimiterForgetsIdleUsers(t *testing.T) {
	l := newUserLimiter(10, 20) // fills in 2 s; idle users are forgotten after a minute
	now := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	for i := range 1000 {
		ok, _ := l.take(fmt.Sprintf("user-%d", i))
		require.True(t, ok)
	}
	assert.Equal(t, 1000, l.tracked())
	now = now.Add(2 * time.Minute)
	ok, _ := l.take("late")
	require.True(t, ok)
	assert.Equal(t, 1, l.tracked(), "idle users are swept")

	for range 20 {
		ok, _ := l.take("busy")
		require.True(t, ok)
	}
	ok, wait := l.take("busy")
	assert.False(t, ok)
	assert.Equal(t, 100*time.Millisecond, wait)
	now = now.Add(100 * time.Millisecond)
	ok, _ = l.take("busy")
	assert.True(t, ok, "a token came back")
}

func TestSecurityHeaders(t *testing.T) {
	h := serverWith(t, nil, nil)
	for _, path := range []string{"/healthz", "/v1/requests", "/v1/nowhere", "/nowhere"} {
		rec := call(h, "GET", path, "", "")
		hd := rec.Header()
		assert.Equal(t, "nosniff", hd.Get("X-Content-Type-Options"), path)
		assert.Equal(t, "DENY", hd.Get("X-Frame-Options"), path)
		assert.Equal(t, "no-referrer", hd.Get("Referrer-Policy"), path)
		assert.Contains(t, hd.Get("Content-Security-Policy"), "default-src 'none'", path)
		assert.Contains(t, hd.Get("Content-Security-Policy"), "frame-ancestors 'none'", path)
		assert.Empty(t, hd.Get("Strict-Transport-Security"), path)
		assert.NotEmpty(t, hd.Get("X-Request-ID"), path)
		if strings.HasPrefix(path, "/v1/") {
			assert.Equal(t, "no-store", hd.Get("Cache-Control"), path)
		}
	}
	hsts := serverWith(t, nil, func(c *Config) { c.HSTS = true })
	assert.Contains(t, call(hsts, "GET", "/healthz", "", "").Header().Get("Strict-Transport-Security"), "max-age=")
}

// payloadsJSON is a codec-server request body.
func payloadsJSON(t *testing.T, ps []*commonpb.Payload) string {
	t.Helper()
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	require.NoError(t, err)
	return string(b)
}

func TestCodecEndpoints(t *testing.T) {
	key, err := codec.GenerateKey("k1")
	require.NoError(t, err)
	cd, err := codec.New([]codec.Key{key})
	require.NoError(t, err)
	const ui = "http://127.0.0.1:8233"
	// Decoding is logged in the access log: the server needs its database.
	h := serverWith(t, db.NewStore(dbtest.NewPool(t)), func(c *Config) { c.Codec, c.CodecCORSOrigins = cd, []string{ui} })
	plain, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{"mrn": "MRN-CODEC-1"})
	require.NoError(t, err)
	sealed, err := cd.Encode([]*commonpb.Payload{plain})
	require.NoError(t, err)
	body := payloadsJSON(t, sealed)
	pharmacist, nurse := testToken(t, "ph", pyxis.RolePharmacist), testToken(t, "n", pyxis.RoleNurse)

	rec := call(h, "POST", "/codec/decode?preserveStorageRefs=true", pharmacist, body, "Content-Type", "application/json", "X-Namespace", "default", "Origin", ui)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var out commonpb.Payloads
	require.NoError(t, protojson.Unmarshal(rec.Body.Bytes(), &out))
	require.Len(t, out.Payloads, 1)
	assert.Contains(t, string(out.Payloads[0].Data), "MRN-CODEC-1")
	assert.Equal(t, ui, rec.Header().Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "true", rec.Header().Get("Access-Control-Allow-Credentials"))
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))

	rec = call(h, "POST", "/codec/encode", testToken(t, "adm", pyxis.RoleAdmin), payloadsJSON(t, []*commonpb.Payload{plain}))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.NoError(t, protojson.Unmarshal(rec.Body.Bytes(), &out))
	assert.Equal(t, codec.EncodingEncrypted, string(out.Payloads[0].Metadata[codec.MetadataEncoding]))
	assert.NotContains(t, rec.Body.String(), "MRN-CODEC-1")

	rec = call(h, "POST", "/codec/decode", nurse, body, "Origin", ui)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Equal(t, ui, rec.Header().Get("Access-Control-Allow-Origin"), "the UI can read the refusal")
	assert.NotContains(t, rec.Body.String(), "MRN-CODEC-1")
	rec = call(h, "POST", "/codec/decode", "", body)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.NotContains(t, rec.Body.String(), "MRN-CODEC-1")

	rec = call(h, "POST", "/codec/decode", pharmacist, `{"payloads": [{"data": 12}]}`)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	var e ErrorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), "errors keep the envelope: %s", rec.Body.String())
	assert.Equal(t, CodeInvalidJSON, e.Error.Code)
	other, err := codec.GenerateKey("other")
	require.NoError(t, err)
	otherCodec, err := codec.New([]codec.Key{other})
	require.NoError(t, err)
	foreign, err := otherCodec.Encode([]*commonpb.Payload{plain})
	require.NoError(t, err)
	rec = call(h, "POST", "/codec/decode", pharmacist, payloadsJSON(t, foreign))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.NotContains(t, rec.Body.String(), "other", "no codec internals in the answer")

	// The preflight needs no token.
	rec = call(h, "OPTIONS", "/codec/decode", "", "", "Origin", ui, "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization,content-type,x-namespace")
	require.Equal(t, http.StatusNoContent, rec.Code)
	assert.Equal(t, ui, rec.Header().Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "true", rec.Header().Get("Access-Control-Allow-Credentials"))
	for _, hdr := range []string{"Authorization", "Content-Type", "X-Namespace"} {
		assert.Contains(t, rec.Header().Get("Access-Control-Allow-Headers"), hdr)
	}
	assert.Contains(t, rec.Header().Get("Access-Control-Allow-Methods"), "POST")
	rec = call(h, "OPTIONS", "/codec/decode", "", "", "Origin", "https://evil.test", "Access-Control-Request-Method", "POST")
	assert.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"), "other origins get no CORS")

	noCodec := serverWith(t, nil, nil)
	assert.Equal(t, http.StatusNotFound, call(noCodec, "POST", "/codec/decode", pharmacist, body).Code)
}

// TestDatabaseErrorsStayInside breaks the database under the API and checks that a client
// learns nothing but "internal error".
func TestDatabaseErrorsStayInside(t *testing.T) {
	pool := dbtest.NewPool(t)
	h := serverWith(t, db.NewStore(pool), nil)
	nurse := testToken(t, "n", pyxis.RoleNurse)
	require.Equal(t, http.StatusOK, call(h, "GET", "/v1/medications", nurse, "").Code)

	_, err := pool.Exec(context.Background(), "DROP TABLE medications CASCADE")
	require.NoError(t, err)
	rec := call(h, "GET", "/v1/medications", nurse, "")
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	assert.JSONEq(t, `{"error": {"code": "internal", "message": "internal error"}}`, string(body))
	for _, leak := range []string{"SQLSTATE", "relation", "medications", "pgx", "db:"} {
		assert.NotContains(t, string(body), leak)
	}
}

func TestAuditVerifyEndpoint(t *testing.T) {
	pool := dbtest.NewPool(t)
	store := db.NewStore(pool)
	h := serverWith(t, store, nil)
	ctx := context.Background()
	// Users the directory knows are not provisioned (and audited) on first sight.
	for _, u := range []db.User{{ID: "adm", Name: "adm", Role: "admin", Active: true}, {ID: "ph", Name: "ph", Role: "pharmacist", Active: true}} {
		require.NoError(t, store.UpsertUser(ctx, u))
	}
	for i := range 4 {
		require.NoError(t, store.AppendAudit(ctx, pyxis.AuditEntry{
			Actor: pyxis.Actor{ID: "t", Role: "technician"}, Action: "stock_set", Details: map[string]any{"n": i},
		}, ""))
	}
	// As the sealer of a running system does within a second (db.AuditStore.RunSealer).
	_, err := store.SealAudit(ctx)
	require.NoError(t, err)
	admin := testToken(t, "adm", pyxis.RoleAdmin)
	verify := func() map[string]any {
		rec := call(h, "GET", "/v1/audit/verify", admin, "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var out map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
		return out
	}
	got := verify()
	assert.Equal(t, true, got["ok"])
	assert.EqualValues(t, 4, got["entries"])
	assert.EqualValues(t, 0, got["first_broken_id"])
	assert.Equal(t, "", got["reason"])

	assert.Equal(t, http.StatusForbidden, call(h, "GET", "/v1/audit/verify", testToken(t, "ph", pyxis.RolePharmacist), "").Code)
	assert.Equal(t, http.StatusUnauthorized, call(h, "GET", "/v1/audit/verify", "", "").Code)

	var id int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT id FROM audit_log ORDER BY id OFFSET 1 LIMIT 1").Scan(&id))
	_, err = pool.Exec(ctx, `ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update;
		UPDATE audit_log SET details = '{"n": 42}' WHERE id = `+strconv.FormatInt(id, 10)+`;
		ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update`)
	require.NoError(t, err)
	got = verify()
	assert.Equal(t, false, got["ok"])
	assert.EqualValues(t, id, got["first_broken_id"])
	assert.Contains(t, got["reason"], "altered")
}

// TestDatabaseDownIs503 points the API at a Postgres that does not answer: a client gets 503
// with Retry-After and nothing of the cause, never 500.
func TestDatabaseDownIs503(t *testing.T) {
	cfg, err := pgxpool.ParseConfig("postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	require.NoError(t, err)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	h := serverWith(t, db.NewStore(pool), nil)
	nurse := testToken(t, "n", pyxis.RoleNurse)
	// (A read of one request would fall back to the workflow; this API has no Temporal.)
	for _, path := range []string{"/v1/medications", "/v1/requests", "/v1/cabinets"} {
		rec := call(h, "GET", path, nurse, "")
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code, path)
		assert.Equal(t, "5", rec.Header().Get("Retry-After"), path)
		assert.NotContains(t, rec.Body.String(), "127.0.0.1", path)
	}
	// The POST of the issue that answered 500 during an outage: 503, and the client retries
	// with its Idempotency-Key.
	rec := call(h, "POST", "/v1/requests", nurse,
		`{"cabinet_id": 1, "patient": {"mrn": "MRN-1", "bed": "1A"}, "priority": "routine", "items": [{"medication_id": 1, "quantity": 1}]}`,
		"Content-Type", "application/json", "Idempotency-Key", "outage-1")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
	assert.Equal(t, "5", rec.Header().Get("Retry-After"))
	assert.NotContains(t, rec.Body.String(), "127.0.0.1")
}

// TestTransientTemporalErrorsAre503: what Temporal answers while a workflow cannot take an
// Update now is transient. The fault scenario postgres-restart found approvals answered 500
// "Unable to perform workflow execution update due to Workflow Task in failed state" (the
// workflow's database steps retrying through the outage): it is 503 with Retry-After.
func TestTransientTemporalErrorsAre503(t *testing.T) {
	for _, err := range []error{
		serviceerror.NewWorkflowNotReady("Unable to perform workflow execution update due to Workflow Task in failed state."),
		fmt.Errorf("approve: %w", serviceerror.NewUnavailable("frontend down")),
		serviceerror.NewDeadlineExceeded("slow"),
		serviceerror.NewResourceExhausted(0, "busy"),
	} {
		status, detail := classify(err)
		assert.Equal(t, http.StatusServiceUnavailable, status, err.Error())
		assert.Equal(t, CodeUnavailable, detail.Code)
		assert.NotContains(t, detail.Message, "Workflow Task")
	}
	status, _ := classify(serviceerror.NewInternal("a bug"))
	assert.Equal(t, http.StatusInternalServerError, status, "a real internal error stays 500")
}
