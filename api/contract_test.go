package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/api/contracttest"
)

// TestContractValidatorCatchesViolations proves that the check the end-to-end suite runs on
// every exchange really fails: answers with a field, a status or a header the document does
// not promise, and requests it does not allow, are each reported; conforming ones are not.
func TestContractValidatorCatchesViolations(t *testing.T) {
	v, err := contracttest.New(openapiYAML)
	require.NoError(t, err)
	ok := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"abc"}}
	const medication = `{"id": 1, "code": "PARA500", "name": "Paracetamol", "strength": "500 mg", "form": "tablet",
		"unit": "tablet", "controlled_list": "", "controlled": false, "created_at": "2026-01-02T03:04:05Z"`
	withoutHeader := http.Header{"Content-Type": {"application/json"}}
	withRetry := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"abc"}, "Retry-After": {"5"}}
	for _, tc := range []struct {
		name, method, path, reqBody string
		status                      int
		header                      http.Header
		respBody                    string
		wantErr                     string
	}{
		{"conforming list", "GET", "/v1/medications", "", 200, ok, `{"data": [` + medication + `}]}`, ""},
		{"undocumented field", "GET", "/v1/medications", "", 200, ok, `{"data": [` + medication + `, "colour": "red"}]}`, "colour"},
		{"missing required field", "GET", "/v1/cabinets/1/stock", "", 200, ok, `{"data": [{"cabinet_id": 1, "medication_id": 2}]}`, "on_hand"},
		{"wrong type", "GET", "/v1/cabinets/1/stock", "", 200, ok, `{"data": [{"cabinet_id": "one"}]}`, "cabinet_id"},
		{"undocumented status", "GET", "/v1/medications", "", 418, ok, `{"error": {"code": "internal", "message": "teapot"}}`, "status is not supported"},
		{"unknown error code", "GET", "/v1/medications", "", 500, ok, `{"error": {"code": "oops", "message": "x"}}`, "code"},
		{"no X-Request-ID", "GET", "/v1/medications", "", 200, withoutHeader, `{"data": []}`, "X-Request-ID"},
		{"503 without Retry-After", "GET", "/v1/medications", "", 503, ok, `{"error": {"code": "unavailable", "message": "x"}}`, "Retry-After"},
		{"503 with Retry-After", "GET", "/v1/medications", "", 503, withRetry, `{"error": {"code": "unavailable", "message": "x"}}`, ""},
		{"request with an unknown field", "POST", "/v1/requests/medreq-01J00000000000000000000000/reject", `{"reasn": "x"}`, 400, ok,
			`{"error": {"code": "invalid_json", "message": "unknown field reasn"}}`, "reasn"},
		{"request of a bad priority", "POST", "/v1/requests", `{"cabinet_id": 1, "patient": {"mrn": "M"}, "priority": "asap",
			"items": [{"medication_id": 1, "quantity": 1}]}`, 422, ok, `{"error": {"code": "validation_failed", "message": "x"}}`, "priority"},
		{"route not in the document", "GET", "/v1/nowhere", "", 404, ok, `{"error": {"code": "not_found", "message": "x"}}`, "not an operation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.reqBody))
			if tc.reqBody != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			err := v.Check(context.Background(), req, []byte(tc.reqBody), true, tc.status, tc.header, []byte(tc.respBody))
			if tc.wantErr == "" {
				assert.NoError(t, err)
			} else if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tc.wantErr)
			}
		})
	}
}

// TestContractTransportRecordsViolations runs the transport the end-to-end suite uses against
// a server whose answer drifted from the document, and against the real router.
func TestContractTransportRecordsViolations(t *testing.T) {
	v, err := contracttest.New(openapiYAML)
	require.NoError(t, err)

	drifted := gin.New()
	drifted.GET("/healthz", func(c *gin.Context) {
		c.Header("X-Request-ID", "r1")
		c.JSON(http.StatusOK, gin.H{"status": "ok", "uptime": 3})
	})
	srv := httptest.NewServer(drifted)
	t.Cleanup(srv.Close)
	tr := &contracttest.Transport{Validator: v}
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/healthz")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Len(t, tr.Violations(), 1)
	assert.Contains(t, tr.Violations()[0], "uptime")

	real := httptest.NewServer(fullRouter(t))
	t.Cleanup(real.Close)
	tr = &contracttest.Transport{Validator: v}
	hc := &http.Client{Transport: tr}
	for _, path := range []string{"/healthz", "/openapi.json", "/docs", "/docs/init.js", "/v1/medications"} {
		resp, err := hc.Get(real.URL + path)
		require.NoError(t, err)
		_ = resp.Body.Close()
	}
	req, err := http.NewRequestWithContext(contracttest.WithoutRequestCheck(context.Background()), "POST",
		real.URL+"/v1/requests", strings.NewReader(`{"cabinet_id": `))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken(t, "nurse-1", "nurse"))
	resp, err = hc.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Empty(t, tr.Violations(), "the router's answers (200s, a 401, a 400) keep the contract")
}
