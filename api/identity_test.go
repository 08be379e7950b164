package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// decode unmarshals a recorded JSON answer.
func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), rec.Body.String())
	return v
}

// requireError checks an error answer's status, code and, when given, the fields it names.
func requireError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string, fields ...string) {
	t.Helper()
	require.Equal(t, status, rec.Code, rec.Body.String())
	var e struct {
		Error struct {
			Code    string       `json:"code"`
			Message string       `json:"message"`
			Details []FieldError `json:"details"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), rec.Body.String())
	assert.Equal(t, code, e.Error.Code, rec.Body.String())
	assert.NotEmpty(t, e.Error.Message)
	var got []string
	for _, d := range e.Error.Details {
		got = append(got, d.Field)
	}
	if len(fields) > 0 {
		assert.Equal(t, fields, got, rec.Body.String())
	}
}

// requireAuditChainOK checks that the audit chain still holds.
func requireAuditChainOK(t *testing.T, store *db.Store) {
	t.Helper()
	v, err := store.VerifyAudit(t.Context())
	require.NoError(t, err)
	require.True(t, v.OK, v.Reason)
}

func TestUsersEndpoints(t *testing.T) {
	pool := dbtest.NewPool(t)
	store := db.NewStore(pool)
	h := serverWith(t, store, nil)
	admin := testToken(t, "admin-1", pyxis.RoleAdmin)

	rec := call(h, "POST", "/v1/users", admin, `{"id": "nurse-ana", "name": "Ana Souza", "role": "nurse", "registration": "COREN-SP 123456", "unit": "Intensive Care Unit"}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.Equal(t, "/v1/users/nurse-ana", rec.Header().Get("Location"))
	ana := decode[map[string]any](t, rec)
	for k, v := range map[string]any{"id": "nurse-ana", "name": "Ana Souza", "role": "nurse", "registration": "COREN-SP 123456",
		"unit": "Intensive Care Unit", "active": true} {
		assert.Equal(t, v, ana[k], k)
	}
	assert.NotEmpty(t, ana["created_at"])
	assert.NotEmpty(t, ana["updated_at"])
	rec = call(h, "POST", "/v1/users", admin, `{"id": "cab-icu", "name": "ICU cabinet interface", "role": "cabinet", "active": false}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.Equal(t, false, decode[map[string]any](t, rec)["active"])

	requireError(t, call(h, "POST", "/v1/users", admin, `{"id": "nurse-ana", "name": "Another", "role": "nurse"}`), http.StatusConflict, CodeConflict)
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
		fields     []string
	}{
		{"malformed", `{"id": `, http.StatusBadRequest, CodeInvalidJSON, nil},
		{"empty", ``, http.StatusBadRequest, CodeInvalidJSON, nil},
		{"unknown field", `{"id": "x", "name": "X", "role": "nurse", "admin": true}`, http.StatusBadRequest, CodeInvalidJSON, []string{"admin"}},
		{"wrong type", `{"id": "x", "name": "X", "role": "nurse", "active": "yes"}`, http.StatusBadRequest, CodeInvalidJSON, []string{"active"}},
		{"nothing", `{}`, http.StatusUnprocessableEntity, CodeValidation, []string{"id", "name", "role"}},
		{"unknown role", `{"id": "x", "name": "X", "role": "surgeon"}`, http.StatusUnprocessableEntity, CodeValidation, []string{"role"}},
		{"system is no user", `{"id": "x", "name": "X", "role": "system"}`, http.StatusUnprocessableEntity, CodeValidation, []string{"role"}},
		{"padded id", `{"id": " x", "name": "X", "role": "nurse"}`, http.StatusUnprocessableEntity, CodeValidation, []string{"id"}},
		{"slash in id", `{"id": "a/b", "name": "X", "role": "nurse"}`, http.StatusUnprocessableEntity, CodeValidation, []string{"id"}},
		{"control in name", `{"id": "x", "name": "X\u0007", "role": "nurse"}`, http.StatusUnprocessableEntity, CodeValidation, []string{"name"}},
		{"NUL in unit", `{"id": "x", "name": "X", "role": "nurse", "unit": "W\u0000"}`, http.StatusUnprocessableEntity, CodeValidation, []string{"unit"}},
		{"long registration", `{"id": "x", "name": "X", "role": "nurse", "registration": "` + strings.Repeat("9", 65) + `"}`,
			http.StatusUnprocessableEntity, CodeValidation, []string{"registration"}},
	} {
		t.Run("create "+tc.name, func(t *testing.T) {
			requireError(t, call(h, "POST", "/v1/users", admin, tc.body), tc.status, tc.code, tc.fields...)
		})
	}
	_, err := store.GetUser(t.Context(), "x")
	require.ErrorIs(t, err, pyxis.ErrNotFound, "a refused body writes nothing")

	rec = call(h, "GET", "/v1/users/nurse-ana", admin, "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "Ana Souza", decode[UserView](t, rec).Name)
	requireError(t, call(h, "GET", "/v1/users/nobody", admin, ""), http.StatusNotFound, CodeNotFound)

	rec = call(h, "PATCH", "/v1/users/nurse-ana", admin, `{"unit": "Ward 3B (Medical)", "registration": "COREN-SP 999"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	patched := decode[UserView](t, rec)
	assert.Equal(t, "Ward 3B (Medical)", patched.Unit)
	assert.Equal(t, "COREN-SP 999", patched.Registration)
	assert.Equal(t, "Ana Souza", patched.Name, "what the patch does not name stays")
	assert.Equal(t, "nurse", patched.Role)
	assert.True(t, patched.Active)
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             string
		fields           []string
	}{
		{"nothing to change", "/v1/users/nurse-ana", `{}`, http.StatusUnprocessableEntity, CodeValidation, []string{"body"}},
		{"empty name", "/v1/users/nurse-ana", `{"name": ""}`, http.StatusUnprocessableEntity, CodeValidation, []string{"name"}},
		{"unknown role", "/v1/users/nurse-ana", `{"role": "surgeon"}`, http.StatusUnprocessableEntity, CodeValidation, []string{"role"}},
		{"unknown field", "/v1/users/nurse-ana", `{"id": "other"}`, http.StatusBadRequest, CodeInvalidJSON, []string{"id"}},
		{"wrong type", "/v1/users/nurse-ana", `{"active": 0}`, http.StatusBadRequest, CodeInvalidJSON, []string{"active"}},
		{"unknown user", "/v1/users/nobody", `{"active": false}`, http.StatusNotFound, CodeNotFound, nil},
	} {
		t.Run("patch "+tc.name, func(t *testing.T) {
			requireError(t, call(h, "PATCH", tc.path, admin, tc.body), tc.status, tc.code, tc.fields...)
		})
	}

	rec = call(h, "GET", "/v1/users", admin, "")
	require.Equal(t, http.StatusOK, rec.Code)
	list := decode[ListView[UserView]](t, rec)
	var ids []string
	for _, u := range list.Data {
		ids = append(ids, u.ID)
	}
	assert.Equal(t, []string{"admin-1", "cab-icu", "nurse-ana"}, ids, "the admin was added on first sight")

	for _, role := range []string{pyxis.RoleNurse, pyxis.RolePharmacist, pyxis.RoleTechnician} {
		tok := testToken(t, "someone-"+role, role)
		requireError(t, call(h, "GET", "/v1/users", tok, ""), http.StatusForbidden, CodeForbidden)
		requireError(t, call(h, "POST", "/v1/users", tok, `{"id": "x", "name": "X", "role": "admin"}`), http.StatusForbidden, CodeForbidden)
		requireError(t, call(h, "PATCH", "/v1/users/nurse-ana", tok, `{"role": "admin"}`), http.StatusForbidden, CodeForbidden)
		requireError(t, call(h, "GET", "/v1/users/nurse-ana", tok, ""), http.StatusForbidden, CodeForbidden)
	}

	// Creating and changing users is audited with before and after, as the admin who did it.
	var entries []struct {
		Action, ActorID string
		Details         map[string]any
	}
	rows, err := pool.Query(t.Context(), "SELECT action, actor_id, details FROM audit_log WHERE action IN ('user_created', 'user_updated') ORDER BY id")
	require.NoError(t, err)
	for rows.Next() {
		var e struct {
			Action, ActorID string
			Details         map[string]any
		}
		require.NoError(t, rows.Scan(&e.Action, &e.ActorID, &e.Details))
		entries = append(entries, e)
	}
	require.NoError(t, rows.Err())
	require.Len(t, entries, 3)
	assert.Equal(t, []string{"user_created", "user_created", "user_updated"}, []string{entries[0].Action, entries[1].Action, entries[2].Action})
	for _, e := range entries {
		assert.Equal(t, "admin-1", e.ActorID)
	}
	assert.Nil(t, entries[0].Details["before"])
	assert.Equal(t, "Intensive Care Unit", entries[2].Details["before"].(map[string]any)["unit"])
	assert.Equal(t, "Ward 3B (Medical)", entries[2].Details["after"].(map[string]any)["unit"])
	requireAuditChainOK(t, store)
}

// TestDeactivatedUsersAreRefused deactivates users of both kinds of token: the process that
// made the change refuses them at once, another process within its cache's time to live.
func TestDeactivatedUsersAreRefused(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	p := newIDP(t)
	p.addRSA("rsa-1")
	withIDP := func(ttl time.Duration) func(*Config) {
		return func(c *Config) {
			c.JWKSURL, c.JWTIssuer, c.JWTAudience, c.JWKSRefreshInterval = p.srv.URL, testIssuer, testAudience, 0
			c.UserCacheTTL = ttl
		}
	}
	here := serverWith(t, store, withIDP(MaxUserCacheTTL))
	elsewhere := serverWith(t, store, withIDP(300*time.Millisecond))
	admin := testToken(t, "admin-1", pyxis.RoleAdmin)
	hs := testToken(t, "nurse-hs", pyxis.RoleNurse)
	idp := p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims(func(c jwt.MapClaims) { c["sub"], c["role"] = "nurse-idp", pyxis.RoleNurse }))

	for _, h := range []http.Handler{here, elsewhere} {
		for _, tok := range []string{hs, idp} {
			require.Equal(t, http.StatusOK, call(h, "GET", "/v1/medications", tok, "").Code)
		}
	}
	for _, id := range []string{"nurse-hs", "nurse-idp"} {
		require.Equal(t, http.StatusOK, call(here, "PATCH", "/v1/users/"+id, admin, `{"active": false}`).Code)
	}
	for _, tok := range []string{hs, idp} {
		rec := call(here, "GET", "/v1/medications", tok, "")
		requireError(t, rec, http.StatusUnauthorized, CodeUnauthorized)
		assert.Contains(t, rec.Body.String(), "deactivated")
	}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		for _, tok := range []string{hs, idp} {
			assert.Equal(ct, http.StatusUnauthorized, call(elsewhere, "GET", "/v1/medications", tok, "").Code)
		}
	}, 5*time.Second, 50*time.Millisecond, "another process refuses them once its cache entry expires")

	require.Equal(t, http.StatusOK, call(here, "PATCH", "/v1/users/nurse-hs", admin, `{"active": true}`).Code)
	assert.Equal(t, http.StatusOK, call(here, "GET", "/v1/medications", hs, "").Code, "reactivated")
	assert.Equal(t, http.StatusUnauthorized, call(here, "GET", "/v1/medications", idp, "").Code)
}

func TestUnknownUsersJoinJustInTimeUnlessRequired(t *testing.T) {
	pool := dbtest.NewPool(t)
	store := db.NewStore(pool)
	h := serverWith(t, store, nil)
	tok, err := IssueToken(testSecret, "pharm-new", "Paula Nova", pyxis.RolePharmacist, time.Hour, time.Now())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, call(h, "GET", "/v1/medications", tok, "").Code)
	u, err := store.GetUser(t.Context(), "pharm-new")
	require.NoError(t, err)
	assert.Equal(t, db.User{ID: "pharm-new", Name: "Paula Nova", Role: "pharmacist", Active: true, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}, u)
	var action, actorID string
	require.NoError(t, pool.QueryRow(t.Context(), "SELECT action, actor_id FROM audit_log WHERE details->'after'->>'id' = 'pharm-new'").Scan(&action, &actorID))
	assert.Equal(t, []string{"user_provisioned", "pharm-new"}, []string{action, actorID})
	// A token without a name: the directory names the user by id.
	nameless, err := IssueToken(testSecret, "tech-nameless", "", pyxis.RoleTechnician, time.Hour, time.Now())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, call(h, "GET", "/v1/medications", nameless, "").Code)
	u, err = store.GetUser(t.Context(), "tech-nameless")
	require.NoError(t, err)
	assert.Equal(t, "tech-nameless", u.Name)

	strict := serverWith(t, store, func(c *Config) { c.RequireKnownUsers = true })
	stranger := testToken(t, "nurse-stranger", pyxis.RoleNurse)
	rec := call(strict, "GET", "/v1/medications", stranger, "")
	requireError(t, rec, http.StatusUnauthorized, CodeUnauthorized)
	assert.Contains(t, rec.Body.String(), "not in the users directory")
	_, err = store.GetUser(t.Context(), "nurse-stranger")
	require.ErrorIs(t, err, pyxis.ErrNotFound, "nobody is added when known users are required")
	assert.Equal(t, http.StatusOK, call(strict, "GET", "/v1/medications", tok, "").Code, "a known user passes")

	require.NoError(t, store.UpsertUser(t.Context(), db.User{ID: "admin-1", Name: "Ada", Role: "admin", Active: true}))
	admin := testToken(t, "admin-1", pyxis.RoleAdmin)
	require.Equal(t, http.StatusCreated, call(strict, "POST", "/v1/users", admin, `{"id": "nurse-stranger", "name": "Now Known", "role": "nurse"}`).Code)
	assert.Equal(t, http.StatusOK, call(strict, "GET", "/v1/medications", stranger, "").Code, "known once an admin adds her")
}

