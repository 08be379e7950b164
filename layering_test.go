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
// none of the tools, internal/ holds only leaves, the simulated users and the fault suite
// reach the API as its clients do, workflow code links no database code (activities reach
// the database through an interface of their own, in package pyxis's types), and the api
// knows nothing of the worker side. Each rule is checked against what `go list` says of the
// packages as they are; TestRulesCanFail checks each against a made-up dependency list that
// breaks it.

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
		{
			// Linked: workflow code is replayed from histories and must not reach a database,
			// not even through the activities' package.
			name: "workflows link neither db nor pgx", pkgs: []string{module + "/workflows"}, scope: linked,
			forbid: anyOf("database code in the workflows", module+"/db", pgx),
		},
		{
			// Direct: the api starts and signals workflows through the Temporal client, and
			// needs neither the activities' implementations nor the worker's wiring.
			name: "api imports neither activities nor worker", pkgs: []string{module + "/api"}, scope: direct,
			forbid: anyOf("the worker side in the api", module+"/activities", module+"/worker"),
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
		module + "/workflows": {deps: []string{module, module + "/activities", module + "/db/gen", module + "/dbx",
			pgx + "/v5/pgconn", "github.com/jackc/pgxlisten", module + "/db", "go.temporal.io/sdk/workflow"}},
		// What a package links does not count for a direct rule: only its own imports.
		module + "/api": {imports: []string{module + "/requests", module + "/activities", module + "/workers", module + "/worker"},
			deps: []string{module + "/db", module + "/activities/more"}},
	}
	want := map[string][]string{
		"the production binary links none of the tools": breaches(module+"/cmd/pyxis", "a development tool in the production binary",
			"go.temporal.io/server/temporal", module+"/cabinet/cabsim"),
		"internal/ holds only leaves": breaches(module+"/internal/metrics", "a package of the module outside internal/", module+"/db"),
		"the load tool and its simulated users link neither the api server, gin nor pgx": append(
			breaches(module+"/loadtest", "the server side of the API", module+"/api", gin),
			breaches(module+"/loadtest/simuser", "the server side of the API", pgx+"/v5")...),
		"the fault suite imports neither the api server, gin nor pgx": append(
			breaches(module+"/faultsuite", "the server side of the API, or the database driver", pgx+"/v5/pgxpool"),
			breaches(module+"/faultsuite/verdict", "the server side of the API, or the database driver", module+"/api")...),
		"workflows link neither db nor pgx": breaches(module+"/workflows", "database code in the workflows",
			module+"/db/gen", pgx+"/v5/pgconn", module+"/db"),
		"api imports neither activities nor worker": breaches(module+"/api", "the worker side in the api",
			module+"/activities", module+"/worker"),
	}
	for _, r := range rules() {
		require.NotEmpty(t, want[r.name], "%s: no made-up module breaks it", r.name)
		assert.Equal(t, want[r.name], r.violations(graph), r.name)
	}
}

// breaches is what violations says of pkg depending on each of deps, for why.
func breaches(pkg, why string, deps ...string) []string {
	out := make([]string, len(deps))
	for i, d := range deps {
		out[i] = fmt.Sprintf("%s depends on %s: %s", pkg, d, why)
	}
	return out
}
