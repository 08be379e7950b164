package api

import (
	"encoding/json"
	"os"
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
	raw, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	readme := string(raw)

	assert.Equal(t, "restock-1-3", workflows.RestockWorkflowID(1, 3))
	assert.Contains(t, readme, "`restock-<cabinet id>-<medication id>`")
	assert.Contains(t, readme, "`"+workflows.RestockWorkflowID(1, 3)+"`")
	assert.NotContains(t, readme, "restock-<cabinet>-<medication>")

	var verifyLine string
	for line := range strings.SplitSeq(readme, "\n") {
		if strings.Contains(line, "`GET /v1/audit/verify` (admin) walks it") {
			verifyLine = line
		}
	}
	require.NotEmpty(t, verifyLine, "README's audit trail paragraph was not found")
	i := strings.Index(readme, verifyLine)
	paragraph := readme[i:min(len(readme), i+600)]
	b, err := json.Marshal(AuditVerificationView{})
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(b, &fields))
	for name := range fields {
		assert.Contains(t, paragraph, "`"+name+"`", "README does not name the field %s of GET /v1/audit/verify", name)
	}
	assert.Len(t, fields, reflect.TypeFor[AuditVerificationView]().NumField())

	for line := range strings.SplitSeq(readme, "\n") {
		assert.False(t, strings.HasPrefix(strings.TrimSpace(line), "open http"), "a macOS-only command: %s", line)
	}
}
