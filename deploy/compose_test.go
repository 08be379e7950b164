package deploy

import (
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pyxisServices maps each service that runs the pyxis image to its subcommand and the
// variables that subcommand cannot start without (cmd/pyxis config.go, serve.go, main.go).
var pyxisServices = map[string]struct {
	subcommand string
	required   []string
}{
	"migrate":     {"migrate", []string{"DATABASE_URL"}},
	"worker":      {"worker", []string{"DATABASE_URL", "TEMPORAL_ADDRESS", "PYXIS_CODEC_KEYS"}},
	"api":         {"api", []string{"DATABASE_URL", "TEMPORAL_ADDRESS", "PYXIS_JWT_SECRET", "PYXIS_CODEC_KEYS", "PYXIS_MLLP_ADDR"}},
	"cabinet-sim": {"cabinet-sim", nil},
}

// oneShots are the services that run to completion: each must exit 0 before its dependents
// start, and must not be restarted.
var oneShots = []string{"migrate", "temporal-namespace", "temporal-schema"}

func TestComposeServiceSet(t *testing.T) {
	cf := loadCompose(t, testEnv)
	want := []string{"api", "cabinet-sim", "migrate", "postgres", "temporal", "temporal-namespace", "temporal-schema", "temporal-ui", "worker"}
	got := slices.Sorted(maps.Keys(cf.Services))
	assert.Equal(t, want, got)
}

func TestComposeKeysAreKnown(t *testing.T) {
	cf := loadCompose(t, testEnv)
	for key := range cf.Other {
		assert.Truef(t, strings.HasPrefix(key, "x-") || slices.Contains(topLevelKeys, key),
			"top-level key %q is not in the Compose specification", key)
	}
	assert.NotContains(t, cf.Other, "version", "the version key is obsolete in the Compose specification")
	for name, svc := range cf.Services {
		for key := range svc.Other {
			assert.Truef(t, slices.Contains(serviceKeys, key), "service %s: unknown key %q", name, key)
		}
		if svc.Build != nil {
			assert.Emptyf(t, svc.Build.Other, "service %s: build keys beyond context and dockerfile", name)
		}
		if svc.Healthcheck != nil {
			for key := range svc.Healthcheck.Other {
				assert.Truef(t, key == "start_interval", "service %s: unknown healthcheck key %q", name, key)
			}
		}
		for dep, d := range svc.DependsOn {
			assert.Emptyf(t, d.Other, "service %s: depends_on %s: unknown keys", name, dep)
		}
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
	cf := loadCompose(t, testEnv)
	conditions := []string{"service_started", "service_healthy", "service_completed_successfully"}
	for name, svc := range cf.Services {
		for dep, d := range svc.DependsOn {
			target, ok := cf.Services[dep]
			if !assert.Truef(t, ok, "%s depends on %s, which is not a service", name, dep) {
				continue
			}
			assert.NotEqualf(t, name, dep, "%s depends on itself", name)
			assert.Containsf(t, conditions, d.Condition, "%s -> %s: condition", name, dep)
			switch d.Condition {
			case "service_healthy":
				assert.Truef(t, target.Healthcheck.usable(), "%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			case "service_completed_successfully":
				assert.Truef(t, target.oneShot(), "%s waits for %s to complete, but %s is restarted", name, dep, dep)
			}
			if d.Required != nil {
				assert.Truef(t, *d.Required, "%s -> %s: an optional dependency guarantees nothing", name, dep)
			}
		}
	}
	for _, w := range wantDependencies {
		t.Run(w.from+"->"+w.to, func(t *testing.T) {
			svc, ok := cf.Services[w.from]
			require.True(t, ok, "no service %s", w.from)
			require.Contains(t, svc.DependsOn, w.to)
			assert.Equal(t, w.condition, svc.DependsOn[w.to].Condition)
		})
	}
}

func TestComposeDependenciesAreAcyclic(t *testing.T) {
	cf := loadCompose(t, testEnv)
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(string) []string
	visit = func(name string) []string {
		switch state[name] {
		case visiting:
			return append(slices.Clone(path[slices.Index(path, name):]), name)
		case done:
			return nil
		}
		state[name] = visiting
		path = append(path, name)
		for _, dep := range slices.Sorted(maps.Keys(cf.Services[name].DependsOn)) {
			if cycle := visit(dep); cycle != nil {
				return cycle
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(cf.Services)) {
		cycle := visit(name)
		require.Nilf(t, cycle, "dependency cycle: %s", strings.Join(cycle, " -> "))
	}
}

func TestComposeRestartPolicies(t *testing.T) {
	cf := loadCompose(t, testEnv)
	policy := regexp.MustCompile(`^(always|unless-stopped|on-failure(:[1-9][0-9]*)?)$`)
	waitedOn := map[string]bool{}
	for _, svc := range cf.Services {
		for dep, d := range svc.DependsOn {
			if d.Condition == "service_completed_successfully" {
				waitedOn[dep] = true
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cf.Services)) {
		svc := cf.Services[name]
		t.Run(name, func(t *testing.T) {
			if slices.Contains(oneShots, name) {
				assert.Equal(t, scalar{Value: "no", Tag: "!!str"}, svc.Restart, `a one-shot needs restart: "no" (quoted)`)
				assert.True(t, waitedOn[name], "no service waits for this one-shot to complete")
				return
			}
			assert.Regexp(t, policy, svc.Restart.Value, "a long-running service needs a restart policy")
		})
	}
}

func TestComposePyxisServices(t *testing.T) {
	cf := loadCompose(t, testEnv)
	root := repoRoot(t)
	var built []string
	for name, svc := range cf.Services {
		if svc.Build != nil {
			built = append(built, name)
		}
	}
	require.ElementsMatch(t, slices.Collect(maps.Keys(pyxisServices)), built, "the services built from this repository")
	image := cf.Services["api"].Image
	require.NotEmpty(t, image)

	for name, want := range pyxisServices {
		svc := cf.Services[name]
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, filepath.Clean(root), filepath.Join(root, svc.Build.Context), "build context")
			dockerfile := svc.Build.Dockerfile
			if dockerfile == "" {
				dockerfile = "Dockerfile"
			}
			assert.Equal(t, filepath.Join(root, "Dockerfile"), filepath.Join(root, svc.Build.Context, dockerfile))
			assert.Equal(t, image, svc.Image, "every pyxis service tags and runs the same image")
			require.NotEmpty(t, svc.Command.Items)
			assert.Equal(t, want.subcommand, svc.Command.Items[0], "command, in exec form")
			assert.False(t, svc.Command.FromString, "command in exec (list) form")
			assert.Empty(t, svc.Entrypoint.Items, "the image's ENTRYPOINT /pyxis must stay")
			assert.True(t, svc.ReadOnly, "read_only root filesystem")
			assert.NotContains(t, []string{"0", "root"}, strings.Split(svc.User, ":")[0], "user")
			for _, env := range want.required {
				assert.NotEmptyf(t, svc.Environment[env], "%s is required by `pyxis %s`", env, want.subcommand)
			}
			if name != "cabinet-sim" { // a cabinet on the wire: no database of its own
				checkDatabaseURL(t, cf, svc.Environment["DATABASE_URL"])
			}
			if addr, ok := svc.Environment["TEMPORAL_ADDRESS"]; ok {
				host, port, err := net.SplitHostPort(addr)
				require.NoError(t, err, "TEMPORAL_ADDRESS")
				assert.Equal(t, "temporal", host, "TEMPORAL_ADDRESS names the temporal service")
				assert.Equal(t, "7233", port)
			}
		})
	}
	for name, svc := range cf.Services {
		if _, ok := pyxisServices[name]; !ok {
			assert.NotEqualf(t, image, svc.Image, "%s must not run the pyxis image", name)
		}
	}
}

// checkDatabaseURL checks a DATABASE_URL points at the postgres service's pyxis database.
func checkDatabaseURL(t *testing.T, cf composeFile, raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err, "DATABASE_URL")
	assert.Contains(t, []string{"postgres", "postgresql"}, u.Scheme)
	assert.Contains(t, cf.Services, u.Hostname(), "DATABASE_URL host is a compose service")
	assert.Equal(t, "5432", u.Port())
	assert.Equal(t, "/pyxis", u.Path, "the app's own database, not Temporal's")
	assert.Equal(t, "pyxis", u.User.Username(), "the app's own role, not the superuser")
}

func TestComposeRequiresJWTSecret(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "docker-compose.yaml"))
	require.NoError(t, err)
	_, err = parseCompose(data, map[string]string{"PYXIS_CODEC_KEYS": testEnv["PYXIS_CODEC_KEYS"]})
	require.Error(t, err, "compose must refuse to start without PYXIS_JWT_SECRET")
	assert.Contains(t, err.Error(), "PYXIS_JWT_SECRET")
	_, err = parseCompose(data, map[string]string{"PYXIS_JWT_SECRET": strings.Repeat("k", 40)})
	require.Error(t, err, "compose must refuse to start without PYXIS_CODEC_KEYS: patient data would reach Temporal in plain text")
	assert.Contains(t, err.Error(), "PYXIS_CODEC_KEYS")

	secret := strings.Repeat("k", 40)
	cf, err := parseCompose(data, map[string]string{"PYXIS_JWT_SECRET": secret, "PYXIS_CODEC_KEYS": testEnv["PYXIS_CODEC_KEYS"]})
	require.NoError(t, err)
	assert.Equal(t, secret, cf.Services["api"].Environment["PYXIS_JWT_SECRET"])
	for name, svc := range cf.Services {
		if name != "api" {
			assert.NotContainsf(t, svc.Environment, "PYXIS_JWT_SECRET", "only the api signs tokens; %s must not see the secret", name)
		}
	}
}

