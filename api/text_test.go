package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// spyTemporal counts what would start or change a workflow; anything else it is asked panics
// (the embedded client is nil), which the router answers 500.
type spyTemporal struct {
	client.Client
	calls atomic.Int32
}

func (s *spyTemporal) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	s.calls.Add(1)
	return nil, errors.New("spy: no workflow may start")
}

func (s *spyTemporal) UpdateWorkflow(context.Context, client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	s.calls.Add(1)
	return nil, errors.New("spy: no workflow may change")
}

// bodyClasses are the kinds of refused text as a JSON body carries them (inside the quotes
// of a string), each around "ab" and "c", so the bad byte is byte 2 of the value.
var bodyClasses = []struct{ name, json, message string }{
	{"raw NUL", "ab\x00c", "contains a NUL character (byte 2)"},
	{"escaped NUL", `ab\u0000c`, "contains a NUL character (byte 2)"},
	{"raw ESC", "ab\x1bc", "contains a control character 0x1B (byte 2)"},
	{"escaped ESC", `ab\u001bc`, "contains a control character 0x1B (byte 2)"},
	{"invalid UTF-8", "ab\xffc", "is not valid UTF-8 (byte 2)"},
	{"truncated UTF-8", "ab\xc3c", "is not valid UTF-8 (byte 2)"},
}

// paramClasses are the same kinds as a URL or a header carries them (decoded).
var paramClasses = []struct{ name, value, message string }{
	{"NUL", "ab\x00c", "contains a NUL character (byte 2)"},
	{"ESC", "ab\x1bc", "contains a control character 0x1B (byte 2)"},
	{"invalid UTF-8", "ab\xffc", "is not valid UTF-8 (byte 2)"},
}

// rowCounts counts the rows of every table an API call could write.
func rowCounts(t *testing.T, ctx context.Context, q *pgxpool.Pool) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"audit_log", "medications", "cabinets", "cabinet_stock", "stock_movements",
		"discrepancies", "refill_tasks", "idempotency_keys", "medication_requests", "cabinet_messages"} {
		var n int
		require.NoError(t, q.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n), table)
		out[table] = n
	}
	// The users directory adds each token's subject on first sight (audited): that is the
	// authentication, not the refused call.
	var joined int
	require.NoError(t, q.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE action = 'user_provisioned'").Scan(&joined))
	out["audit_log"] -= joined
	var open int
	require.NoError(t, q.QueryRow(ctx, "SELECT count(*) FROM discrepancies WHERE status = 'open'").Scan(&open))
	out["open discrepancies"] = open
	var onHand int
	require.NoError(t, q.QueryRow(ctx, "SELECT coalesce(sum(on_hand), 0) + coalesce(sum(par_level), 0) FROM cabinet_stock").Scan(&onHand))
	out["stock levels"] = onHand
	return out
}

