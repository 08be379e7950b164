package deploy

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Compose-style variable interpolation, applied to every value of the compose file before
// it is decoded (https://docs.docker.com/reference/compose-file/interpolation/).

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)

// interpolate expands $$, $NAME and ${NAME} with the modifiers :-, -, :?, ?, :+ and +, as
// Compose does. An unset variable with neither default nor error expands to "".
func interpolate(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i++
		case next == '{':
			end := closingBrace(s, i+2)
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", s)
			}
			v, err := expand(s[i+2:end], lookup)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i = end
		default:
			name := varName.FindString(s[i+1:])
			if name == "" {
				b.WriteByte('$')
				continue
			}
			v, _ := lookup(name)
			b.WriteString(v)
			i += len(name)
		}
	}
	return b.String(), nil
}

// closingBrace finds the brace closing the one opened just before from, allowing nesting.
func closingBrace(s string, from int) int {
	depth := 1
	for j := from; j < len(s); j++ {
		switch s[j] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return j
			}
		}
	}
	return -1
}

// expand evaluates the inside of one ${...}.
func expand(expr string, lookup func(string) (string, bool)) (string, error) {
	name := varName.FindString(expr)
	if name == "" {
		return "", fmt.Errorf("invalid variable ${%s}", expr)
	}
	value, set := lookup(name)
	op, arg := expr[len(name):], ""
	for _, m := range []string{":-", ":?", ":+", "-", "?", "+"} {
		if strings.HasPrefix(op, m) {
			op, arg = m, op[len(m):]
			break
		}
	}
	nonEmpty := set && value != ""
	switch op {
	case "":
		return value, nil
	case ":-", "-":
		if nonEmpty || (op == "-" && set) {
			return value, nil
		}
		return interpolate(arg, lookup)
	case ":?", "?":
		if nonEmpty || (op == "?" && set) {
			return value, nil
		}
		msg, err := interpolate(arg, lookup)
		if err != nil {
			return "", err
		}
		return "", fmt.Errorf("required variable %s is missing a value: %s", name, msg)
	case ":+", "+":
		if nonEmpty || (op == "+" && set) {
			return interpolate(arg, lookup)
		}
		return "", nil
	}
	return "", fmt.Errorf("invalid variable ${%s}", expr)
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"SET": "v", "EMPTY": ""}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	tests := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "$$HOME and $${X}", want: "$HOME and ${X}"},
		{in: "a-$SET-b", want: "a-v-b"},
		{in: "${SET}", want: "v"},
		{in: "${UNSET}", want: ""},
		{in: "${UNSET:-d}", want: "d"},
		{in: "${EMPTY:-d}", want: "d"},
		{in: "${EMPTY-d}", want: ""},
		{in: "${UNSET-d}", want: "d"},
		{in: "${UNSET:-${SET}x}", want: "vx"},
		{in: "${SET:+alt}", want: "alt"},
		{in: "${EMPTY:+alt}", want: ""},
		{in: "${EMPTY+alt}", want: "alt"},
		{in: "${SET:?never}", want: "v"},
		{in: "${EMPTY?ok when set}", want: ""},
		{in: "${EMPTY:?must be set}", err: "EMPTY is missing a value: must be set"},
		{in: "${UNSET?gone}", err: "UNSET is missing a value: gone"},
		{in: "${SET", err: "unterminated"},
		{in: "${1X}", err: "invalid variable"},
		{in: "price: 5$", want: "price: 5$"},
	}
	for _, tt := range tests {
		got, err := interpolate(tt.in, lookup)
		if tt.err != "" {
			require.Errorf(t, err, "%q", tt.in)
			assert.Containsf(t, err.Error(), tt.err, "%q", tt.in)
			continue
		}
		require.NoErrorf(t, err, "%q", tt.in)
		assert.Equalf(t, tt.want, got, "%q", tt.in)
	}
}
