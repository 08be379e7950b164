package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFieldErrorNamesItsPath binds bodies with an unknown or mistyped field deep in a request:
// the field error names the whole path, as validation errors do, not the bare name.
func TestFieldErrorNamesItsPath(t *testing.T) {
	for _, tc := range []struct{ name, body, field string }{
		{"unknown field in a line", `{"cabinet_id": 1, "patient": {"mrn": "M1"}, "priority": "stat", "items": [{"medication_id": 1, "quantity": 2}, {"medicaton_id": 3, "quantity": 1}]}`, "items[1].medicaton_id"},
		{"mistyped field in a line", `{"cabinet_id": 1, "patient": {"mrn": "M1"}, "priority": "stat", "items": [{"medication_id": 1, "quantity": "two"}]}`, "items[0].quantity"},
		{"unknown field in an object", `{"cabinet_id": 1, "patient": {"mrn": "M1", "badd": "1"}, "priority": "stat", "items": []}`, "patient.badd"},
		{"unknown field at the top", `{"cabinet": 1}`, "cabinet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Request = httptest.NewRequest(http.MethodPost, "/v1/requests", strings.NewReader(tc.body))
			var body CreateRequestBody
			err := bindJSON(c, &body)
			var ae *apiError
			require.True(t, errors.As(err, &ae), "%v", err)
			_, detail := classify(err)
			details, ok := detail.Details.([]FieldError)
			require.True(t, ok, "%#v", detail.Details)
			require.Len(t, details, 1)
			assert.Equal(t, tc.field, details[0].Field)
			assert.Equal(t, CodeInvalidJSON, detail.Code)
		})
	}
}
