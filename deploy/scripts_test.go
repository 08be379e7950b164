package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// cliTypes maps the SDK's typed search attribute constructors (temporal.NewSearchAttributeKeyX)
// to the type names of `temporal operator search-attribute create --type`.
var cliTypes = map[string]string{
	"String": "Text", "Keyword": "Keyword", "Bool": "Bool", "Int64": "Int",
	"Float64": "Double", "Time": "Datetime", "KeywordList": "KeywordList",
}

// workflowSearchAttributes finds the search attribute keys declared in workflows/ by reading
// its source: name -> CLI type.
func workflowSearchAttributes(t *testing.T) map[string]string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "workflows")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	found := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			kind, ok := strings.CutPrefix(sel.Sel.Name, "NewSearchAttributeKey")
			lit, isLit := call.Args[0].(*ast.BasicLit)
			if !ok || !isLit || lit.Kind != token.STRING {
				return true
			}
			name, err := strconv.Unquote(lit.Value)
			require.NoError(t, err)
			require.Containsf(t, cliTypes, kind, "%s: search attribute %s of unknown type %s", fset.Position(call.Pos()), name, kind)
			found[name] = cliTypes[kind]
			return true
		})
	}
	return found
}

func TestSetupNamespaceRegistersWorkflowSearchAttributes(t *testing.T) {
	want := workflowSearchAttributes(t)
	require.NotEmpty(t, want, "no temporal.NewSearchAttributeKey* calls found in workflows/")

	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "temporal", "setup-namespace.sh"))
	require.NoError(t, err)
	line := regexp.MustCompile(`(?m)^search_attribute\s+(\S+)\s+(\S+)\s*$`)
	got := map[string]string{}
	for _, m := range line.FindAllStringSubmatch(string(data), -1) {
		got[m[1]] = m[2]
	}
	assert.Equal(t, want, got, "deploy/temporal/setup-namespace.sh must register exactly the workflows' search attributes")
}

func TestDeployScripts(t *testing.T) {
	root := repoRoot(t)
	scripts, err := filepath.Glob(filepath.Join(root, "deploy", "*", "*.sh"))
	require.NoError(t, err)
	more, err := filepath.Glob(filepath.Join(root, "deploy", "*", "*", "*.sh"))
	require.NoError(t, err)
	scripts = append(scripts, more...)
	require.Len(t, scripts, 4, "setup-schema.sh, setup-namespace.sh and the two postgres init scripts")
	sh, shErr := exec.LookPath("sh")
	for _, script := range scripts {
		rel, _ := filepath.Rel(root, script)
		t.Run(rel, func(t *testing.T) {
			data, err := os.ReadFile(script)
			require.NoError(t, err)
			text := string(data)
			// The images run them with busybox or dash: POSIX sh, stop at the first error.
			assert.True(t, strings.HasPrefix(text, "#!/bin/sh\n"), "POSIX sh shebang")
			assert.Regexp(t, `(?m)^set -eu\b`, text, "set -eu")
			if shErr != nil {
				t.Skip("no sh to check the syntax with")
			}
			out, err := exec.Command(sh, "-n", script).CombinedOutput()
			assert.NoErrorf(t, err, "sh -n: %s", out)
		})
	}
}

func TestTemporalDynamicConfig(t *testing.T) {
	p := loadCompose(t, composeEnv)
	temporal := p.Services["temporal"]
	path := envOf(temporal, "DYNAMIC_CONFIG_FILE_PATH")
	require.NotEmpty(t, path, "the server refuses to start without its dynamic config file")
	// Find the bind mount that provides the file, and read the file from the repository.
	var hostFile string
	for _, m := range temporal.Volumes {
		if rel, err := filepath.Rel(m.Target, path); m.Type == types.VolumeTypeBind && err == nil && !strings.HasPrefix(rel, "..") {
			hostFile = filepath.Join(m.Source, rel)
		}
	}
	require.NotEmpty(t, hostFile, "no volume of the temporal service provides %s", path)
	data, err := os.ReadFile(hostFile)
	require.NoError(t, err)
	var values map[string][]struct {
		Value       any            `yaml:"value"`
		Constraints map[string]any `yaml:"constraints"`
	}
	require.NoError(t, yaml.Unmarshal(data, &values), "dynamic config: key -> list of {value, constraints}")
	require.Contains(t, values, "limit.maxIDLength")
	assert.Equal(t, 255, values["limit.maxIDLength"][0].Value, "the SQL visibility store keeps ids in VARCHAR(255)")
}
