package deploy

import (
	"context"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// composeEnv is the environment docker-compose.yaml is interpolated with: only what it requires.
var composeEnv = map[string]string{
	"PYXIS_JWT_SECRET":      strings.Repeat("s", 32),
	"PYXIS_CODEC_KEYS":      "k1:" + strings.Repeat("A", 43) + "=",
	"PYXIS_SVC_DB_PASSWORD": "svc-test-password",
}

// parseCompose loads a compose file the way docker compose does, with compose-go's loader:
// schema validation (unknown keys are errors), interpolation from env and nothing else (no
// .env file, no process environment), normalisation, and the consistency checks (undefined
// services, networks or volumes, dependency cycles). env is copied: the loader adds to it.
func parseCompose(root string, content []byte, env map[string]string) (*types.Project, error) {
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yaml"), Content: content}},
		Environment: maps.Clone(env),
	})
}

// loadCompose loads the repository's docker-compose.yaml, interpolated with env.
func loadCompose(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	p, err := parseCompose(repoRoot(t), nil, env)
	require.NoError(t, err)
	require.NotEmpty(t, p.Services, "no services loaded")
	return p
}

// envOf returns a service's environment variable ("" when unset or without a value).
func envOf(svc types.ServiceConfig, name string) string {
	if v := svc.Environment[name]; v != nil {
		return *v
	}
	return ""
}

// healthy reports whether Docker will actually run the service's health check.
func healthy(svc types.ServiceConfig) bool {
	h := svc.HealthCheck
	return h != nil && !h.Disable && len(h.Test) > 0 && h.Test[0] != "NONE"
}

// oneShot reports whether the service is meant to run to completion and stay stopped.
func oneShot(svc types.ServiceConfig) bool { return svc.Restart == types.RestartPolicyNo }

// pyxisServices maps each service built from this repository to its subcommand, the
// variables that subcommand cannot start without (service/config.go, service/serve.go) and the
// database role it connects as ("" for none); dev marks the one that runs the development
// tool's image (the Dockerfile's dev target) instead of the production image.
var pyxisServices = map[string]struct {
	subcommand string
	required   []string
	dbUser     string
	dev        bool
}{
	"migrate":     {"migrate", []string{"DATABASE_URL"}, "pyxis", false},
	"worker":      {"worker", []string{"DATABASE_URL", "TEMPORAL_ADDRESS", "PYXIS_CODEC_KEYS"}, "pyxis_svc", false},
	"api":         {"api", []string{"DATABASE_URL", "TEMPORAL_ADDRESS", "PYXIS_JWT_SECRET", "PYXIS_CODEC_KEYS", "PYXIS_MLLP_ADDR"}, "pyxis_svc", false},
	"cabinet-sim": {"cabinet-sim", nil, "", true},
}

// oneShots are the services that run to completion: each must exit 0 before its dependents
// start, and must not be restarted.
var oneShots = []string{"migrate", "temporal-namespace", "temporal-schema"}

func TestComposeServiceSet(t *testing.T) {
	p := loadCompose(t, composeEnv)
	want := []string{"api", "cabinet-sim", "migrate", "postgres", "temporal", "temporal-namespace", "temporal-schema", "temporal-ui", "worker"}
	assert.Equal(t, want, slices.Sorted(maps.Keys(p.Services)))
	assert.Equal(t, "pyxis", p.Name)
}