// TestEveryTextFieldRefusesControlsAndInvalidUTF8 sends each class of refused text to every
// text field of every endpoint that takes text — body fields, the Idempotency-Key header,
// query filters and path parameters — and checks the answer is 422 validation_failed naming
// that field with what is wrong, and that nothing was written and no workflow touched.
func TestEveryTextFieldRefusesControlsAndInvalidUTF8(t *testing.T) {
	pool := dbtest.NewPool(t)
	store := db.NewStore(pool)
	ctx := context.Background()
	cab, err := store.CreateCabinet(ctx, db.NewCabinet{Code: "TXT-1", Name: "Text cabinet", Driver: "sim"})
	require.NoError(t, err)
	med, err := store.CreateMedication(ctx, db.NewMedication{Code: "TXT-M", Name: "Text medication"})
	require.NoError(t, err)
	_, err = store.SetStock(ctx, cab.ID, med.ID, 5, 5, pyxis.Actor{ID: "t", Role: "technician"})
	require.NoError(t, err)
	counted, err := store.RecordCount(ctx, db.Count{CabinetID: cab.ID, MedicationID: med.ID, Counted: 4,
		Actor: pyxis.Actor{ID: "t", Role: "technician"}, Source: db.SourceAPI})
	require.NoError(t, err)
	spy := &spyTemporal{}
	s := NewServer(store, spy, func() Config {
		cfg := DefaultConfig()
		cfg.JWTSecret = testSecret
		cfg.AllowSimulatedCabinets = true
		cfg.RateLimit = 0
		return cfg
	}())
	t.Cleanup(s.Close)
	h := s.Handler()
	tokens := map[string]string{}
	for _, role := range []string{pyxis.RoleNurse, pyxis.RolePharmacist, pyxis.RoleTechnician, pyxis.RoleAdmin} {
		tokens[role] = testToken(t, role+"-txt", role)
	}
	counts := func() map[string]int { return rowCounts(t, ctx, pool) }
	before := counts()

	reqID := "medreq-01J00000000000000000000000"
	request := func(mrn, bed, priority string) string {
		return fmt.Sprintf(`{"cabinet_id": %d, "patient": {"mrn": "%s", "bed": "%s"}, "priority": "%s", "items": [{"medication_id": %d, "quantity": 1}]}`,
			cab.ID, mrn, bed, priority, med.ID)
	}
	medication := func(field string) string {
		f := map[string]string{"code": "C1", "name": "N", "strength": "1 mg", "form": "tablet", "unit": "tablet", "controlled_list": ""}
		f[field] = "@@"
		return fmt.Sprintf(`{"code": "%s", "name": "%s", "strength": "%s", "form": "%s", "unit": "%s", "controlled_list": "%s"}`,
			f["code"], f["name"], f["strength"], f["form"], f["unit"], f["controlled_list"])
	}
	cabinet := func(field string) string {
		f := map[string]string{"code": "C1", "name": "N", "unit": "U", "status": "online", "driver": "hl7", "address": "10.0.0.1:2575"}
		f[field] = "@@"
		return fmt.Sprintf(`{"code": "%s", "name": "%s", "unit": "%s", "status": "%s", "driver": "%s", "address": "%s"}`,
			f["code"], f["name"], f["unit"], f["status"], f["driver"], f["address"])
	}
	cabinets := fmt.Sprintf("/v1/cabinets/%d", cab.ID)
	bodies := []struct {
		role, method, path, body, field string
	}{
		{pyxis.RoleNurse, "POST", "/v1/requests", request("@@", "1", "stat"), "patient.mrn"},
		{pyxis.RoleNurse, "POST", "/v1/requests", request("M1", "@@", "stat"), "patient.bed"},
		{pyxis.RoleNurse, "POST", "/v1/requests", request("M1", "1", "@@"), "priority"},
		{pyxis.RolePharmacist, "POST", "/v1/requests/" + reqID + "/approve", `{"note": "@@"}`, "note"},
		{pyxis.RolePharmacist, "POST", "/v1/requests/" + reqID + "/reject", `{"reason": "@@"}`, "reason"},
		{pyxis.RoleNurse, "POST", "/v1/requests/" + reqID + "/cancel", `{"reason": "@@"}`, "reason"},
		{pyxis.RoleAdmin, "POST", "/v1/medications", medication("code"), "code"},
		{pyxis.RoleAdmin, "POST", "/v1/medications", medication("name"), "name"},
		{pyxis.RoleAdmin, "POST", "/v1/medications", medication("strength"), "strength"},
		{pyxis.RoleAdmin, "POST", "/v1/medications", medication("form"), "form"},
		{pyxis.RoleAdmin, "POST", "/v1/medications", medication("unit"), "unit"},
		{pyxis.RoleAdmin, "POST", "/v1/medications", medication("controlled_list"), "controlled_list"},
		{pyxis.RoleAdmin, "POST", "/v1/cabinets", cabinet("code"), "code"},
		{pyxis.RoleAdmin, "POST", "/v1/cabinets", cabinet("name"), "name"},
		{pyxis.RoleAdmin, "POST", "/v1/cabinets", cabinet("unit"), "unit"},
		{pyxis.RoleAdmin, "POST", "/v1/cabinets", cabinet("status"), "status"},
		{pyxis.RoleAdmin, "POST", "/v1/cabinets", cabinet("driver"), "driver"},
		{pyxis.RoleAdmin, "POST", "/v1/cabinets", cabinet("address"), "address"},
		{pyxis.RolePharmacist, "POST", fmt.Sprintf("/v1/discrepancies/%d/resolve", counted.Discrepancy.ID), `{"reason": "@@", "set_on_hand": 4}`, "reason"},
		{pyxis.RolePharmacist, "POST", cabinets + "/events", `{"type": "@@", "request_id": "` + reqID + `"}`, "type"},
		{pyxis.RolePharmacist, "POST", cabinets + "/events", `{"type": "withdrawn", "request_id": "@@"}`, "request_id"},
	}
	check := func(t *testing.T, rec *httptest.ResponseRecorder, status int, field, message string) {
		t.Helper()
		body := rec.Body.Bytes()
		require.Equal(t, status, rec.Code, "%s", body)
		var e ErrorBody
		require.NoError(t, json.Unmarshal(body, &e), "%s", body)
		assert.Equal(t, CodeValidation, e.Error.Code)
		raw, err := json.Marshal(e.Error.Details)
		require.NoError(t, err)
		var details []FieldError
		require.NoError(t, json.Unmarshal(raw, &details))
		assert.Contains(t, details, FieldError{Field: field, Message: message}, "%s", body)
	}
	for _, b := range bodies {
		for _, class := range bodyClasses {
			t.Run(b.method+" "+b.path+" "+b.field+"/"+class.name, func(t *testing.T) {
				rec := call(h, b.method, b.path, tokens[b.role], strings.Replace(b.body, "@@", class.json, 1))
				check(t, rec, http.StatusUnprocessableEntity, b.field, class.message)
			})
		}
	}

	// A field name with raw bad bytes is named as far as it can be; one with escaped controls
	// is an unknown field like any other.
	rec := call(h, "POST", "/v1/requests/"+reqID+"/approve", tokens[pyxis.RolePharmacist], "{\"note\": \"ok\", \"ab\x00c\": 1}")
	check(t, rec, http.StatusUnprocessableEntity, "ab\uFFFDc", "contains a NUL character (byte 2)")
	rec = call(h, "POST", "/v1/requests/"+reqID+"/approve", tokens[pyxis.RolePharmacist], `{"ab\u0000c": 1}`)
	assert.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
	assert.NotContains(t, rec.Body.String(), "\x00")

	for _, class := range paramClasses {
		t.Run("Idempotency-Key/"+class.name, func(t *testing.T) {
			rec := call(h, "POST", "/v1/requests", tokens[pyxis.RoleNurse], request("M1", "1", "stat"), "Idempotency-Key", class.value)
			check(t, rec, http.StatusUnprocessableEntity, "Idempotency-Key", class.message)
		})
		params := []struct{ role, path, field string }{
			{pyxis.RoleNurse, "/v1/requests?status=@@", "status"},
			{pyxis.RoleNurse, "/v1/requests?cursor=@@", "cursor"},
			{pyxis.RoleNurse, "/v1/requests?limit=10&cabinet_id=@@", "cabinet_id"},
			{pyxis.RoleTechnician, "/v1/refills?status=@@", "status"},
			{pyxis.RolePharmacist, "/v1/discrepancies?status=@@", "status"},
			{pyxis.RolePharmacist, "/v1/controlled/register?list=@@", "list"},
			{pyxis.RolePharmacist, "/v1/controlled/register?from=@@", "from"},
			{pyxis.RolePharmacist, "/v1/controlled/register?to=@@", "to"},
			{pyxis.RolePharmacist, "/v1/controlled/register?format=@@", "format"},
			{pyxis.RoleNurse, "/v1/requests/@@", "id"},
			{pyxis.RoleNurse, "/v1/requests/@@/audit", "id"},
			{pyxis.RoleNurse, "/v1/cabinets/@@/stock", "id"},
		}
		for _, p := range params {
			t.Run(p.path+"/"+class.name, func(t *testing.T) {
				rec := call(h, "GET", strings.Replace(p.path, "@@", url.QueryEscape(class.value), 1), tokens[p.role], "")
				check(t, rec, http.StatusUnprocessableEntity, p.field, class.message)
			})
		}
		t.Run("PUT stock path medication_id/"+class.name, func(t *testing.T) {
			rec := call(h, "PUT", cabinets+"/stock/"+url.PathEscape(class.value), tokens[pyxis.RoleTechnician], `{"on_hand": 1, "par_level": 1}`)
			check(t, rec, http.StatusUnprocessableEntity, "medication_id", class.message)
		})
	}

	assert.Equal(t, before, counts(), "nothing was written")
	assert.Zero(t, spy.calls.Load(), "no workflow was started or changed")

	// Text that is fine passes the same checks: accents, tabs in one-line fields, and line
	// breaks in notes and reasons.
	rec = call(h, "POST", "/v1/medications", tokens[pyxis.RoleAdmin],
		`{"code": "AÇÃO-1", "name": "Solução\tfisiológica", "strength": "0,9 %", "form": "frasco", "unit": "mL"}`)
	assert.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	rec = call(h, "POST", fmt.Sprintf("/v1/discrepancies/%d/resolve", counted.Discrepancy.ID), tokens[pyxis.RolePharmacist],
		`{"reason": "recounted:\r\n4 ampoules, one broken"}`)
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = call(h, "POST", "/v1/requests/"+reqID+"/approve", tokens[pyxis.RolePharmacist], "{\"note\": \"raw\nline\"}")
	assert.Equal(t, http.StatusBadRequest, rec.Code, "a raw line break is not JSON: %s", rec.Body.String())
}

