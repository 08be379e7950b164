package hl7

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A value that cannot be unescaped is refused with an error that names where, not what: the
// error is logged, and the value may be a patient's name.
func TestEscapeErrorsDoNotQuoteTheValue(t *testing.T) {
	for _, pid5 := range []string{`Vandermeulenhoek\Philippadora`, `\XVandermeulenhoek\`, `\XABC\Vandermeulenhoek`} {
		_, err := Parse([]byte("MSH|^~\\&|A|B|C|D|20260301||RDS^O13|1|P|2.5\rPID|1||MRN1||" + pid5))
		require.Error(t, err, pid5)
		assert.ErrorIs(t, err, ErrBadEscape)
		assert.NotContains(t, err.Error(), "Vandermeulenhoek")
		assert.NotContains(t, err.Error(), "Philippadora")
	}
}
