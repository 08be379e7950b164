package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestEmptyPathIDIsNotFound sends what a shell sends when $REQ is empty: an empty path segment
// names nothing, so the answer is 404, not a 422 about unreadable parameters.
func TestEmptyPathIDIsNotFound(t *testing.T) {
	r := fullRouter(t)
	for _, tc := range []struct{ method, path, role string }{
		{"POST", "/v1/requests//approve", "pharmacist"},
		{"POST", "/v1/requests//cancel", "nurse"},
	} {
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(`{"note": "ok"}`))
		req.Header.Set("Authorization", "Bearer "+testToken(t, "user-"+tc.role, tc.role))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		requireError(t, rec, http.StatusNotFound, CodeNotFound)
	}
}
