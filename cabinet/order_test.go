package cabinet

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLineOrderNumber(t *testing.T) {
	id := "medreq-01JQ8ZK3M4V7XQ2R9TBN6WFHDC"
	one, twelve := LineOrderNumber(id, 1), LineOrderNumber(id, 12)
	assert.Equal(t, "M4V7XQ2R9TBN6WFHDC-1", one, "the end of the ULID, its random part, and the line")
	assert.Len(t, one, MaxOrderNumber)
	assert.Len(t, twelve, MaxOrderNumber)
	assert.True(t, strings.HasSuffix(twelve, "-12"))
	assert.Equal(t, one, LineOrderNumber(id, 1), "the same every time")
	assert.NotEqual(t, one, LineOrderNumber("medreq-01JQ8ZK3M4V7XQ2R9TBN6WFHDD", 1))
	assert.Equal(t, "medreq-7-3", LineOrderNumber("medreq-7", 3), "a short id whole")

	tail, line, ok := ParseLineOrderNumber(twelve)
	assert.True(t, ok)
	assert.Equal(t, 12, line)
	assert.True(t, strings.HasSuffix(id, tail), "a request matches when its id ends with the tail")
	for _, s := range []string{"RX-778812x", "", "-1", "abc-0", "abc-01", strings.Repeat("A", 19) + "-1"} {
		_, _, ok := ParseLineOrderNumber(s)
		assert.False(t, ok, s)
	}

	o := Order{RequestID: id, Lines: []Line{{}, {OrderNumber: "P-77"}}}
	assert.Equal(t, one, o.OrderNumber(0))
	assert.Equal(t, "P-77", o.OrderNumber(1), "a line's own number wins")
}

func TestSites(t *testing.T) {
	sites := Sites([]CabinetTarget{
		{Driver: "hl7", Address: "ES.hospital.local:2575", CabinetCode: "PYX-ICU-02"},
		{Driver: "hl7", Address: " es.hospital.local:2575", CabinetCode: "PYX-ICU-01"},
		{Driver: "hl7", Address: "10.0.0.9:2575", CabinetCode: "OMNI-ER-01"},
		{Driver: "hl7", Address: "es.hospital.local:2575", CabinetCode: "PYX-ICU-01"},
		{Driver: "sim", CabinetCode: "SIM-1"},
	})
	assert.Equal(t, []Site{
		{Driver: "hl7", Address: "10.0.0.9:2575", Cabinets: []string{"OMNI-ER-01"}},
		{Driver: "hl7", Address: "es.hospital.local:2575", Cabinets: []string{"PYX-ICU-01", "PYX-ICU-02"}},
		{Driver: "sim", Cabinets: []string{"SIM-1"}},
	}, sites)
	assert.Equal(t, "[fe80::1]:2575", NormalizeAddress("[FE80::1]:2575"))
	assert.Equal(t, "not an address", NormalizeAddress(" not an address "))
}