// TestComposeLoaderRefuses shows the loader is strict where the hand-written parser it
// replaced had to be: each case breaks a copy of the file in one place.
func TestComposeLoaderRefuses(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "docker-compose.yaml"))
	require.NoError(t, err)
	text := string(data)
	tests := []struct {
		name, old, new, err string
	}{
		{"unknown service key", "\n  migrate:\n", "\n  migrate:\n    depend_on: [postgres]\n", "depend_on"},
		{"unknown top-level key", "\nvolumes:\n", "\nvolume:\n  x: {}\nvolumes:\n", "volume"},
		{"undefined dependency", "      api:\n        condition: service_healthy\n", "      apii:\n        condition: service_healthy\n", "apii"},
		{"undeclared volume", "- pgdata:/var/lib/postgresql/data", "- pgdta:/var/lib/postgresql/data", "pgdta"},
		{"dependency cycle", "  temporal-schema:\n    image: temporalio/admin-tools:1.32.0\n    depends_on:\n",
			"  temporal-schema:\n    image: temporalio/admin-tools:1.32.0\n    depends_on:\n      temporal:\n        condition: service_started\n", "cycle"},
		{"bad condition", "temporal-schema:\n        condition: service_completed_successfully", "temporal-schema:\n        condition: service_done", "condition value must be one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, 1, strings.Count(text, tt.old), "the case must change exactly one place")
			_, err := parseCompose(root, []byte(strings.Replace(text, tt.old, tt.new, 1)), composeEnv)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
}

// wantDependencies are the start-order guarantees the system relies on.
var wantDependencies = []struct{ from, to, condition string }{
	{"temporal-schema", "postgres", "service_healthy"},
	{"temporal", "temporal-schema", "service_completed_successfully"},
	{"temporal-namespace", "temporal", "service_healthy"},
	{"temporal-ui", "temporal", "service_healthy"},
	{"migrate", "postgres", "service_healthy"},
	{"worker", "temporal", "service_healthy"},
	{"worker", "temporal-namespace", "service_completed_successfully"},
	{"worker", "migrate", "service_completed_successfully"},
	{"api", "temporal", "service_healthy"},
	{"api", "temporal-namespace", "service_completed_successfully"},
	{"api", "migrate", "service_completed_successfully"},
	{"cabinet-sim", "api", "service_healthy"},
}

func TestComposeDependsOn(t *testing.T) {
	p := loadCompose(t, composeEnv)
	// The loader has refused undefined services, unknown conditions and cycles already.
	for name, svc := range p.Services {
		for dep, d := range svc.DependsOn {
			target := p.Services[dep]
			switch d.Condition {
			case types.ServiceConditionHealthy:
				assert.Truef(t, healthy(target), "%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			case types.ServiceConditionCompletedSuccessfully:
				assert.Truef(t, oneShot(target), "%s waits for %s to complete, but %s is restarted", name, dep, dep)
			}
			assert.Truef(t, d.Required, "%s -> %s: an optional dependency guarantees nothing", name, dep)
		}
	}
	for _, w := range wantDependencies {
		t.Run(w.from+"->"+w.to, func(t *testing.T) {
			svc, ok := p.Services[w.from]
			require.True(t, ok, "no service %s", w.from)
			require.Contains(t, svc.DependsOn, w.to)
			assert.Equal(t, w.condition, svc.DependsOn[w.to].Condition)
		})
	}
}

func TestComposeRestartPolicies(t *testing.T) {
	p := loadCompose(t, composeEnv)
	policy := regexp.MustCompile(`^(always|unless-stopped|on-failure(:[1-9][0-9]*)?)$`)
	waitedOn := map[string]bool{}
	for _, svc := range p.Services {
		for dep, d := range svc.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				waitedOn[dep] = true
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		svc := p.Services[name]
		t.Run(name, func(t *testing.T) {
			if slices.Contains(oneShots, name) {
				assert.Equal(t, types.RestartPolicyNo, svc.Restart, "a one-shot is never restarted")
				assert.True(t, waitedOn[name], "no service waits for this one-shot to complete")
				return
			}
			assert.Regexp(t, policy, svc.Restart, "a long-running service needs a restart policy")
		})
	}
}

func TestComposePyxisServices(t *testing.T) {
	p := loadCompose(t, composeEnv)
	root := repoRoot(t)
	require.ElementsMatch(t, slices.Collect(maps.Keys(pyxisServices)), p.ServicesWithBuild(), "the services built from this repository")
	image, devImage := p.Services["api"].Image, p.Services["cabinet-sim"].Image
	require.NotEmpty(t, image)
	require.NotEqual(t, image, devImage, "the development tool has an image of its own")

	for name, want := range pyxisServices {
		svc := p.Services[name]
		t.Run(name, func(t *testing.T) {
			require.NotNil(t, svc.Build)
			assert.Equal(t, root, svc.Build.Context, "build context")
			assert.Equal(t, "Dockerfile", svc.Build.Dockerfile)
			assert.FileExists(t, filepath.Join(svc.Build.Context, svc.Build.Dockerfile))
			if want.dev {
				assert.Equal(t, "dev", svc.Build.Target, "the Dockerfile's dev target")
				assert.Equal(t, devImage, svc.Image)
			} else {
				assert.Empty(t, svc.Build.Target, "the default target: the production image")
				assert.Equal(t, image, svc.Image, "every production service tags and runs the same image")
			}
			require.NotEmpty(t, svc.Command)
			assert.Equal(t, want.subcommand, svc.Command[0], "command")
			assert.Empty(t, svc.Entrypoint, "the image's ENTRYPOINT (/pyxis, /pyxis-dev) must stay")
			assert.True(t, svc.ReadOnly, "read_only root filesystem")
			assert.NotContains(t, []string{"", "0", "root"}, strings.Split(svc.User, ":")[0], "user")
			assert.Equal(t, []string{"ALL"}, svc.CapDrop, "cap_drop")
			assert.Contains(t, svc.SecurityOpt, "no-new-privileges:true")
			for _, env := range want.required {
				assert.NotEmptyf(t, envOf(svc, env), "%s is required by `pyxis %s`", env, want.subcommand)
			}
			if want.dbUser == "" { // a cabinet on the wire: no database of its own
				assert.NotContains(t, svc.Environment, "DATABASE_URL")
			} else {
				checkDatabaseURL(t, p, envOf(svc, "DATABASE_URL"), want.dbUser)
			}
			if addr := envOf(svc, "TEMPORAL_ADDRESS"); addr != "" {
				host, port, err := net.SplitHostPort(addr)
				require.NoError(t, err, "TEMPORAL_ADDRESS")
				assert.Equal(t, "temporal", host, "TEMPORAL_ADDRESS names the temporal service")
				assert.Equal(t, "7233", port)
			}
		})
	}
	for name, svc := range p.Services {
		if _, ok := pyxisServices[name]; !ok {
			assert.NotEqualf(t, image, svc.Image, "%s must not run the pyxis image", name)
			assert.NotEqualf(t, devImage, svc.Image, "%s must not run the pyxis-dev image", name)
		}
	}
}

// checkDatabaseURL checks a DATABASE_URL points at the postgres service's pyxis database as
// the given role.
func checkDatabaseURL(t *testing.T, p *types.Project, raw, user string) {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err, "DATABASE_URL")
	assert.Contains(t, []string{"postgres", "postgresql"}, u.Scheme)
	assert.Contains(t, p.Services, u.Hostname(), "DATABASE_URL host is a compose service")
	assert.Equal(t, "5432", u.Port())
	assert.Equal(t, "/pyxis", u.Path, "the app's own database, not Temporal's")
	assert.Equal(t, user, u.User.Username(), "the database role")
}

func TestComposeRequiredVariables(t *testing.T) {
	root := repoRoot(t)
	for _, name := range slices.Sorted(maps.Keys(composeEnv)) {
		t.Run(name, func(t *testing.T) {
			for _, value := range []string{"", "unset"} {
				env := maps.Clone(composeEnv)
				if value == "" {
					env[name] = ""
				} else {
					delete(env, name)
				}
				_, err := parseCompose(root, nil, env)
				require.Errorf(t, err, "compose must refuse to start with %s %s", name, value)
				assert.Contains(t, err.Error(), "required variable "+name)
			}
		})
	}

	p := loadCompose(t, composeEnv)
	assert.Equal(t, composeEnv["PYXIS_JWT_SECRET"], envOf(p.Services["api"], "PYXIS_JWT_SECRET"))
	for name, svc := range p.Services {
		if name != "api" {
			assert.NotContainsf(t, svc.Environment, "PYXIS_JWT_SECRET", "only the api signs tokens; %s must not see the secret", name)
		}
	}
	for _, name := range []string{"api", "worker"} {
		assert.Equal(t, composeEnv["PYXIS_CODEC_KEYS"], envOf(p.Services[name], "PYXIS_CODEC_KEYS"), "%s encrypts with the same keys", name)
	}
}

// The api's and the worker's health checks ask their own readiness endpoints: the api's on
// its HTTP port, the worker's on its metrics and health port (PYXIS_METRICS_ADDR).
func TestComposeHealthchecks(t *testing.T) {
	p := loadCompose(t, composeEnv)
	for _, tc := range []struct{ service, addrVar string }{
		{"api", "PYXIS_HTTP_ADDR"},
		{"worker", "PYXIS_METRICS_ADDR"},
	} {
		t.Run(tc.service, func(t *testing.T) {
			svc := p.Services[tc.service]
			require.True(t, healthy(svc), "%s healthcheck", tc.service)
			test := svc.HealthCheck.Test
			// The image is distroless (no shell, no curl): the check must exec the binary itself.
			require.Len(t, test, 4)
			assert.Equal(t, []string{"CMD", "/pyxis", "healthcheck"}, []string(test[:3]))
			u, err := url.Parse(test[3])
			require.NoError(t, err)
			assert.Equal(t, "http", u.Scheme)
			assert.Contains(t, []string{"localhost", "127.0.0.1"}, u.Hostname())
			assert.Equal(t, "/readyz", u.Path)
			_, listenPort, err := net.SplitHostPort(envOf(svc, tc.addrVar))
			require.NoError(t, err, tc.addrVar)
			assert.Equal(t, listenPort, u.Port(), "the healthcheck asks the port %s listens on", tc.service)
			assert.NotNil(t, svc.HealthCheck.StartPeriod, "the first checks wait for the connections to Postgres and Temporal")
		})
	}
	api := p.Services["api"]
	_, apiPort, err := net.SplitHostPort(envOf(api, "PYXIS_HTTP_ADDR"))
	require.NoError(t, err)
	require.NotEmpty(t, api.Ports)
	assert.Equal(t, apiPort, strconv.Itoa(int(api.Ports[0].Target)), "the published port reaches the api")
	assert.Empty(t, p.Services["worker"].Ports, "the worker's metrics are for Prometheus on the compose network, not published")
}

func TestComposePublishedPorts(t *testing.T) {
	p := loadCompose(t, composeEnv)
	type binding struct {
		service, ip, proto string
		port               int
	}
	var all []binding
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		for _, port := range p.Services[name].Ports {
			require.NotEmptyf(t, port.Published, "%s: publish a fixed host port, not a random one", name)
			lo, hi, isRange := strings.Cut(port.Published, "-")
			if !isRange {
				hi = lo
			}
			from, err1 := strconv.Atoi(lo)
			to, err2 := strconv.Atoi(hi)
			require.NoError(t, err1)
			require.NoError(t, err2)
			for n := from; n <= to; n++ {
				all = append(all, binding{name, port.HostIP, cmpOr(port.Protocol, "tcp"), n})
			}
		}
	}
	wildcard := func(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }
	for i, a := range all {
		for _, b := range all[i+1:] {
			clash := a.proto == b.proto && a.port == b.port && (a.ip == b.ip || wildcard(a.ip) || wildcard(b.ip))
			assert.Falsef(t, clash, "%s and %s both publish %s port %d", a.service, b.service, a.proto, a.port)
		}
	}
	// Every published port binds loopback (issue 17): Temporal's gRPC and Web UI have no
	// authentication here, and the api's HTTP and MLLP are plaintext. Postgres is not
	// published at all.
	published := map[string][]int{}
	for _, b := range all {
		assert.Truef(t, net.ParseIP(b.ip) != nil && net.ParseIP(b.ip).IsLoopback(), "%s port %d must bind a loopback address", b.service, b.port)
		published[b.service] = append(published[b.service], b.port)
	}
	assert.Equal(t, map[string][]int{"api": {8080, 2575}, "cabinet-sim": {2577}, "temporal": {7233}, "temporal-ui": {8233}}, published)
}