// signHS256 signs raw claims bytes as they are, which encoding/json would not write (it
// turns invalid UTF-8 into U+FFFD): the token a forger with the secret, or a buggy issuer,
// could make.
func signHS256(secret []byte, claims []byte) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// TestTokenClaimsWithControlsAre401: a validly signed token whose sub, name or role holds a
// NUL, a control character or invalid UTF-8 is refused like any bad token, before its actor
// reaches a workflow, the audit trail or a log.
func TestTokenClaimsWithControlsAre401(t *testing.T) {
	h := serverWith(t, nil, nil)
	exp := time.Now().Add(time.Hour).Unix()
	claims := func(sub, name, role string) []byte {
		return fmt.Appendf(nil, `{"sub":"%s","name":"%s","role":"%s","exp":%d}`, sub, name, role, exp)
	}
	// A clean token of the same shape passes; it reaches the role check (403, admins only).
	rec := call(h, "GET", "/v1/audit/verify", signHS256(testSecret, claims("nurse-1", "Ana", "nurse")), "")
	require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())

	for _, class := range bodyClasses {
		for _, claim := range []string{"sub", "name", "role"} {
			t.Run(claim+"/"+class.name, func(t *testing.T) {
				c := map[string]string{"sub": "nurse-1", "name": "Ana", "role": "nurse"}
				c[claim] = class.json
				if claim == "role" {
					c[claim] = "nurse" + strings.TrimPrefix(class.json, "ab")
				}
				rec := call(h, "GET", "/v1/audit/verify", signHS256(testSecret, claims(c["sub"], c["name"], c["role"])), "")
				require.Equal(t, http.StatusUnauthorized, rec.Code, rec.Body.String())
				var e ErrorBody
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e))
				assert.Equal(t, CodeUnauthorized, e.Error.Code)
			})
		}
	}
}

