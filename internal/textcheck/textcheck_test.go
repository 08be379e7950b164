package textcheck

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		in   string
		mode Mode
		want error
	}{
		{"Paracetamol 500 mg — ação", Line, nil},
		{"tab\tok", Line, nil},
		{"two\nlines", Multiline, nil},
		{"crlf\r\n", Multiline, nil},
		{"two\nlines", Line, ErrControl},
		{"nul\x00here", Multiline, ErrNUL},
		{"bell\x07", Multiline, ErrControl},
		{"esc\x1b[31m", Line, ErrControl},
		{"del\x7f", Line, ErrControl},
		{"bad \xff utf8", Line, ErrInvalidUTF8},
		{"truncated \xc3", Multiline, ErrInvalidUTF8},
	}
	for _, tc := range cases {
		err := Check(tc.in, tc.mode)
		if tc.want == nil {
			assert.NoError(t, err, "%q", tc.in)
		} else {
			assert.ErrorIs(t, err, tc.want, "%q", tc.in)
		}
	}
}

func TestClean(t *testing.T) {
	assert.Equal(t, "drawer \uFFFD jammed\uFFFD", Clean("drawer \x00 jammed\xff", 0))
	assert.Equal(t, "ação", Clean("ação e mais", 6), "cut at a rune boundary within the limit")
	assert.NoError(t, Check(Clean("a\x00\x1b\xfe\n", 0), Line))
}
