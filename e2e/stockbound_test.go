package e2e

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/db"
)

// TestCabinetLoadBeyondTheBoundIsRefusedForGood: a cabinet's load report that would leave a
// pocket above db.MaxOnHand is answered AE 102 (do not resend), not AR (resend later), and
// changes nothing.
func TestCabinetLoadBeyondTheBoundIsRefusedForGood(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	err := newIntake().HandleEvent(context.Background(), c.event(f, cabinet.EventLoad, f.meds[0], db.MaxOnHand))
	var re *cabinet.ReportError
	require.True(t, errors.As(err, &re), "%v", err)
	assert.Equal(t, "AE", re.Ack)
	assert.Equal(t, cabinet.ConditionDataType, re.Condition)
	assert.Contains(t, re.Text, "more than 100000")
	assert.EqualValues(t, 5, requireLedger(t, f, f.meds[0]))
}
