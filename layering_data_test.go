package pyxis_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two dependency rules of the data layer and the api (README, Development): workflow code
// links no database code (activities reach the database through an interface of their own,
// in the domain's types), and the api knows nothing of the worker side. Each is checked
// against what `go list` says of the package as it is; TestDataLayeringRulesCanFail checks
// each against made-up dependency lists that break it.

const modulePath = "github.com/medreq/pyxis"

// dataRule is one promise: pkg does not depend on a package under any of forbidden, looking
// at what it links (linked) or at what its own files import.
type dataRule struct {
	name      string
	pkg       string
	linked    bool
	forbidden []string
}

func dataRules() []dataRule {
	return []dataRule{
		{name: "workflows link neither db nor pgx", pkg: modulePath + "/workflows", linked: true,
			forbidden: []string{modulePath + "/db", "github.com/jackc/pgx"}},
		{name: "api imports neither activities nor worker", pkg: modulePath + "/api",
			forbidden: []string{modulePath + "/activities", modulePath + "/worker"}},
	}
}

// withinPath reports whether path is prefix or a package below it.
func withinPath(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// broken lists the dependencies in deps that break r.
func (r dataRule) broken(deps []string) []string {
	var out []string
	for _, d := range deps {
		for _, f := range r.forbidden {
			if withinPath(d, f) {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// dependencies asks go list what r's package links (-deps) or imports.
func (r dataRule) dependencies(t *testing.T) []string {
	t.Helper()
	args := []string{"list", "-f", `{{join .Imports "\n"}}`, r.pkg}
	if r.linked {
		args = []string{"list", "-deps", r.pkg}
	}
	out, err := exec.Command("go", args...).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
	}
	require.NoError(t, err)
	return strings.Fields(string(out))
}

func TestDataLayering(t *testing.T) {
	for _, r := range dataRules() {
		t.Run(r.name, func(t *testing.T) {
			deps := r.dependencies(t)
			require.NotEmpty(t, deps, "go list found nothing: the rule is about no package")
			assert.Empty(t, r.broken(deps))
		})
	}
}

// Each rule finds what breaks it in made-up dependency lists, and leaves alone what only
// looks like it.
func TestDataLayeringRulesCanFail(t *testing.T) {
	deps := map[string][]string{
		"workflows link neither db nor pgx": {
			modulePath + "/activities", modulePath + "/db/gen", "github.com/jackc/pgx/v5/pgconn", modulePath + "/db",
			modulePath + "/dbx", modulePath + "/requests", "github.com/jackc/pgxlisten", "go.temporal.io/sdk/workflow",
		},
		"api imports neither activities nor worker": {
			modulePath + "/requests", modulePath + "/activities", modulePath + "/worker", modulePath + "/workers",
			modulePath + "/workflows", modulePath + "/intake",
		},
	}
	want := map[string][]string{
		"workflows link neither db nor pgx": {
			modulePath + "/db/gen", "github.com/jackc/pgx/v5/pgconn", modulePath + "/db",
		},
		"api imports neither activities nor worker": {modulePath + "/activities", modulePath + "/worker"},
	}
	for _, r := range dataRules() {
		assert.Equal(t, want[r.name], r.broken(deps[r.name]), r.name)
	}
}
