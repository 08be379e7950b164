package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"gopkg.in/yaml.v3"
)

// loadDocument reads openapi.yaml with kin-openapi. kin-openapi (v0.153) reads OpenAPI 3.1
// and validates its schemas as JSON Schema 2020-12, so Validate covers the whole document.
func loadDocument(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapiYAML)
	require.NoError(t, err)
	require.True(t, doc.IsOpenAPI31OrLater(), "the document is OpenAPI 3.1")
	require.NoError(t, doc.Validate(loader.Context))
	return doc
}

func TestDocumentValidates(t *testing.T) {
	doc := loadDocument(t)
	codes := doc.Components.Schemas["ErrorCode"].Value.Enum
	for _, code := range []string{CodeInvalidJSON, CodeValidation, CodeNotFound, CodeConflict, CodeInvalidState,
		CodeDuplicateApproval, CodeUnauthorized, CodeForbidden, CodeTooLarge, CodeIdempotencyReuse, CodeControlledStock,
		CodeSamePerson, CodeUnavailable, CodeInternal, CodeRateLimited, "method_not_allowed"} {
		assert.Contains(t, codes, code, "every error code the API answers is in the ErrorCode enum")
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			assert.NotEmpty(t, op.OperationID, "%s %s", method, path)
			assert.NotEmpty(t, op.Summary, "%s %s", method, path)
			for status, resp := range op.Responses.Map() {
				assert.Contains(t, resp.Value.Headers, "X-Request-ID", "%s %s %s: every answer carries X-Request-ID", method, path, status)
				// Every 429, and every 503 but /readyz's, says when to come back.
				if status == "429" || (status == "503" && path != "/readyz") {
					assert.Contains(t, resp.Value.Headers, "Retry-After", "%s %s %s", method, path, status)
				}
			}
		}
	}
}

// fullRouter is the router with every optional route on: the codec endpoints and the dev
// mode's codec session.
func fullRouter(t *testing.T) *gin.Engine {
	t.Helper()
	cfg := DefaultConfig()
	cfg.JWTSecret = testSecret
	cfg.Codec = passthroughCodec{}
	cfg.CodecSession = "http://localhost:8233/"
	cfg.ConsoleTokenSignIn = true
	cfg.OIDCIssuer, cfg.OIDCClientID = "https://idp.test/realms/hospital", "pyxis-console"
	s := NewServer(nil, nil, cfg)
	t.Cleanup(s.Close)
	engine, ok := s.Handler().(*gin.Engine)
	require.True(t, ok)
	return engine
}

// passthroughCodec encodes nothing; the route table only needs a codec to exist.
type passthroughCodec struct{}

func (passthroughCodec) Encode(p []*commonpb.Payload) ([]*commonpb.Payload, error) { return p, nil }
func (passthroughCodec) Decode(p []*commonpb.Payload) ([]*commonpb.Payload, error) { return p, nil }

// TestRoutesMatchDocument is the drift test: every route gin serves is an operation of the
// document, with the same method and path, and every operation is served. The /v1 routes are
// generated from the document, so this catches a route registered by hand (or a generated file
// that was not regenerated, with TestGeneratedCodeIsCurrent).
func TestRoutesMatchDocument(t *testing.T) {
	doc := loadDocument(t)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+GinPath(path))
		}
	}
	var served []string
	for _, r := range fullRouter(t).Routes() {
		served = append(served, r.Method+" "+r.Path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	assert.Equal(t, documented, served, "routes differ from openapi.yaml")
	assert.Greater(t, len(served), 35)
}

// TestRolesComeFromDocument checks the role table the router enforces against what the
// README promises for a few routes, and that a role the document does not list is refused.
func TestRolesComeFromDocument(t *testing.T) {
	spec := mustContract()
	for route, roles := range map[string][]string{
		"POST /v1/requests":             {"nurse"},
		"POST /v1/requests/:id/approve": {"pharmacist"},
		"POST /v1/requests/:id/cancel":  {"nurse", "pharmacist"},
		"GET /v1/medications":           nil,
		"POST /v1/cabinets/:id/events":  {"nurse", "pharmacist", "cabinet"},
		"GET /v1/access-log":            {"admin"},
		"POST /codec/decode":            {"pharmacist", "admin"},
		"GET /codec/session":            {"pharmacist", "admin"},
	} {
		op, ok := spec.ops[route]
		require.True(t, ok, route)
		assert.ElementsMatch(t, roles, op.roles, route)
	}
	r := fullRouter(t)
	for _, tc := range []struct {
		method, path, role string
		want               int
	}{
		{"POST", "/v1/requests", "pharmacist", http.StatusForbidden},
		{"GET", "/v1/access-log", "nurse", http.StatusForbidden},
		{"POST", "/v1/requests/medreq-01J00000000000000000000000/approve", "nurse", http.StatusForbidden},
		// The role is checked before the wrapper parses the path: a technician learns nothing
		// from a malformed id of a route that is not hers.
		{"POST", "/v1/cabinets/abc/events", "technician", http.StatusForbidden},
		{"GET", "/v1/cabinets/abc/stock", "technician", http.StatusNotFound},
		{"GET", "/v1/requests?cabinet_id=abc", "admin", http.StatusUnprocessableEntity},
	} {
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+testToken(t, "user-"+tc.role, tc.role))
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		assert.Equal(t, tc.want, rec.Code, "%s %s as %s: %s", tc.method, tc.path, tc.role, rec.Body)
	}
}