// cmpOr returns s, or def when s is empty.
func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestComposeImagesPinned(t *testing.T) {
	p := loadCompose(t, composeEnv)
	tags := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		svc := p.Services[name]
		t.Run(name, func(t *testing.T) {
			require.NotEmpty(t, svc.Image, "every service names its image")
			repo, tag := splitImage(svc.Image)
			if strings.Contains(svc.Image, "@sha256:") {
				return // pinned by digest
			}
			require.NotEmptyf(t, tag, "%s has no tag: it means :latest", svc.Image)
			assert.NotEqual(t, "latest", tag)
			if svc.Build == nil {
				assert.Regexp(t, `^v?[0-9]+(\.[0-9]+)*([-_.][A-Za-z0-9.-]+)?$`, tag, "a pulled image needs a version tag")
			}
			tags[repo] = tag
		})
	}
	// temporal-sql-tool's embedded schemas must be the server's; the server matches the one
	// `pyxis-dev` embeds (go.temporal.io/server in go.mod) in major.minor.
	assert.Equal(t, tags["temporalio/server"], tags["temporalio/admin-tools"], "admin-tools and server versions")
	serverVersion := goModVersion(t, "go.temporal.io/server")
	assert.Equal(t, majorMinor(serverVersion), majorMinor(tags["temporalio/server"]), "temporalio/server vs go.mod's go.temporal.io/server %s", serverVersion)
}

func TestComposeVolumes(t *testing.T) {
	p := loadCompose(t, composeEnv)
	root := repoRoot(t)
	used := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		for _, m := range p.Services[name].Volumes {
			switch {
			case m.Type == types.VolumeTypeBind:
				// The loader resolved the source against the project directory.
				assert.Truef(t, strings.HasPrefix(m.Source, root+string(filepath.Separator)), "%s: bind mount %s leaves the repository", name, m.Source)
				_, err := os.Stat(m.Source)
				assert.NoErrorf(t, err, "%s: bind-mounted path %s", name, m.Source)
				assert.Truef(t, m.ReadOnly, "%s: bind mount %s should be read-only", name, m.Source)
			case m.Type == types.VolumeTypeVolume && m.Source == "":
				t.Errorf("%s: anonymous volume at %s: its data is lost on `compose down`", name, m.Target)
			case m.Type == types.VolumeTypeVolume:
				used[m.Source] = true // declared: the loader checks that
			default:
				t.Errorf("%s: volume of type %s at %s", name, m.Type, m.Target)
			}
		}
	}
	for v := range p.Volumes {
		assert.Truef(t, used[v], "volume %s is declared but unused", v)
	}
}