// TestFindBadTextStopsAtDepth: the raw scan of a deeply nested body ends quickly, without
// naming a field; the decoder then refuses the body as it is.
func TestFindBadTextStopsAtDepth(t *testing.T) {
	deep := strings.Repeat("[", 1<<19) + "\"\x00\"" + strings.Repeat("]", 1<<19)
	_, found := findBadText([]byte(deep))
	assert.False(t, found)
	fe, found := findBadText([]byte(`{"items": [{"code": "ok"}, {"code": "a` + "\xff" + `"}]}`))
	require.True(t, found)
	assert.Equal(t, FieldError{Field: "items[1].code", Message: "is not valid UTF-8 (byte 1)"}, fe)
}

// TestRequestIDMustBePrintableASCII: a caller's X-Request-ID is echoed in the answer and in
// the log line only when it is at most 64 printable ASCII characters; otherwise the request
// gets an id of its own.
func TestRequestIDMustBePrintableASCII(t *testing.T) {
	h := serverWith(t, nil, nil)
	for id, kept := range map[string]bool{
		"req-42.A_b": true, "a\x00b": false, "a\x1bb": false, "a\xffb": false, "has space": false,
		strings.Repeat("x", 65): false, "ação": false,
	} {
		got := call(h, "GET", "/healthz", "", "", "X-Request-ID", id).Header().Get("X-Request-ID")
		if kept {
			assert.Equal(t, id, got)
			continue
		}
		assert.Regexp(t, `^[0-9a-f]{16}$`, got, "%q is replaced", id)
	}
}