func TestComposeAPIHealthcheck(t *testing.T) {
	cf := loadCompose(t, testEnv)
	api := cf.Services["api"]
	require.True(t, api.Healthcheck.usable(), "api healthcheck")
	test := api.Healthcheck.Test.Items
	// The image is distroless (no shell, no curl): the check must exec the binary itself.
	require.Len(t, test, 4)
	assert.Equal(t, []string{"CMD", "/pyxis", "healthcheck"}, test[:3])
	u, err := url.Parse(test[3])
	require.NoError(t, err)
	assert.Equal(t, "http", u.Scheme)
	assert.Contains(t, []string{"localhost", "127.0.0.1"}, u.Hostname())
	assert.Equal(t, "/readyz", u.Path)
	_, listenPort, err := net.SplitHostPort(api.Environment["PYXIS_HTTP_ADDR"])
	require.NoError(t, err, "PYXIS_HTTP_ADDR")
	assert.Equal(t, listenPort, u.Port(), "the healthcheck asks the port the api listens on")
	require.NotEmpty(t, api.Ports)
	assert.Equal(t, listenPort, api.Ports[0].Target, "the published port reaches the api")
}

func TestComposePublishedPorts(t *testing.T) {
	cf := loadCompose(t, testEnv)
	type binding struct {
		service, ip, proto string
		port               int
	}
	var all []binding
	for _, name := range slices.Sorted(maps.Keys(cf.Services)) {
		for _, p := range cf.Services[name].Ports {
			require.NotEmptyf(t, p.Published, "%s: publish a fixed host port, not a random one", name)
			for _, port := range p.Published {
				proto := p.Protocol
				if proto == "" {
					proto = "tcp"
				}
				all = append(all, binding{name, p.HostIP, proto, port})
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
	// Temporal's gRPC and Web UI have no authentication here: loopback only. Postgres is not
	// published at all.
	for _, b := range all {
		switch b.service {
		case "temporal", "temporal-ui":
			assert.Truef(t, net.ParseIP(b.ip) != nil && net.ParseIP(b.ip).IsLoopback(), "%s port %d must bind a loopback address", b.service, b.port)
		case "postgres":
			t.Errorf("postgres publishes port %d", b.port)
		}
	}
	published := map[string][]int{}
	for _, b := range all {
		published[b.service] = append(published[b.service], b.port)
	}
	assert.Equal(t, map[string][]int{"api": {8080, 2575}, "cabinet-sim": {2577}, "temporal": {7233}, "temporal-ui": {8233}}, published)
}

func TestComposeImagesPinned(t *testing.T) {
	cf := loadCompose(t, testEnv)
	tags := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(cf.Services)) {
		svc := cf.Services[name]
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
	// `pyxis dev` embeds (go.temporal.io/server in go.mod) in major.minor.
	assert.Equal(t, tags["temporalio/server"], tags["temporalio/admin-tools"], "admin-tools and server versions")
	serverVersion := goModVersion(t, "go.temporal.io/server")
	assert.Equal(t, majorMinor(serverVersion), majorMinor(tags["temporalio/server"]), "temporalio/server vs go.mod's go.temporal.io/server %s", serverVersion)
}

// splitImage splits an image reference into repository and tag (the tag may be empty).
func splitImage(ref string) (repo, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, ""
}

func TestComposeVolumes(t *testing.T) {
	cf := loadCompose(t, testEnv)
	root := repoRoot(t)
	used := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(cf.Services)) {
		for _, m := range cf.Services[name].Volumes {
			switch {
			case m.Source == "":
				t.Errorf("%s: anonymous volume at %s: its data is lost on `compose down`", name, m.Target)
			case m.bind():
				src := filepath.Join(root, m.Source)
				assert.Truef(t, strings.HasPrefix(src, root+string(filepath.Separator)), "%s: bind mount %s leaves the repository", name, m.Source)
				_, err := os.Stat(src)
				assert.NoErrorf(t, err, "%s: bind-mounted path %s", name, m.Source)
			default:
				used[m.Source] = true
				assert.Containsf(t, cf.Volumes, m.Source, "%s: named volume %s is not declared", name, m.Source)
			}
		}
	}
	for v := range cf.Volumes {
		assert.Truef(t, used[v], "volume %s is declared but unused", v)
	}
}

// goModVersion returns the version go.mod gives path: a module's required version, or for
// "go" the go directive's.
func goModVersion(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	require.NoError(t, err)
	pattern := `(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(path) + `\s+(\S+)`
	m := regexp.MustCompile(pattern).FindSubmatch(data)
	require.NotNilf(t, m, "go.mod has no line for %s", path)
	return string(m[1])
}

// majorMinor returns "1.26" for "1.26.8", "v1.26.8" or "1.26".
func majorMinor(version string) string {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return version
	}
	return parts[0] + "." + parts[1]
}

// Property names of the Compose specification (compose-spec/schema/compose-spec.json).
var topLevelKeys = []string{"version", "name", "include", "services", "models", "networks", "volumes", "secrets", "configs"}

var serviceKeys = []string{
	"annotations", "attach", "blkio_config", "cap_add", "cap_drop", "cgroup", "cgroup_parent",
	"configs", "container_name", "cpu_count", "cpu_percent", "cpu_shares", "cpu_quota",
	"cpu_period", "cpu_rt_period", "cpu_rt_runtime", "cpus", "cpuset", "credential_spec",
	"deploy", "develop", "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search",
	"domainname", "env_file", "expose", "extends", "external_links", "extra_hosts", "gpus",
	"group_add", "hostname", "init", "ipc", "isolation", "label_file", "labels", "links",
	"logging", "mac_address", "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit",
	"models", "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid",
	"pids_limit", "platform", "post_start", "pre_stop", "privileged", "profiles", "provider",
	"pull_policy", "pull_refresh_after", "runtime", "scale", "secrets", "security_opt",
	"shm_size", "stdin_open", "stop_grace_period", "stop_signal", "storage_opt", "sysctls",
	"tmpfs", "tty", "ulimits", "use_api_socket", "userns_mode", "uts", "volumes_from",
	"working_dir",
}