func TestDirectoryRoleWinsOverToken(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	h := serverWith(t, store, nil)
	ctx := t.Context()
	require.NoError(t, store.UpsertUser(ctx, db.User{ID: "demoted", Name: "Was Admin", Role: "nurse", Active: true}))
	require.NoError(t, store.UpsertUser(ctx, db.User{ID: "promoted", Name: "Now Admin", Role: "admin", Active: true}))
	requireError(t, call(h, "GET", "/v1/users", testToken(t, "demoted", pyxis.RoleAdmin), ""), http.StatusForbidden, CodeForbidden)
	assert.Equal(t, http.StatusOK, call(h, "GET", "/v1/users", testToken(t, "promoted", pyxis.RoleNurse), "").Code)
	// The role a user joined with is the directory's from then on.
	requireError(t, call(h, "GET", "/v1/users", testToken(t, "joined", pyxis.RoleNurse), ""), http.StatusForbidden, CodeForbidden)
	requireError(t, call(h, "GET", "/v1/users", testToken(t, "joined", pyxis.RoleAdmin), ""), http.StatusForbidden, CodeForbidden)
}

// cabinetRouter serves GET /who behind the authenticator, answering with the principal and
// the cabinet claim as handlers see them.
func cabinetRouter(t *testing.T, cfg Config) http.Handler {
	t.Helper()
	var keys *jwksKeys
	if cfg.JWKSURL != "" {
		var err error
		keys, err = newJWKSKeys(cfg.JWKSURL, cfg.JWKSRefreshInterval)
		require.NoError(t, err)
		t.Cleanup(keys.close)
	}
	r := gin.New()
	r.GET("/who", newAuthenticator(cfg, keys).authenticate(), func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"principal": principal(c), "cabinet": cabinetClaim(c)})
	})
	return r
}