// TestServerConfigExcludesEverySchema keeps oapi-codegen.yaml's exclude-schemas equal to the
// document's schemas: each is a hand-written Go type of this package, never a generated one.
func TestServerConfigExcludesEverySchema(t *testing.T) {
	raw, err := os.ReadFile("oapi-codegen.yaml")
	require.NoError(t, err)
	var cfg struct {
		OutputOptions struct {
			ExcludeSchemas []string `yaml:"exclude-schemas"`
		} `yaml:"output-options"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &cfg))
	var schemas []string
	for name := range loadDocument(t).Components.Schemas {
		schemas = append(schemas, name)
	}
	assert.ElementsMatch(t, schemas, cfg.OutputOptions.ExcludeSchemas)
}

// TestGeneratedCodeIsCurrent regenerates the server glue and the client from the document in
// a temporary folder and compares them with the committed files: an edit of openapi.yaml
// without `go generate ./api/...` fails here. oapi-codegen is a `go tool` of the module, so
// this runs offline.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	for _, g := range []struct{ dir, config, spec, file string }{
		{".", "oapi-codegen.yaml", "openapi.yaml", "server.gen.go"},
		{"client", "oapi-codegen.yaml", "../openapi.yaml", "client.gen.go"},
	} {
		out := filepath.Join(t.TempDir(), g.file)
		cmd := exec.Command(goBin, "tool", "oapi-codegen", "-config", g.config, "-o", out, g.spec)
		cmd.Dir = g.dir
		msg, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", msg)
		fresh, err := os.ReadFile(out)
		require.NoError(t, err)
		committed, err := os.ReadFile(filepath.Join(g.dir, g.file))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(fresh, committed), "%s is stale: run go generate ./api/...", filepath.Join(g.dir, g.file))
	}
}

func TestOpenAPIJSONAndDocsAreServedWithoutToken(t *testing.T) {
	r := fullRouter(t)
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	rec := get("/openapi.json")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var served map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &served))
	assert.Equal(t, "3.1.0", served["openapi"])
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(rec.Body.Bytes())
	require.NoError(t, err)
	require.NoError(t, doc.Validate(loader.Context), "the served JSON is the valid document")
	assert.Equal(t, loadDocument(t).Paths.Len(), doc.Paths.Len())

	rec = get("/docs")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), `<div id="swagger-ui">`)
	assert.NotContains(t, rec.Body.String(), "http", "the page loads nothing from another host")
	csp := rec.Header().Get("Content-Security-Policy")
	assert.Contains(t, csp, "script-src 'self'")
	assert.NotContains(t, csp, "unsafe-eval")
	for asset, contentType := range docsAssets {
		rec = get("/docs/" + asset)
		require.Equal(t, http.StatusOK, rec.Code, asset)
		assert.Equal(t, contentType, rec.Header().Get("Content-Type"))
		assert.Greater(t, rec.Body.Len(), 100, asset)
	}
	assert.Contains(t, get("/docs/init.js").Body.String(), "validatorUrl: null")
	assert.Equal(t, http.StatusNotFound, get("/docs/README.md").Code)
	assert.Equal(t, http.StatusNotFound, get("/docs/..%2fopenapi.go").Code)
}

// goTypes maps each object schema of the document to the Go type that carries it, for
// TestSchemasMatchGoTypes. response marks the types only ever answered: for those, a property
// is required exactly when its field is always written (no omitempty).
var goTypes = map[string]struct {
	value    any
	response bool
}{
	"ErrorBody": {ErrorBody{}, true}, "ErrorDetail": {ErrorDetail{}, true}, "FieldError": {FieldError{}, true},
	"CreateRequestBody": {CreateRequestBody{}, false}, "PatientBody": {PatientBody{}, false},
	"PersonName": {PersonName{}, false}, "ItemBody": {ItemBody{}, false}, "NoteBody": {NoteBody{}, false},
	"ReasonBody": {ReasonBody{}, false}, "CabinetEventBody": {CabinetEventBody{}, false},
	"Actor": {workflowsActor{}, true}, "Approval": {workflowsApproval{}, true}, "Transition": {workflowsTransition{}, true},
	"RequestView": {RequestView{}, true}, "CabinetDelivery": {cabinetDelivery{}, true}, "RequestSummaryView": {RequestSummaryView{}, true},
	"RequestSummaryList": {ListView[RequestSummaryView]{}, true}, "AuditView": {AuditView{}, true},
	"QueueItemView": {QueueItemView{}, true}, "QueueApprovalView": {QueueApprovalView{}, true},
	"QueueList": {ListView[QueueItemView]{}, true}, "ConsoleMe": {ConsoleMe{}, true},
	"AuditList": {ListView[AuditView]{}, true}, "MedicationBody": {MedicationBody{}, false},
	"MedicationChangeBody": {MedicationChangeBody{}, false}, "MedicationList": {ListView[MedicationBody]{}, true},
	"CabinetBody": {CabinetBody{}, false}, "CabinetList": {ListView[CabinetBody]{}, true},
	"ReportSourcesBody": {ReportSourcesBody{}, false}, "StockBody": {StockBody{}, false}, "StockView": {StockView{}, true},
	"StockList": {ListView[StockView]{}, true}, "OverrideView": {OverrideView{}, true},
	"OverrideList": {ListView[OverrideView]{}, true}, "ReviewBody": {ReviewBody{}, false},
	"RefillView": {RefillView{}, true}, "RefillList": {ListView[RefillView]{}, true},
	"ConfirmRefillBody": {ConfirmRefillBody{}, false}, "CountBody": {CountBody{}, false}, "CountView": {CountView{}, true},
	"DiscrepancyView": {DiscrepancyView{}, true}, "DiscrepancyList": {ListView[DiscrepancyView]{}, true},
	"ResolveBody": {ResolveBody{}, false}, "LoadBody": {LoadBody{}, false}, "LoadView": {LoadView{}, true},
	"AuditVerificationView": {AuditVerificationView{}, true}, "RegisterView": {RegisterView{}, true},
	"RegisterMedicationView": {RegisterMedicationView{}, true}, "RegisterMovementView": {RegisterMovementView{}, true},
	"UserBody": {UserBody{}, false}, "UserPatchBody": {UserPatchBody{}, false}, "UserView": {UserView{}, true},
	"UserList": {ListView[UserView]{}, true}, "AccessEntryView": {AccessEntryView{}, true},
	"AccessEntryList": {ListView[AccessEntryView]{}, true},
}

// notGoTypes are the object schemas no Go type of this module declares.
var notGoTypes = map[string]string{
	"HealthView":    "gin.H in router.go",
	"ReadinessView": "gin.H in Server.ready",
	"CodecPayloads": "the Temporal SDK's codec handler",
}

// TestSchemasMatchGoTypes is the field half of the drift test: each object schema has the
// JSON fields of its Go type, no more and no fewer, of compatible kinds.
func TestSchemasMatchGoTypes(t *testing.T) {
	for name, ref := range loadDocument(t).Components.Schemas {
		s := ref.Value
		if !s.Type.Is(openapi3.TypeObject) {
			continue
		}
		if _, ok := notGoTypes[name]; ok {
			continue
		}
		gt, ok := goTypes[name]
		if !assert.True(t, ok, "schema %s has no Go type in goTypes", name) {
			continue
		}
		compareFields(t, name, s, gt.value, gt.response)
	}
	for name := range goTypes {
		assert.Contains(t, loadDocument(t).Components.Schemas, name)
	}
}
