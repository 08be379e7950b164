// Package textcheck refuses text that must never reach Postgres, a workflow history or an
// HL7 message: invalid UTF-8, NUL and the other C0 control characters (and DEL). Postgres
// refuses NUL in text (SQLSTATE 22021) only when the write happens, long after the request
// that carried it was accepted; refusing it at every entrance keeps a request from failing,
// or stalling, on data nobody can fix later.
package textcheck

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Errors of Check, one per class of refused text.
var (
	ErrInvalidUTF8 = errors.New("is not valid UTF-8")
	ErrNUL         = errors.New("contains a NUL character")
	ErrControl     = errors.New("contains a control character")
)

// Mode says which whitespace controls a field allows.
type Mode int

const (
	// Line allows tab only: names, codes, identifiers, one-line reasons.
	Line Mode = iota
	// Multiline allows tab, CR and LF: notes and free text.
	Multiline
)

// Check returns nil when s may be stored, else an error wrapping one of the class errors
// with the position of the first offending byte.
func Check(s string, m Mode) error {
	if !utf8.ValidString(s) {
		i := 0
		for i < len(s) {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			i += size
		}
		return fmt.Errorf("%w (byte %d)", ErrInvalidUTF8, i)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0:
			return fmt.Errorf("%w (byte %d)", ErrNUL, i)
		case c == '\t':
		case (c == '\n' || c == '\r') && m == Multiline:
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("%w 0x%02X (byte %d)", ErrControl, c, i)
		}
	}
	return nil
}

// Clean returns s with what Check refuses replaced by U+FFFD and at most max bytes (whole
// runes; max <= 0 means no limit), for text that comes from outside but must be shown
// anyway, such as a cabinet's refusal.
func Clean(s string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if r == '\t' || (r >= 0x20 && r != 0x7f) {
			if max > 0 && b.Len()+utf8.RuneLen(r) > max {
				break
			}
			b.WriteRune(r)
			continue
		}
		if max > 0 && b.Len()+3 > max {
			break
		}
		b.WriteRune('\uFFFD')
	}
	return b.String()
}
