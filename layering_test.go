package pyxis_test

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The dependency rules of the module (README, Development): the production binary links
// none of the tools, internal/ holds only leaves, and the simulated users and the fault
// suite reach the API as its clients do. Each rule is checked against what `go list` says of
// the packages as they are; TestRulesCanFail checks each against a made-up dependency list
// that breaks it.
//
// Pending, for the redesign of the data layer and the api (issue 19): "workflows links
// neither pgx nor db" (transitive, ./workflows) and "api imports neither activities nor
// worker" (direct, ./api). Add them to rules() when they hold.

const module = "github.com/medreq/pyxis"

// scope is how far a rule looks from its packages.
type scope int

const (
	// direct looks at what the package's own files import.
	direct scope = iota
	// linked looks at every package the package links (go list -deps).
	linked
)

// rule is one promise about dependencies: none of the packages matched by pkgs, looking as
// far as scope, depends on a package forbid names.
type rule struct {
	name  string
	pkgs  []string // import paths; a trailing /... takes the packages below too
	scope scope
	// forbid says why dep may not be depended on by pkg; "" when it may.
	forbid func(pkg, dep string) string
}

// under reports whether path is prefix or a package below it.
func under(path, prefix string) bool { return path == prefix || strings.HasPrefix(path, prefix+"/") }

// anyOf forbids the packages under each of prefixes.
func anyOf(why string, prefixes ...string) func(pkg, dep string) string {
	return func(_, dep string) string {
		for _, p := range prefixes {
			if under(dep, p) {
				return why
			}
		}
		return ""
	}
}

const (
	gin = "github.com/gin-gonic/gin"
	pgx = "github.com/jackc/pgx"
)

func rules() []rule {
	return []rule{
		{
			name: "the production binary links none of the tools", pkgs: []string{module + "/cmd/pyxis"}, scope: linked,
			forbid: anyOf("a development tool in the production binary",
				"go.temporal.io/server", "modernc.org/sqlite", "github.com/tsenart/vegeta", "github.com/temporalio/ui-server",
				module+"/cabinet/cabsim", module+"/faultsuite", module+"/loadtest", module+"/devstack", module+"/cmd/pyxis-dev"),
		},
		{
			name: "internal/ holds only leaves", pkgs: []string{module + "/internal/..."}, scope: direct,
			forbid: func(_, dep string) string {
				if under(dep, module) && !under(dep, module+"/internal") {
					return "a package of the module outside internal/"
				}
				return ""
			},
		},
		{
			// Linked: the load tool has no business with the server side at all.
			name: "the load tool and its simulated users link neither the api server, gin nor pgx",
			pkgs: []string{module + "/loadtest/..."}, scope: linked,
			forbid: func(_, dep string) string {
				if dep == module+"/api" || under(dep, gin) || under(dep, pgx) {
					return "the server side of the API"
				}
				return ""
			},
		},
		{
			// Direct: the fault suite starts a Postgres and a Temporal server (which link pgx),
			// and reads the database through db; its own code reaches the API through the
			// generated client and the simulated users only.
			name: "the fault suite imports neither the api server, gin nor pgx",
			pkgs: []string{module + "/faultsuite/..."}, scope: direct,
			forbid: func(_, dep string) string {
				if dep == module+"/api" || under(dep, gin) || under(dep, pgx) {
					return "the server side of the API, or the database driver"
				}
				return ""
			},
		},
	}
}

// pkgInfo is what go list says of one package.
type pkgInfo struct {
	imports, deps []string
}

// violations lists how the packages of graph break r.
func (r rule) violations(graph map[string]pkgInfo) []string {
	var out []string
	for _, pkg := range slices.Sorted(maps.Keys(graph)) {
		if !r.matches(pkg) {
			continue
		}
		deps := graph[pkg].imports
		if r.scope == linked {
			deps = graph[pkg].deps
		}
		for _, dep := range deps {
			if why := r.forbid(pkg, dep); why != "" {
				out = append(out, fmt.Sprintf("%s depends on %s: %s", pkg, dep, why))
			}
		}
	}
	return out
}

func (r rule) matches(pkg string) bool {
	for _, p := range r.pkgs {
		if base, ok := strings.CutSuffix(p, "/..."); ok && under(pkg, base) || pkg == p {
			return true
		}
	}
	return false
}

// listPackages asks go list for every package of the module: its imports and what it links.
func listPackages(t *testing.T) map[string]pkgInfo {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{join .Imports \" \"}}\t{{join .Deps \" \"}}", "./...").Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("go list: %v\n%s", err, ee.Stderr)
	}
	require.NoError(t, err)
	graph := map[string]pkgInfo{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		require.Len(t, f, 3, sc.Text())
		graph[f[0]] = pkgInfo{imports: strings.Fields(f[1]), deps: strings.Fields(f[2])}
	}
	require.NoError(t, sc.Err())
	return graph
}

func TestDependencyRules(t *testing.T) {
	graph := listPackages(t)
	for _, r := range rules() {
		t.Run(r.name, func(t *testing.T) {
			matched := 0
			for pkg := range graph {
				if r.matches(pkg) {
					matched++
				}
			}
			require.Positive(t, matched, "the rule is about no package: a moved package escapes it")
			assert.Empty(t, r.violations(graph))
		})
	}
}

// Each rule finds what breaks it in a made-up module, and leaves alone what keeps it.
func TestRulesCanFail(t *testing.T) {
	graph := map[string]pkgInfo{
		module + "/cmd/pyxis": {imports: []string{module + "/service"},
			deps: []string{module + "/service", "go.temporal.io/server/temporal", module + "/cabinet/cabsim", "go.temporal.io/sdk/client"}},
		module + "/internal/metrics":   {imports: []string{module + "/db", module + "/internal/obs", "github.com/prometheus/client_golang/prometheus"}},
		module + "/internal/obs":       {imports: []string{"log/slog"}},
		module + "/loadtest":           {deps: []string{module + "/api/client", module + "/api", gin}},
		module + "/loadtest/simuser":   {deps: []string{module + "/api/client", pgx + "/v5"}},
		module + "/faultsuite":         {imports: []string{module + "/db", module + "/api/client", pgx + "/v5/pgxpool"}},
		module + "/faultsuite/verdict": {imports: []string{module + "/api"}},
	}
	want := map[string][]string{
		"the production binary links none of the tools": {
			module + "/cmd/pyxis depends on go.temporal.io/server/temporal: a development tool in the production binary",
			module + "/cmd/pyxis depends on " + module + "/cabinet/cabsim: a development tool in the production binary",
		},
		"internal/ holds only leaves": {
			module + "/internal/metrics depends on " + module + "/db: a package of the module outside internal/",
		},
		"the load tool and its simulated users link neither the api server, gin nor pgx": {
			module + "/loadtest depends on " + module + "/api: the server side of the API",
			module + "/loadtest depends on " + gin + ": the server side of the API",
			module + "/loadtest/simuser depends on " + pgx + "/v5: the server side of the API",
		},
		"the fault suite imports neither the api server, gin nor pgx": {
			module + "/faultsuite depends on " + pgx + "/v5/pgxpool: the server side of the API, or the database driver",
			module + "/faultsuite/verdict depends on " + module + "/api: the server side of the API, or the database driver",
		},
	}
	for _, r := range rules() {
		assert.Equal(t, want[r.name], r.violations(graph), r.name)
	}
}
