package api

import (
	"encoding"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// badFieldPath finds, in a body that encoding/json refused, the path of the first field (in
// key order) that dst has no room for, or whose value has the wrong type: items[0].medicaton_id
// rather than the bare name encoding/json reports, which leaves the client to guess which of
// fifty lines holds the typo.
func badFieldPath(raw []byte, dst any) (string, bool) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	return walkField(v, reflect.TypeOf(dst), "")
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func walkField(v any, t reflect.Type, path string) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil || reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) && t.Kind() != reflect.String {
		return "", false // its own decoder judges it
	}
	switch t.Kind() {
	case reflect.Interface:
		return "", false
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return path, true
		}
		fields := structFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, known := fields[strings.ToLower(k)]
			if !known {
				return join(path, k), true
			}
			if p, bad := walkField(obj[k], ft, join(path, k)); bad {
				return p, true
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return path, true
		}
		for k, e := range obj {
			if p, bad := walkField(e, t.Elem(), join(path, k)); bad {
				return p, true
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return path, true
		}
		for i, e := range arr {
			if p, bad := walkField(e, t.Elem(), path+"["+strconv.Itoa(i)+"]"); bad {
				return p, true
			}
		}
	case reflect.String:
		_, ok := v.(string)
		return path, !ok
	case reflect.Bool:
		_, ok := v.(bool)
		return path, !ok
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f, ok := v.(float64)
		return path, !ok || f != float64(int64(f))
	case reflect.Float32, reflect.Float64:
		_, ok := v.(float64)
		return path, !ok
	}
	return "", false
}

// structFields maps the JSON names of t's fields, lower-cased as encoding/json matches them,
// to their types; embedded structs' fields are promoted.
func structFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range structFields(ft) {
					if _, taken := fields[k]; !taken {
						fields[k] = v
					}
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		fields[strings.ToLower(name)] = f.Type
	}
	return fields
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
