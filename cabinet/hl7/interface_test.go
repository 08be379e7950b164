package hl7

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exampleBlock is an example in INTERFACE.md: a marker naming it, then a fenced block.
var exampleBlock = regexp.MustCompile("(?s)<!-- example ([a-z0-9-]+) -->\n```hl7\n(.*?)```")

// TestInterfaceExamples checks every example in INTERFACE.md parses and is exactly what the
// encoder writes for it (segments one per line). UPDATE_INTERFACE_EXAMPLES=1 rewrites them
// from the encoder, and writes the examples into the fuzz seed corpus too.
func TestInterfaceExamples(t *testing.T) {
	doc, err := os.ReadFile("INTERFACE.md")
	require.NoError(t, err)
	want := map[string]string{}
	for _, ex := range examples() {
		raw, err := ex.msg.Encode()
		require.NoError(t, err)
		want[ex.name] = strings.ReplaceAll(strings.TrimSuffix(string(raw), "\r"), "\r", "\n")
	}
	if os.Getenv("UPDATE_INTERFACE_EXAMPLES") != "" {
		doc = exampleBlock.ReplaceAllFunc(doc, func(b []byte) []byte {
			name := exampleBlock.FindSubmatch(b)[1]
			return []byte(fmt.Sprintf("<!-- example %s -->\n```hl7\n%s\n```", name, want[string(name)]))
		})
		require.NoError(t, os.WriteFile("INTERFACE.md", doc, 0o644))
		for name, text := range want {
			seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", strings.ReplaceAll(text, "\n", "\r")+"\r")
			require.NoError(t, os.WriteFile("testdata/fuzz/FuzzParse/example_"+strings.ReplaceAll(name, "-", "_"), []byte(seed), 0o644))
		}
	}
	blocks := exampleBlock.FindAllSubmatch(doc, -1)
	require.NotEmpty(t, blocks)
	seen := map[string]bool{}
	for _, b := range blocks {
		name, text := string(b[1]), strings.TrimSuffix(string(b[2]), "\n")
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			require.True(t, ok, "no example is built under this name")
			_, err := Parse([]byte(strings.ReplaceAll(text, "\n", "\r")))
			require.NoError(t, err)
			assert.Equal(t, w, text, "INTERFACE.md differs from the encoder: UPDATE_INTERFACE_EXAMPLES=1 go test -run TestInterfaceExamples ./cabinet/hl7/")
		})
	}
	for name := range want {
		assert.True(t, seen[name], "example %s is not in INTERFACE.md", name)
	}
}
