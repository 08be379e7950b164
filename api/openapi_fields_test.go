package api

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/workflows"
)

// The workflows package's types that the API answers as they are.
type (
	workflowsActor      = pyxis.Actor
	workflowsApproval   = workflows.Approval
	workflowsTransition = workflows.Transition
	cabinetDelivery     = pyxis.CabinetDelivery
)

// compareFields checks that schema s lists the JSON fields of Go value v: the same names, of
// compatible kinds, nested objects compared by their own schema entry. For a response type, a
// field is required exactly when it is always written.
func compareFields(t *testing.T, name string, s *openapi3.Schema, v any, response bool) {
	t.Helper()
	typ := reflect.TypeOf(v)
	fields := map[string]reflect.StructField{}
	omitted := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		jsonName, opts, _ := strings.Cut(tag, ",")
		if jsonName == "" {
			jsonName = f.Name
		}
		fields[jsonName] = f
		omitted[jsonName] = strings.Contains(opts, "omitempty")
	}
	for prop := range s.Properties {
		_, ok := fields[prop]
		assert.True(t, ok, "%s.%s is documented but %s has no such JSON field", name, prop, typ)
	}
	for field, f := range fields {
		p, ok := s.Properties[field]
		if !assert.True(t, ok, "%s has JSON field %q that schema %s does not document", typ, field, name) {
			continue
		}
		assert.True(t, kindFits(p.Value, f.Type), "%s.%s: schema type %v does not fit Go type %s", name, field, p.Value.Type, f.Type)
		if response {
			assert.Equal(t, !omitted[field], contains(s.Required, field),
				"%s.%s: required in the schema exactly when %s always writes it (no omitempty)", name, field, typ)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// kindFits reports whether a value of Go type g is described by schema s.
func kindFits(s *openapi3.Schema, g reflect.Type) bool {
	for g.Kind() == reflect.Pointer {
		g = g.Elem()
	}
	if len(s.OneOf) > 0 {
		for _, alt := range s.OneOf {
			if !alt.Value.Type.Is(openapi3.TypeNull) && kindFits(alt.Value, g) {
				return true
			}
		}
		return false
	}
	if g == reflect.TypeOf(time.Time{}) {
		return s.Type.Includes(openapi3.TypeString) && s.Format == "date-time"
	}
	switch g.Kind() {
	case reflect.String:
		return s.Type.Includes(openapi3.TypeString)
	case reflect.Bool:
		return s.Type.Includes(openapi3.TypeBoolean)
	case reflect.Int, reflect.Int32, reflect.Int64:
		return s.Type.Includes(openapi3.TypeInteger)
	case reflect.Slice:
		return s.Type.Includes(openapi3.TypeArray) && s.Items != nil && kindFits(s.Items.Value, g.Elem())
	case reflect.Struct, reflect.Map:
		return s.Type.Includes(openapi3.TypeObject)
	case reflect.Interface:
		return true
	}
	return false
}
