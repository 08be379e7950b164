package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// bindJSON decodes the body strictly into dst: one JSON object, no unknown fields (a typo must
// not silently drop a field of a medication order), within MaxBodyBytes.
func bindJSON(c *gin.Context, dst any) error {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if dec.More() {
			return newError(http.StatusBadRequest, CodeInvalidJSON, "the body must hold exactly one JSON object", nil)
		}
		// Read to EOF so a trailing oversize tail is noticed as well.
		if _, err = io.Copy(io.Discard, dec.Buffered()); err == nil {
			_, err = io.Copy(io.Discard, c.Request.Body)
		}
		if err == nil {
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
		return newError(http.StatusBadRequest, CodeInvalidJSON, "a field has the wrong type",
			[]FieldError{{Field: typeErr.Field, Message: "expected " + typeErr.Type.String()}})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return newError(http.StatusBadRequest, CodeInvalidJSON, "unknown field "+field,
			[]FieldError{{Field: field, Message: "not a field of this request"}})
	}
	return newError(http.StatusBadRequest, CodeInvalidJSON, "the body could not be read", nil)
}

// pathID parses a numeric path parameter; anything else names no resource.
func pathID(c *gin.Context, name, what string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound(what)
	}
	return id, nil
}

// fields collects validation failures of one body.
type fields []FieldError

func (f *fields) add(field, format string, args ...any) {
	*f = append(*f, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (f *fields) checkString(field, v string, required bool, max int) {
	switch {
	case required && strings.TrimSpace(v) == "":
		f.add(field, "is required")
	case len(v) > max:
		f.add(field, "is longer than %d characters", max)
	}
}

// queryID reads an optional positive integer query parameter (0 when absent), noting a bad one.
func (f *fields) queryID(c *gin.Context, name string) int64 {
	v := c.Query(name)
	if v == "" {
		return 0
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		f.add(name, "must be a positive integer")
	}
	return id
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
