package api

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/workflows"
)

// TestREADMESaysWhatIsTrue checks the statements of README that code can vouch for: the
// restock workflow ids, the fields of the audit verification, and no macOS-only command.
func TestREADMESaysWhatIsTrue(t *testing.T) {
	readme := documentation(t)

	assert.Equal(t, "restock-1-3", workflows.RestockWorkflowID(1, 3))
	assert.Contains(t, readme, "`restock-<cabinet id>-<medication id>`")
	assert.Contains(t, readme, "`"+workflows.RestockWorkflowID(1, 3)+"`")
	assert.NotContains(t, readme, "restock-<cabinet>-<medication>")

	// The paragraph that describes GET /v1/audit/verify names every field of its answer.
	var paragraph string
	for p := range strings.SplitSeq(readme, "\n\n") {
		if p = strings.Join(strings.Fields(p), " "); strings.Contains(p, "/v1/audit/verify` (admin)") {
			paragraph = p
		}
	}
	require.NotEmpty(t, paragraph, "the documentation's audit trail paragraph was not found")
	b, err := json.Marshal(AuditVerificationView{})
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(b, &fields))
	for name := range fields {
		assert.Contains(t, paragraph, "`"+name+"`", "the documentation does not name the field %s of GET /v1/audit/verify", name)
	}
	assert.Len(t, fields, reflect.TypeFor[AuditVerificationView]().NumField())

	for line := range strings.SplitSeq(readme, "\n") {
		assert.False(t, strings.HasPrefix(strings.TrimSpace(line), "open http"), "a macOS-only command: %s", line)
	}
}

// documentation is README and the pages of docs/ it links, one after the other.
func documentation(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("../docs/*.md")
	require.NoError(t, err)
	var all strings.Builder
	for _, f := range append([]string{"../README.md"}, files...) {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		all.Write(raw)
		all.WriteString("\n\n")
	}
	return all.String()
}