func TestCabinetTokensNameTheirCabinet(t *testing.T) {
	_, err := IssueToken(testSecret, "cab-1", "ICU", pyxis.RoleCabinet, time.Hour, time.Now())
	require.Error(t, err, "a cabinet token without its cabinet is not issued")
	_, err = IssueCabinetToken(testSecret, "cab-1", "ICU", "", time.Hour, time.Now())
	require.Error(t, err)
	_, err = IssueCabinetToken(testSecret, "cab-1", "ICU", "PYX\x00", time.Hour, time.Now())
	require.Error(t, err)
	cab, err := IssueCabinetToken(testSecret, "cab-icu", "ICU interface", "PYX-ICU-01", time.Hour, time.Now())
	require.NoError(t, err)

	p := newIDP(t)
	p.addRSA("rsa-1")
	cfg := idpConfig(p)
	cfg.JWTSecret = testSecret
	h := cabinetRouter(t, cfg)
	exp := time.Now().Add(time.Hour).Unix()
	hsNoClaim, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "cab-x", "role": "cabinet", "exp": exp}).SignedString(testSecret)
	require.NoError(t, err)
	nurseWithClaim, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "n", "role": "nurse", "cabinet": "PYX-ICU-01", "exp": exp}).SignedString(testSecret)
	require.NoError(t, err)
	idpCabinet := func(changes ...func(jwt.MapClaims)) string {
		return p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims(append([]func(jwt.MapClaims){func(c jwt.MapClaims) { c["role"] = "cabinet" }}, changes...)...))
	}

	for _, tc := range []struct {
		name, token, wantCabinet string
		want                     int
	}{
		{"HS256 with its cabinet", cab, "PYX-ICU-01", http.StatusOK},
		{"HS256 without", hsNoClaim, "", http.StatusUnauthorized},
		{"JWKS with its cabinet", idpCabinet(func(c jwt.MapClaims) { c["cabinet"] = "PYX-3B-01" }), "PYX-3B-01", http.StatusOK},
		{"JWKS without", idpCabinet(), "", http.StatusUnauthorized},
		{"JWKS with a cabinet that is no text", idpCabinet(func(c jwt.MapClaims) { c["cabinet"] = 42 }), "", http.StatusUnauthorized},
		{"another role's claim is dropped", nurseWithClaim, "", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := call(h, "GET", "/who", tc.token, "")
			require.Equal(t, tc.want, rec.Code, rec.Body.String())
			if tc.want != http.StatusOK {
				requireError(t, rec, tc.want, CodeUnauthorized)
				return
			}
			got := decode[struct {
				Principal Principal `json:"principal"`
				Cabinet   string    `json:"cabinet"`
			}](t, rec)
			assert.Equal(t, tc.wantCabinet, got.Cabinet)
			assert.Equal(t, tc.wantCabinet, got.Principal.Cabinet)
		})
	}

	// Through the server, with the directory: a user the directory made a cabinet needs the
	// claim as well.
	store := db.NewStore(dbtest.NewPool(t))
	srv := serverWith(t, store, nil)
	assert.Equal(t, http.StatusOK, call(srv, "GET", "/v1/medications", cab, "").Code)
	requireError(t, call(srv, "GET", "/v1/medications", hsNoClaim, ""), http.StatusUnauthorized, CodeUnauthorized)
	require.NoError(t, store.UpsertUser(t.Context(), db.User{ID: "really-a-cabinet", Name: "ICU", Role: "cabinet", Active: true}))
	requireError(t, call(srv, "GET", "/v1/medications", testToken(t, "really-a-cabinet", pyxis.RoleNurse), ""), http.StatusUnauthorized, CodeUnauthorized)
}

