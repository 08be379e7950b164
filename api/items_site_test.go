package api

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/medreq/pyxis"
)

// One ItemSync per address: the cabinets behind one central server stand under the first of
// them (by id), whatever the case or spacing of the address; a cabinet of its own address
// stands for itself.
func TestSiteOfStandsForTheAddress(t *testing.T) {
	cabs := []pyxis.Cabinet{
		{ID: 1, Driver: "hl7", Address: "pyxis-es.hosp:2575"},
		{ID: 2, Driver: "hl7", Address: "10.0.0.9:2575"},
		{ID: 3, Driver: "hl7", Address: " PYXIS-ES.hosp:2575"},
	}
	assert.EqualValues(t, 1, siteOf(cabs, cabs[2]).ID)
	assert.EqualValues(t, 2, siteOf(cabs, cabs[1]).ID)
	assert.EqualValues(t, 9, siteOf(cabs, pyxis.Cabinet{ID: 9, Driver: "hl7", Address: "10.0.0.10:2575"}).ID)
}
