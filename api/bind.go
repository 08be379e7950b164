package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis/internal/textcheck"
)

// rawControl reports a control character JSON allows nowhere unescaped (whitespace aside).
func rawControl(r rune) bool { return r < 0x20 && r != '\t' && r != '\r' && r != '\n' }

// bindJSON decodes the body strictly into dst: one JSON object, no unknown fields (a typo must
// not silently drop a field of a medication order), within MaxBodyBytes. A string whose raw
// bytes hold invalid UTF-8 or a control character is refused (422) with its field named,
// before decoding: encoding/json would turn the one into U+FFFD unseen and refuse the other
// without saying where.
func bindJSON(c *gin.Context, dst any) error {
	raw, err := io.ReadAll(c.Request.Body)
	if err == nil {
		if !utf8.Valid(raw) || bytes.ContainsFunc(raw, rawControl) {
			if fe, found := findBadText(raw); found {
				return validation([]FieldError{fe})
			}
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err = dec.Decode(dst); err == nil {
			if dec.More() {
				return newError(http.StatusBadRequest, CodeInvalidJSON, "the body must hold exactly one JSON object", nil)
			}
			return nil
		}
	}
	var tooLarge *http.MaxBytesError
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return newError(http.StatusRequestEntityTooLarge, CodeTooLarge,
			fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes), nil)
	case errors.Is(err, io.EOF):
		return newError(http.StatusBadRequest, CodeInvalidJSON, "the body is empty; a JSON object is expected", nil)
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return newError(http.StatusBadRequest, CodeInvalidJSON, "the body is not valid JSON", nil)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if p, found := badFieldPath(raw, dst); found {
			field = p
		}
		return newError(http.StatusBadRequest, CodeInvalidJSON, "a field has the wrong type",
			[]FieldError{{Field: field, Message: "expected " + typeErr.Type.String()}})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if p, found := badFieldPath(raw, dst); found {
			field = p
		}
		return newError(http.StatusBadRequest, CodeInvalidJSON, "unknown field "+field,
			[]FieldError{{Field: field, Message: "not a field of this request"}})
	}
	return newError(http.StatusBadRequest, CodeInvalidJSON, "the body could not be read", nil)
}

// pathID checks a numeric path parameter the generated wrapper parsed: one below 1 names no
// resource.
func pathID(id int64, what string) (int64, error) {
	if id <= 0 {
		return 0, notFound(what)
	}
	return id, nil
}

// deref is an optional parameter's value, the zero value when it is absent.
func deref[T any](v *T) T {
	var zero T
	if v == nil {
		return zero
	}
	return *v
}

// fields collects validation failures of one body.
type fields []FieldError

func (f *fields) add(field, format string, args ...any) {
	*f = append(*f, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// checkString checks a one-line text field: text textcheck takes (textcheck.Line), present
// when required, at most max bytes.
func (f *fields) checkString(field, v string, required bool, max int) {
	if f.checkText(field, v, textcheck.Line) {
		f.checkLength(field, v, required, max)
	}
}

func (f *fields) checkLength(field, v string, required bool, max int) {
	switch {
	case required && strings.TrimSpace(v) == "":
		f.add(field, "is required")
	case len(v) > max:
		f.add(field, "is longer than %d characters", max)
	}
}

// optionalID checks an optional id query parameter (0 when absent), noting one below 1.
func (f *fields) optionalID(name string, v *int64) int64 {
	if v != nil && *v <= 0 {
		f.add(name, "must be a positive integer")
	}
	return deref(v)
}

// limit checks the optional page size of a listing (0 when absent: the default).
func (f *fields) limit(v *int) int {
	if v != nil && (*v < 1 || *v > 200) {
		f.add("limit", "must be between 1 and 200")
	}
	return deref(v)
}

func (f fields) err() error {
	if len(f) == 0 {
		return nil
	}
	return validation(f)
}

// bindOptionalJSON is bindJSON for bodies that may be left out entirely.
func bindOptionalJSON(c *gin.Context, dst any) error {
	if c.Request.ContentLength == 0 {
		return nil
	}
	return bindJSON(c, dst)
}
