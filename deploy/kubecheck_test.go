package deploy

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The checks of rendered Kubernetes manifests. Each returns what is wrong as sentences rather
// than failing a test, so that the same checks run on the real manifests (no problem
// allowed) and on broken copies (the expected problem must be found).

// problems collects what the checks find.
type problems []string

func (p *problems) addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// expectation is what differs between the base and an overlay.
type expectation struct {
	namespace    string
	replicas     map[string]int32 // Deployment name -> replicas
	minAvailable int
	mllpExposed  bool // the MLLP Service is a load balancer for the cabinets' network
	cabinetSim   bool // the simulated cabinet runs in the namespace
	hs256        bool // PYXIS_AUTH=hs256: the api reads PYXIS_JWT_SECRET (else jwks)
}

// workload is what a pyxis workload must look like.
type workload struct {
	kind, name, container, subcommand string
	// port serves /healthz and /readyz (0: a Job, no probes).
	port int32
	// needs are the variables the subcommand cannot run without (service/config.go).
	needs []string
	// secrets are the variables that come from a Secret, as "secret/key"; no other may.
	secrets map[string]string
	// minGrace is the least terminationGracePeriodSeconds for a graceful stop.
	minGrace int64
}

var pyxisWorkloads = []workload{
	{
		kind: "Deployment", name: "pyxis-api", container: "api", subcommand: "api", port: 8080,
		needs:    []string{"DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "PYXIS_HTTP_ADDR", "PYXIS_MLLP_ADDR", "PYXIS_AUTH", "PYXIS_CODEC_KEYS"},
		secrets:  map[string]string{"DATABASE_URL": "pyxis-secrets/DATABASE_URL", "PYXIS_CODEC_KEYS": "pyxis-secrets/PYXIS_CODEC_KEYS"},
		minGrace: 40, // and at least the shutdown delay and timeout (checkShutdownBound)
	},
	{
		kind: "Deployment", name: "pyxis-worker", container: "worker", subcommand: "worker", port: 9090,
		needs:    []string{"DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "PYXIS_CODEC_KEYS", "PYXIS_METRICS_ADDR"},
		secrets:  map[string]string{"DATABASE_URL": "pyxis-secrets/DATABASE_URL", "PYXIS_CODEC_KEYS": "pyxis-secrets/PYXIS_CODEC_KEYS"},
		minGrace: 45, // and at least the shutdown timeout (checkShutdownBound)
	},
	{
		kind: "Job", name: "pyxis-migrate", container: "migrate", subcommand: "migrate",
		needs:   []string{"DATABASE_URL"},
		secrets: map[string]string{"DATABASE_URL": "pyxis-db-owner/DATABASE_URL_OWNER"},
	},
}

// workloads returns the pyxis workloads as e renders them: with PYXIS_AUTH=jwks (the base)
// the api verifies the provider's tokens and needs its JWKS; with hs256 (the dev overlay) it
// needs the secret, from pyxis-secrets, and nothing else reads it.
func workloads(e expectation) []workload {
	out := slices.Clone(pyxisWorkloads)
	for i, w := range out {
		if w.name != "pyxis-api" {
			continue
		}
		w.secrets = maps.Clone(w.secrets)
		if e.hs256 {
			w.needs = append(slices.Clone(w.needs), "PYXIS_JWT_SECRET")
			w.secrets["PYXIS_JWT_SECRET"] = "pyxis-secrets/PYXIS_JWT_SECRET"
		} else {
			w.needs = append(slices.Clone(w.needs), "PYXIS_JWKS_URL", "PYXIS_JWT_ISSUER", "PYXIS_JWT_AUDIENCE")
		}
		out[i] = w
	}
	return out
}

// secretNames are variables that must never sit in a ConfigMap.
var secretNames = []string{"DATABASE_URL", "DATABASE_URL_OWNER", "PYXIS_JWT_SECRET", "PYXIS_CODEC_KEYS"}

// manifests indexes rendered objects.
type manifests []object

func (m manifests) find(kind, name string) (object, bool) {
	i := slices.IndexFunc(m, func(o object) bool { return o.Kind == kind && o.meta().Name == name })
	if i < 0 {
		return object{}, false
	}
	return m[i], true
}

func (m manifests) all(kind string) []object {
	var out []object
	for _, o := range m {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// selects reports whether a label selector selects a set of labels (a nil selector: nothing).
func selects(sel *metav1.LabelSelector, set map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(set))
}

// checkManifests runs every check on a rendered set of objects.
func checkManifests(m manifests, e expectation) []string {
	var p problems
	seen := map[string]bool{}
	for _, o := range m {
		key := o.Kind + "/" + o.meta().Name
		if seen[key] {
			p.addf("%s is declared twice", o)
		}
		seen[key] = true
		if o.meta().Labels["app.kubernetes.io/part-of"] != "pyxis" {
			p.addf("%s: label app.kubernetes.io/part-of=pyxis missing", o)
		}
		if kinds[o.Kind].namespaced && o.meta().Namespace != e.namespace {
			p.addf("%s: namespace %q, want %q", o, o.meta().Namespace, e.namespace)
		}
	}
	if e.namespace != "" {
		if _, ok := m.find("Namespace", e.namespace); !ok {
			p.addf("no Namespace %s", e.namespace)
		}
	}
	checkConfigMaps(m, &p)
	var image string
	for _, w := range workloads(e) {
		o, ok := m.find(w.kind, w.name)
		if !ok {
			p.addf("no %s %s", w.kind, w.name)
			continue
		}
		c := checkPod(m, o, w, &p)
		if c == nil {
			continue
		}
		if image == "" {
			image = c.Image
		} else if c.Image != image {
			p.addf("%s runs %s, the others %s: one image for every pyxis workload", o, c.Image, image)
		}
	}
	_, tag := splitImage(image)
	if !strings.Contains(image, "@sha256:") && (tag == "" || tag == "latest") {
		p.addf("pyxis image %q: pin a tag (kustomization images) or a digest", image)
	}
	for _, o := range m.all("Deployment") {
		d := o.Obj.(*appsv1.Deployment)
		want, ok := e.replicas[d.Name]
		switch {
		case !ok:
			p.addf("%s: unexpected Deployment", o)
		case d.Spec.Replicas == nil || *d.Spec.Replicas != want:
			p.addf("%s: replicas %v, want %d", o, d.Spec.Replicas, want)
		}
		if d.Spec.Selector == nil || len(d.Spec.Selector.MatchExpressions) > 0 || !selects(d.Spec.Selector, d.Spec.Template.Labels) {
			p.addf("%s: spec.selector must be matchLabels that the pod template carries", o)
		}
	}
	for _, o := range m.all("Job") {
		j := o.Obj.(*batchv1.Job)
		if rp := j.Spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyNever && rp != corev1.RestartPolicyOnFailure {
			p.addf("%s: restartPolicy %q", o, rp)
		}
		if j.Spec.BackoffLimit == nil || j.Spec.ActiveDeadlineSeconds == nil {
			p.addf("%s: set backoffLimit and activeDeadlineSeconds, or a failing migration retries forever", o)
		}
	}
	checkServices(m, e, &p)
	checkPDBs(m, e, &p)
	checkNetworkPolicies(m, e, &p)
	if e.cabinetSim {
		checkCabinetSim(m, &p)
	}
	return p
}

// checkConfigMaps checks the shared settings.
func checkConfigMaps(m manifests, p *problems) {
	for _, o := range m.all("ConfigMap") {
		for _, s := range secretNames {
			if _, ok := o.Obj.(*corev1.ConfigMap).Data[s]; ok {
				p.addf("%s holds %s: secrets belong in a Secret", o, s)
			}
		}
	}
	o, ok := m.find("ConfigMap", "pyxis-config")
	if !ok {
		p.addf("no ConfigMap pyxis-config")
		return
	}
	data := o.Obj.(*corev1.ConfigMap).Data
	// The binary's MLLP listener binds the loopback interface by default: the Service
	// reaches the pod's address, so the manifest must say where to listen.
	if data["PYXIS_MLLP_ADDR"] != "0.0.0.0:2575" {
		p.addf("%s: PYXIS_MLLP_ADDR=%q, want 0.0.0.0:2575", o, data["PYXIS_MLLP_ADDR"])
	}
	if _, _, err := net.SplitHostPort(data["TEMPORAL_ADDRESS"]); err != nil {
		p.addf("%s: TEMPORAL_ADDRESS %q: want host:port", o, data["TEMPORAL_ADDRESS"])
	}
	if data["PYXIS_LOG_FORMAT"] != "json" {
		p.addf("%s: PYXIS_LOG_FORMAT=%q: platform log pipelines want json", o, data["PYXIS_LOG_FORMAT"])
	}
}

// checkPod checks a pyxis workload's pod and returns its container (nil if missing).
func checkPod(m manifests, o object, w workload, p *problems) *corev1.Container {
	spec := podTemplate(o).Spec
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		p.addf("%s: automountServiceAccountToken must be false: pyxis never calls the Kubernetes API", o)
	}
	if sa := spec.ServiceAccountName; sa != "" {
		if _, ok := m.find("ServiceAccount", sa); !ok {
			p.addf("%s: ServiceAccount %s is not declared", o, sa)
		}
	}
	if len(spec.Containers) != 1 || spec.Containers[0].Name != w.container {
		p.addf("%s: want exactly one container, named %s", o, w.container)
		return nil
	}
	c := &spec.Containers[0]
	if len(c.Command) > 0 || len(c.Args) == 0 || c.Args[0] != w.subcommand {
		p.addf("%s: args must start with the subcommand %q and command stay the image's /pyxis (got command %q args %q)", o, w.subcommand, c.Command, c.Args)
	}
	checkSecurity(o, spec, c, p)
	checkResources(o, c, p)
	mounts := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = true
		if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name }) {
			p.addf("%s: volumeMount %s names no volume", o, vm.Name)
		}
	}
	if !mounts["/tmp"] {
		p.addf("%s: mount a writable /tmp (emptyDir): the root filesystem is read-only", o)
	}
	env := checkEnv(m, o, c, w, p)
	if w.port != 0 {
		checkProbes(o, c, w, p)
		if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds < w.minGrace {
			p.addf("%s: terminationGracePeriodSeconds must be at least %d for a graceful stop", o, w.minGrace)
		}
	}
	listen := map[string]string{"api": "PYXIS_HTTP_ADDR", "worker": "PYXIS_METRICS_ADDR"}
	if name, ok := listen[w.subcommand]; ok {
		checkListen(o, c, name, env[name], w.port, p)
	}
	if w.subcommand == "api" {
		checkListen(o, c, "PYXIS_MLLP_ADDR", env["PYXIS_MLLP_ADDR"], 2575, p)
	}
	if w.port != 0 && spec.TerminationGracePeriodSeconds != nil {
		checkShutdownBound(o, w, env, *spec.TerminationGracePeriodSeconds, p)
	}
	if a := podTemplate(o).Annotations; a["prometheus.io/scrape"] == "true" {
		port, err := strconv.Atoi(a["prometheus.io/port"])
		if err != nil || !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return int(cp.ContainerPort) == port }) {
			p.addf("%s: prometheus.io/port %q is not a container port", o, a["prometheus.io/port"])
		}
		if a["prometheus.io/path"] != "/metrics" {
			p.addf("%s: prometheus.io/path %q", o, a["prometheus.io/path"])
		}
	}
	return c
}

