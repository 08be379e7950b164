package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/internal/textcheck"
	"github.com/medreq/pyxis/internal/token"
)

// FuzzCreateRequestBody feeds arbitrary bodies to the decoding and validation of
// POST /v1/requests. It must never panic, and must either accept a body that respects every
// limit or refuse it with a 4xx and the error envelope.
func FuzzCreateRequestBody(f *testing.F) {
	for _, seed := range []string{
		`{"cabinet_id": 1, "patient": {"mrn": "MRN-1", "bed": "12A"}, "priority": "stat", "items": [{"medication_id": 2, "quantity": 1}]}`,
		`{"cabinet_id": 1, "patient": {"mrn": "M"}, "priority": "routine", "items": [{"medication_id": 2, "quantity": 1}, {"medication_id": 2, "quantity": 3}]}`,
		`{"cabinet_id": "one"}`,
		`{"cabinet_id": 1, "quantitiy": 2}`,
		`[1, 2]`,
		``,
		`{} {}`,
		`{"cabinet_id": 1e400}`,
		`{"items": [{"quantity": -2147483649}]}`,
		"{\"patient\": {\"mrn\": \"\\u0000\\ud800\"}}",
		"{\"patient\": {\"mrn\": \"M\xff\x00\x1b\"}}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rec := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(rec)
		c.Request = httptest.NewRequest(http.MethodPost, "/v1/requests", bytes.NewReader(data))
		c.Request.Body = http.MaxBytesReader(rec, c.Request.Body, MaxBodyBytes)
		var body CreateRequestBody
		err := bindJSON(c, &body)
		if err == nil {
			err = body.validate("")
		}
		if err != nil {
			status, detail := classify(err)
			if status < 400 || status >= 500 || detail.Code == "" || detail.Message == "" {
				t.Fatalf("body %q: answered %d %+v", data, status, detail)
			}
			return
		}
		if textcheck.Check(body.Patient.MRN, textcheck.Line) != nil || textcheck.Check(body.Patient.Bed, textcheck.Line) != nil {
			t.Fatalf("accepted text that may not be stored in %q: %+v", data, body.Patient)
		}
		if body.CabinetID <= 0 || strings.TrimSpace(body.Patient.MRN) == "" || len(body.Patient.MRN) > 64 ||
			len(body.Patient.Bed) > 32 || len(body.Items) == 0 || len(body.Items) > MaxLines ||
			!pyxis.Priority(body.Priority).Valid() {
			t.Fatalf("accepted an invalid body %q: %+v", data, body)
		}
		seen := map[int64]bool{}
		for _, it := range body.Items {
			if it.MedicationID <= 0 || it.Quantity <= 0 || it.Quantity > MaxQuantity || seen[it.MedicationID] {
				t.Fatalf("accepted an invalid line in %q: %+v", data, it)
			}
			seen[it.MedicationID] = true
		}
	})
}

// FuzzAuthenticate sends arbitrary Authorization headers through the authentication of /v1,
// with both the HS256 secret and a JWKS configured. It must never panic and never let through
// anything but the valid tokens it was seeded with.
func FuzzAuthenticate(f *testing.F) {
	// Fuzzing runs this setup in every worker process: the valid tokens must come out the
	// same everywhere, so times and keys are fixed (RS256 signatures are deterministic).
	secret := []byte("fuzz-secret-fuzz-secret-fuzz-secret")
	issued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const ttl = 100 * 365 * 24 * time.Hour
	// Signed directly: IssueToken holds a token to a day, and the seed must outlive the years.
	hs, err := token.Sign(secret, token.Holder{Subject: "nurse-1", Name: "Nina", Role: pyxis.RoleNurse}, ttl, issued)
	if err != nil {
		f.Fatal(err)
	}
	pemKey, err := os.ReadFile(filepath.Join("testdata", "fuzz-rsa-key.pem"))
	if err != nil {
		f.Fatal(err)
	}
	priv, err := jwt.ParseRSAPrivateKeyFromPEM(pemKey)
	if err != nil {
		f.Fatal(err)
	}
	pub, err := jwk.Import(&priv.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	_ = pub.Set(jwk.KeyIDKey, "k1")
	_ = pub.Set(jwk.AlgorithmKey, "RS256")
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(set)
	}))
	defer jwks.Close()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": "ph-1", "role": "pharmacist", "exp": issued.Add(ttl).Unix(),
	})
	tok.Header["kid"] = "k1"
	rs, err := tok.SignedString(priv)
	if err != nil {
		f.Fatal(err)
	}

	cfg := DefaultConfig()
	cfg.JWTSecret, cfg.JWKSURL, cfg.JWTIssuer, cfg.JWTAudience = secret, jwks.URL, testIssuer, testAudience
	cfg.JWKSRefreshInterval = time.Hour // made-up kids must not reach the provider
	keys, err := newJWKSKeys(cfg.JWKSURL, cfg.JWKSRefreshInterval)
	if err != nil {
		f.Fatal(err)
	}
	defer keys.close()
	r := gin.New()
	r.GET("/v1/x", newAuthenticator(cfg, keys).authenticate(), func(c *gin.Context) { c.Status(http.StatusOK) })
	valid := map[string]bool{hs: true, rs: true}

	for _, seed := range []string{
		"Bearer " + hs, "Bearer " + rs, "Bearer " + hs[:len(hs)-2], "bearer " + hs, "Bearer", "Bearer ",
		"Basic dXNlcjpwYXNz", "Bearer a.b.c", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
		"Bearer " + strings.Replace(rs, ".", "..", 1), "Bearer \x00\xff",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
		req.Header["Authorization"] = []string{header}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			// The scheme is case-insensitive (RFC 7235): "bearer" and "BEARER" are Bearer.
			scheme, raw, _ := strings.Cut(strings.TrimSpace(header), " ")
			if !strings.EqualFold(scheme, "Bearer") || !valid[strings.TrimSpace(raw)] {
				t.Fatalf("let through %q", header)
			}
		case http.StatusUnauthorized:
			var e ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code != CodeUnauthorized {
				t.Fatalf("401 without the envelope for %q: %s", header, rec.Body.String())
			}
		default:
			t.Fatalf("answered %d to %q", rec.Code, header)
		}
	})
}
