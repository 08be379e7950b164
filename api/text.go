package api

import (
	"sort"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis/internal/textcheck"
)

// Text hygiene at the API's entrances: NUL, the other C0 controls and invalid UTF-8 are
// refused (422, the field named) before anything is written or any workflow started. Bodies
// are checked twice: their raw bytes (bindJSON, with findBadText), because encoding/json turns
// invalid UTF-8 into U+FFFD and refuses raw control characters as a mere syntax error; and
// each decoded field (fields.checkText), which catches the \u0000-style escapes. Query and
// path parameters are checked by checkParams, the Idempotency-Key header by createRequest,
// and token claims by the authenticator.

// checkText notes a field whose text textcheck refuses, and reports whether it was accepted.
// Line suits names, codes and identifiers; Multiline (tab, CR and LF allowed) suits notes and
// reasons.
func (f *fields) checkText(field, v string, mode textcheck.Mode) bool {
	if err := textcheck.Check(v, mode); err != nil {
		f.add(field, "%s", err.Error())
		return false
	}
	return true
}

// checkFreeText is checkString for multi-line text: notes and reasons.
func (f *fields) checkFreeText(field, v string, required bool, max int) {
	if f.checkText(field, v, textcheck.Multiline) {
		f.checkLength(field, v, required, max)
	}
}

// checkParams refuses a request whose path or query parameters (names or values) hold what
// textcheck refuses, naming the parameter.
func checkParams() gin.HandlerFunc {
	return func(c *gin.Context) {
		var fe fields
		for _, p := range c.Params {
			fe.checkText(p.Key, p.Value, textcheck.Line)
		}
		query := c.Request.URL.Query()
		names := make([]string, 0, len(query))
		for name := range query {
			names = append(names, name)
		}
		sort.Strings(names) // one answer for one request
		for _, name := range names {
			if !fe.checkText(textcheck.Clean(name, 64), name, textcheck.Line) {
				continue
			}
			for _, v := range query[name] {
				if !fe.checkText(name, v, textcheck.Line) {
					break
				}
			}
		}
		if err := fe.err(); err != nil {
			abort(c, err)
			return
		}
		c.Next()
	}
}

// findBadText looks for a string of a JSON body whose raw bytes hold what encoding/json would
// silently change (invalid UTF-8, which it turns into U+FFFD) or refuse without naming the
// field (a raw NUL or other C0 control). It returns the field, as the validation names it
// ("patient.mrn", "items[0].code"), and what is wrong, or ok false when no string holds such
// bytes (they are then outside any string: a syntax error).
func findBadText(raw []byte) (FieldError, bool) {
	s := &rawScanner{b: raw}
	fe, found, _ := s.value("")
	return fe, found
}

// rawScanner walks a JSON text tolerantly: strings may hold raw control bytes and invalid
// UTF-8, which it keeps as they are. It stops at the first string holding such bytes, or at
// the first syntax error.
type rawScanner struct {
	b     []byte
	i     int
	depth int
}

// maxScanDepth bounds the nesting the scanner follows (no body of this API nests deeper
// than a few levels): a body of a million brackets must not become a million stack frames.
const maxScanDepth = 64

type syntaxError struct{}

func (syntaxError) Error() string { return "not JSON" }

func (s *rawScanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// value scans one value at path.
func (s *rawScanner) value(path string) (FieldError, bool, error) {
	s.skipSpace()
	if s.i >= len(s.b) {
		return FieldError{}, false, syntaxError{}
	}
	switch s.b[s.i] {
	case '{', '[':
		if s.depth++; s.depth > maxScanDepth {
			return FieldError{}, false, syntaxError{}
		}
		defer func() { s.depth-- }()
		if s.b[s.i] == '{' {
			return s.object(path)
		}
		return s.array(path)
	case '"':
		v, bad, err := s.str()
		if err != nil || !bad {
			return FieldError{}, false, err
		}
		return badField(path, v)
	}
	// A number or a literal: up to the next delimiter.
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', ']', '}', ' ', '\t', '\r', '\n':
			return FieldError{}, false, nil
		}
		s.i++
	}
	return FieldError{}, false, nil
}

func (s *rawScanner) object(path string) (FieldError, bool, error) {
	s.i++ // {
	for first := true; ; first = false {
		s.skipSpace()
		if s.i >= len(s.b) {
			return FieldError{}, false, syntaxError{}
		}
		if s.b[s.i] == '}' && first {
			s.i++
			return FieldError{}, false, nil
		}
		if s.b[s.i] != '"' {
			return FieldError{}, false, syntaxError{}
		}
		key, bad, err := s.str()
		if err != nil {
			return FieldError{}, false, err
		}
		child := key
		if path != "" {
			child = path + "." + key
		}
		if bad {
			return badField(textcheck.Clean(child, 200), key)
		}
		s.skipSpace()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return FieldError{}, false, syntaxError{}
		}
		s.i++
		if fe, found, err := s.value(child); found || err != nil {
			return fe, found, err
		}
		s.skipSpace()
		if s.i >= len(s.b) {
			return FieldError{}, false, syntaxError{}
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return FieldError{}, false, nil
		default:
			return FieldError{}, false, syntaxError{}
		}
	}
}

func (s *rawScanner) array(path string) (FieldError, bool, error) {
	s.i++ // [
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return FieldError{}, false, nil
	}
	for n := 0; ; n++ {
		if fe, found, err := s.value(path + "[" + strconv.Itoa(n) + "]"); found || err != nil {
			return fe, found, err
		}
		s.skipSpace()
		if s.i >= len(s.b) {
			return FieldError{}, false, syntaxError{}
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return FieldError{}, false, nil
		default:
			return FieldError{}, false, syntaxError{}
		}
	}
}

// str reads a string literal at s.i and returns its value, decoded as encoding/json decodes
// it except that raw bytes are kept as they are, and whether its raw bytes held invalid UTF-8
// or a control character JSON does not allow there (tab, CR and LF aside: encoding/json
// refuses those as a syntax error, and a field that allows them takes them escaped).
func (s *rawScanner) str() (string, bool, error) {
	s.i++ // opening quote
	var out []byte
	bad := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return string(out), bad, nil
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return "", false, syntaxError{}
			}
			e := s.b[s.i+1]
			s.i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := s.hex4()
				if !ok {
					return "", false, syntaxError{}
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
						save := s.i
						s.i += 2
						if r2, ok = s.hex4(); !ok {
							return "", false, syntaxError{}
						}
						if utf16.DecodeRune(r, r2) == utf8.RuneError {
							s.i, r2 = save, -1
						}
					}
					if r2 >= 0 {
						r = utf16.DecodeRune(r, r2)
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", false, syntaxError{}
			}
		case c < 0x20 && c != '\t' && c != '\r' && c != '\n':
			bad = true
			out = append(out, c)
			s.i++
		case c < utf8.RuneSelf:
			out = append(out, c)
			s.i++
		default:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size <= 1 {
				bad = true
			}
			out = append(out, s.b[s.i:s.i+size]...)
			s.i += size
		}
	}
	return "", false, syntaxError{}
}

func (s *rawScanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	s.i += 4
	return rune(n), true
}

// badField is the error of a field whose raw text holds what textcheck refuses.
func badField(field, v string) (FieldError, bool, error) {
	if err := textcheck.Check(v, textcheck.Multiline); err != nil {
		return FieldError{Field: field, Message: err.Error()}, true, nil
	}
	return FieldError{}, false, nil
}