// checkShutdownBound checks that Kubernetes waits for the graceful stop the environment
// asks for (docs/configuration.md; service/observability.go) before it kills the process:
// the api keeps serving PYXIS_SHUTDOWN_DELAY, then drains HTTP and MLLP within
// PYXIS_SHUTDOWN_TIMEOUT; the worker lets activities finish within PYXIS_SHUTDOWN_TIMEOUT.
// Five seconds are left for closing the Temporal client and the pool.
func checkShutdownBound(o object, w workload, env map[string]string, grace int64, p *problems) {
	dur := func(name string, def time.Duration) time.Duration {
		v, ok := env[name]
		if !ok {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			p.addf("%s: %s=%q is not a duration", o, name, v)
		}
		return d
	}
	bound := dur("PYXIS_SHUTDOWN_TIMEOUT", 25*time.Second)
	if w.subcommand == "api" {
		bound += dur("PYXIS_SHUTDOWN_DELAY", 0)
	}
	if need := bound + 5*time.Second; time.Duration(grace)*time.Second < need {
		p.addf("%s: terminationGracePeriodSeconds %d is shorter than the graceful stop it configures (%s)", o, grace, need)
	}
}

// checkSecurity checks the effective security context: the container's setting, else the pod's.
func checkSecurity(o object, spec corev1.PodSpec, c *corev1.Container, p *problems) {
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	nonRoot := cmpPtr(sc.RunAsNonRoot, psc.RunAsNonRoot)
	user := cmpPtr(sc.RunAsUser, psc.RunAsUser)
	seccomp := cmpPtr(sc.SeccompProfile, psc.SeccompProfile)
	switch {
	case nonRoot == nil || !*nonRoot:
		p.addf("%s: runAsNonRoot must be true", o)
	case user == nil || *user != 65532:
		p.addf("%s: runAsUser must be 65532, the image's nonroot user", o)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		p.addf("%s: readOnlyRootFilesystem must be true", o)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		p.addf("%s: allowPrivilegeEscalation must be false", o)
	case sc.Privileged != nil && *sc.Privileged:
		p.addf("%s: privileged", o)
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		p.addf("%s: capabilities must drop ALL and add none", o)
	case seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault:
		p.addf("%s: seccompProfile must be RuntimeDefault", o)
	}
}

