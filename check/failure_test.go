package check

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/codec"
)

// A stuck activity's last failure is shown opened, not as Temporal holds it ("Encoded
// failure"), when the check has the codec.
func TestFailureMessageIsOpened(t *testing.T) {
	k, err := codec.GenerateKey("k1")
	require.NoError(t, err)
	cd, err := codec.New([]codec.Key{k})
	require.NoError(t, err)
	_, fc := codec.GuardedConverters(codec.NewGuard(cd, nil))
	f := fc.ErrorToFailure(errors.New("cabinet PYX-ICU-01 unreachable"))
	assert.Equal(t, "Encoded failure", failureMessage(nil, f))
	assert.Contains(t, failureMessage(fc, f), "cabinet PYX-ICU-01 unreachable")
}
