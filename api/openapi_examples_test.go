package api

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestErrorAnswersShowTheirOwnCode keeps each error answer's example in step with its
// description: without one, the reference page makes one up from the schema, and every error
// then reads `invalid_json`, the first code of the enum.
func TestErrorAnswersShowTheirOwnCode(t *testing.T) {
	doc := loadDocument(t)
	want := map[string]string{"Unauthorized": CodeUnauthorized, "TooManyRequests": CodeRateLimited, "Internal": CodeInternal, "Unavailable": CodeUnavailable}
	codes := regexp.MustCompile("`([a-z_]+)`")
	checked := 0
	for name, ref := range doc.Components.Responses {
		resp := ref.Value
		mt := resp.Content.Get("application/json")
		if mt == nil || mt.Schema == nil || mt.Schema.Ref != "#/components/schemas/ErrorBody" {
			continue
		}
		checked++
		ex, ok := mt.Example.(map[string]any)
		require.True(t, ok, "%s has no example", name)
		detail, ok := ex["error"].(map[string]any)
		require.True(t, ok, "%s: example without error", name)
		code, _ := detail["code"].(string)
		var described []string
		for _, m := range codes.FindAllStringSubmatch(*resp.Description, -1) {
			described = append(described, m[1])
		}
		assert.Contains(t, described, code, "%s: the example's code is not one its description names", name)
		if w, ok := want[name]; ok {
			assert.Equal(t, w, code, name)
		}
	}
	assert.GreaterOrEqual(t, checked, 10)
}