// cmpPtr returns the first non-nil pointer.
func cmpPtr[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

// checkResources wants requests and limits of cpu and memory, limits at least the requests.
func checkResources(o object, c *corev1.Container, p *problems) {
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		if !okReq || !okLim || req.IsZero() || lim.IsZero() {
			p.addf("%s: resources.requests and limits of %s must be set", o, r)
		} else if lim.Cmp(req) < 0 {
			p.addf("%s: %s limit %s below its request %s", o, r, lim.String(), req.String())
		}
	}
}

// checkEnv resolves the container's environment against the ConfigMaps and Secrets and
// returns the values it can know (ConfigMap values; Secret values are "(secret)").
func checkEnv(m manifests, o object, c *corev1.Container, w workload, p *problems) map[string]string {
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, ok := m.find("ConfigMap", ef.ConfigMapRef.Name)
			if !ok {
				p.addf("%s: envFrom ConfigMap %s is not declared", o, ef.ConfigMapRef.Name)
				continue
			}
			maps.Copy(env, cm.Obj.(*corev1.ConfigMap).Data)
		default:
			p.addf("%s: envFrom other than a ConfigMap: take secrets key by key", o)
		}
	}
	fromSecret := map[string]string{}
	for _, ev := range c.Env {
		switch vf := ev.ValueFrom; {
		case vf == nil:
			env[ev.Name] = ev.Value
		case vf.SecretKeyRef != nil:
			ref := vf.SecretKeyRef.Name + "/" + vf.SecretKeyRef.Key
			fromSecret[ev.Name] = ref
			env[ev.Name] = "(secret)"
			if !secretHasKey(m, vf.SecretKeyRef.Name, vf.SecretKeyRef.Key) {
				p.addf("%s: %s comes from %s, which no Secret holds", o, ev.Name, ref)
			}
		case vf.ConfigMapKeyRef != nil:
			cm, ok := m.find("ConfigMap", vf.ConfigMapKeyRef.Name)
			v, has := "", false
			if ok {
				v, has = cm.Obj.(*corev1.ConfigMap).Data[vf.ConfigMapKeyRef.Key]
			}
			if !has {
				p.addf("%s: %s comes from ConfigMap %s key %s, which does not exist", o, ev.Name, vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key)
			}
			env[ev.Name] = v
		case vf.ResourceFieldRef != nil:
			name := corev1.ResourceName(strings.TrimPrefix(vf.ResourceFieldRef.Resource, "limits."))
			if _, ok := c.Resources.Limits[name]; !ok {
				p.addf("%s: %s reads %s, which is not set", o, ev.Name, vf.ResourceFieldRef.Resource)
			}
			env[ev.Name] = "(resource)"
		default:
			env[ev.Name] = "(field)"
		}
	}
	for _, n := range w.needs {
		if env[n] == "" {
			p.addf("%s: %s is not set, and `pyxis %s` needs it", o, n, w.subcommand)
		}
	}
	if !maps.Equal(fromSecret, w.secrets) {
		p.addf("%s: variables from Secrets are %v, want exactly %v", o, fromSecret, w.secrets)
	}
	return env
}

