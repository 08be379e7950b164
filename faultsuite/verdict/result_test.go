package verdict

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestResultLine(t *testing.T) {
	r := Result{Scenario: "api-kill", Requests: 200, Faults: 2, LedgerOK: true, AuditOK: true}
	assert.Equal(t, "scenario=api-kill requests=200 faults=2 lost=0 duplicated=0 stuck=0 ledger=ok audit=ok", r.Line())
	assert.True(t, r.OK())
	r.Problems = []string{"a 500"}
	assert.False(t, r.OK())
	r = Result{Scenario: "x", Lost: 1, LedgerOK: false, AuditOK: true}
	assert.Contains(t, r.Line(), "lost=1")
	assert.Contains(t, r.Line(), "ledger=broken")
	assert.False(t, r.OK())
}