func TestJWKSURLMustBeHTTPS(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://idp.example/realms/h/certs": true,
		"http://127.0.0.1:8080/certs":        true,
		"http://127.10.0.3/certs":            true,
		"http://[::1]:9000/certs":            true,
		"http://localhost:9000/certs":        true,
		"http://LOCALHOST/certs":             true,
		"http://idp.example/certs":           false,
		"http://10.0.0.5/certs":              false,
		"http://localhost.evil.example/x":    false,
		"http://[::2]/certs":                 false,
		"ftp://idp.example/certs":            false,
		"idp.example/certs":                  false,
		"https://":                           false,
	} {
		err := CheckJWKSURL(url)
		assert.Equal(t, ok, err == nil, "%s: %v", url, err)
	}
	assert.ErrorContains(t, CheckJWKSURL("http://idp.example/certs"), "https")

	// A server given such a URL anyway fetches nothing from it and refuses its tokens.
	p := newIDP(t)
	p.addRSA("rsa-1")
	s := NewServer(nil, nil, Config{JWKSURL: "http://idp.example/certs", JWTIssuer: testIssuer, JWTAudience: testAudience})
	t.Cleanup(s.Close)
	assert.Nil(t, s.keys)
}

// TestCatalogueChangesAuditedAsTheirAuthor checks that the API passes who made a catalogue,
// cabinet or stock change to the audit trail, with what changed.
func TestCatalogueChangesAuditedAsTheirAuthor(t *testing.T) {
	pool := dbtest.NewPool(t)
	h := serverWith(t, db.NewStore(pool), nil)
	admin, tech := testToken(t, "admin-cat", pyxis.RoleAdmin), testToken(t, "tech-cat", pyxis.RoleTechnician)
	rec := call(h, "POST", "/v1/medications", admin, `{"code": "ONDA4", "name": "Ondansetron", "unit": "ampoule"}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	med := decode[MedicationBody](t, rec)
	rec = call(h, "POST", "/v1/cabinets", admin, `{"code": "PYX-ICU-01", "name": "ICU", "unit": "Intensive Care Unit", "driver": "hl7", "address": "10.1.2.3:2576"}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	cab := decode[CabinetBody](t, rec)
	rec = call(h, "PUT", "/v1/cabinets/"+strconv.FormatInt(cab.ID, 10)+"/stock/"+strconv.FormatInt(med.ID, 10), tech, `{"on_hand": 12, "par_level": 10}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	rows, err := pool.Query(t.Context(), `SELECT action, actor_id, actor_role, details FROM audit_log
		WHERE action IN ('medication_created', 'cabinet_created', 'stock_set') ORDER BY id`)
	require.NoError(t, err)
	type entry struct {
		action, actorID, actorRole string
		details                    map[string]any
	}
	var got []entry
	for rows.Next() {
		var e entry
		require.NoError(t, rows.Scan(&e.action, &e.actorID, &e.actorRole, &e.details))
		got = append(got, e)
	}
	require.NoError(t, rows.Err())
	require.Len(t, got, 3)
	assert.Equal(t, entry{"medication_created", "admin-cat", "admin", map[string]any{"before": nil, "after": map[string]any{
		"id": float64(med.ID), "code": "ONDA4", "name": "Ondansetron", "strength": "", "form": "", "unit": "ampoule", "controlled_list": "",
		"route": "", "barcodes": []any{}, "active": true,
	}}}, got[0])
	assert.Equal(t, entry{"cabinet_created", "admin-cat", "admin", map[string]any{"before": nil, "after": map[string]any{
		"id": float64(cab.ID), "code": "PYX-ICU-01", "name": "ICU", "unit": "Intensive Care Unit", "status": "online",
		"driver": "hl7", "address": "10.1.2.3:2576", "report_sources": []any{},
	}}}, got[1])
	assert.Equal(t, "tech-cat", got[2].actorID)
	assert.Equal(t, map[string]any{"on_hand": float64(0), "par_level": float64(0)}, got[2].details["before"])
	assert.Equal(t, map[string]any{"on_hand": float64(12), "par_level": float64(10)}, got[2].details["after"])
}