// secretHasKey reports whether the named Secret holds key.
func secretHasKey(m manifests, name, key string) bool {
	o, ok := m.find("Secret", name)
	if !ok {
		return false
	}
	s := o.Obj.(*corev1.Secret)
	_, inData := s.Data[key]
	_, inString := s.StringData[key]
	return inData || inString
}

// resolvePort returns the container port a Service or probe port names (a number or a name).
func resolvePort(c *corev1.Container, port intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if (port.Type == intstr.String && cp.Name == port.StrVal) || (port.Type == intstr.Int && cp.ContainerPort == port.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// checkProbes wants readiness on /readyz and liveness on /healthz, on the workload's port.
func checkProbes(o object, c *corev1.Container, w workload, p *problems) {
	for _, probe := range []struct {
		kind, path string
		probe      *corev1.Probe
	}{{"readinessProbe", "/readyz", c.ReadinessProbe}, {"livenessProbe", "/healthz", c.LivenessProbe}} {
		if probe.probe == nil || probe.probe.HTTPGet == nil {
			p.addf("%s: %s: want an HTTP GET of %s", o, probe.kind, probe.path)
			continue
		}
		g := probe.probe.HTTPGet
		port, ok := resolvePort(c, g.Port)
		if g.Path != probe.path || !ok || port != w.port {
			p.addf("%s: %s asks %s on port %s, want %s on %d", o, probe.kind, g.Path, g.Port.String(), probe.path, w.port)
		}
	}
}

// checkListen checks a listen address setting against the container port it must serve.
func checkListen(o object, c *corev1.Container, name, addr string, port int32, p *problems) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		p.addf("%s: %s=%q: want host:port", o, name, addr)
		return
	}
	if ip, err := netip.ParseAddr(host); host == "localhost" || (err == nil && ip.IsLoopback()) {
		p.addf("%s: %s=%q binds the loopback interface: nothing outside the pod reaches it", o, name, addr)
	}
	if portStr != strconv.Itoa(int(port)) {
		p.addf("%s: %s=%q, but the port is %d", o, name, addr, port)
	}
	if _, ok := resolvePort(c, intstr.FromInt32(port)); !ok {
		p.addf("%s: port %d (%s) is not a container port", o, port, name)
	}
}
