package deploy

import (
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/medreq/pyxis/codec"
)

var (
	baseExpectation = expectation{
		replicas:     map[string]int32{"pyxis-api": 2, "pyxis-worker": 2},
		minAvailable: 1,
		mllpExposed:  true,
	}
	devExpectation = expectation{
		namespace:  "pyxis-dev",
		replicas:   map[string]int32{"pyxis-api": 1, "pyxis-worker": 1, "pyxis-cabinet-sim": 1},
		cabinetSim: true,
		hs256:      true,
	}
)

// kubeFS is deploy/kubernetes.
func kubeFS(t *testing.T) fs.FS {
	t.Helper()
	return os.DirFS(filepath.Join(repoRoot(t), "deploy", "kubernetes"))
}

// renderBase renders the base together with the example Secrets, which stand for the ones
// operators create out of band.
func renderBase(fsys fs.FS) (manifests, error) {
	objs, err := render(fsys, "base")
	if err != nil {
		return nil, err
	}
	b, err := fs.ReadFile(fsys, "secrets.example.yaml")
	if err != nil {
		return nil, err
	}
	secrets, err := decodeObjects(b, "secrets.example.yaml")
	return append(objs, secrets...), err
}

func TestKubernetesBase(t *testing.T) {
	m, err := renderBase(kubeFS(t))
	require.NoError(t, err)
	assert.Empty(t, checkManifests(m, baseExpectation))
}

func TestKubernetesDevOverlay(t *testing.T) {
	m, err := render(kubeFS(t), "overlays/dev")
	require.NoError(t, err)
	assert.Empty(t, checkManifests(m, devExpectation))
}

// secretKeys returns each Secret's keys.
func secretKeys(m manifests) map[string][]string {
	out := map[string][]string{}
	for _, o := range m.all("Secret") {
		s := o.Obj.(*corev1.Secret)
		var keys []string
		for k := range s.Data {
			keys = append(keys, k)
		}
		for k := range s.StringData {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out[s.Name] = keys
	}
	return out
}

// secretValue returns a Secret's value for key.
func secretValue(m manifests, name, key string) string {
	o, _ := m.find("Secret", name)
	s := o.Obj.(*corev1.Secret)
	if v, ok := s.StringData[key]; ok {
		return v
	}
	return string(s.Data[key])
}

func TestKubernetesSecrets(t *testing.T) {
	fsys := kubeFS(t)
	base, err := render(fsys, "base")
	require.NoError(t, err)
	assert.Empty(t, base.all("Secret"), "the base ships no Secret: applying it must never overwrite real ones")

	// The example holds exactly the keys the workloads read, and the dev overlay generates
	// the same Secrets.
	want := func(e expectation) map[string][]string {
		out := map[string][]string{}
		for _, w := range workloads(e) {
			for _, ref := range w.secrets {
				name, key, _ := strings.Cut(ref, "/")
				if !slices.Contains(out[name], key) {
					out[name] = append(out[name], key)
				}
			}
		}
		for _, keys := range out {
			slices.Sort(keys)
		}
		return out
	}
	example, err := renderBase(fsys)
	require.NoError(t, err)
	dev, err := render(fsys, "overlays/dev")
	require.NoError(t, err)
	assert.Equal(t, want(devExpectation), secretKeys(dev), "the dev overlay's generated Secrets")
	// The example holds no HS256 secret where the provider's tokens are verified, and the
	// database CA the pods mount (optional: the dev overlay does not verify its database).
	wantExample := want(baseExpectation)
	wantExample["pyxis-db-ca"] = []string{"ca.crt"}
	assert.Equal(t, wantExample, secretKeys(example), "secrets.example.yaml")
	for _, w := range pyxisWorkloads {
		o, ok := example.find(w.kind, w.name)
		require.True(t, ok, w.name)
		spec := podTemplate(o).Spec
		vol := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool {
			return v.Secret != nil && v.Secret.SecretName == "pyxis-db-ca"
		})
		require.GreaterOrEqual(t, vol, 0, "%s mounts no database CA", w.name)
		mounted := slices.ContainsFunc(spec.Containers[0].VolumeMounts, func(vm corev1.VolumeMount) bool {
			return vm.Name == spec.Volumes[vol].Name && vm.MountPath == "/etc/pyxis/db-ca" && vm.ReadOnly
		})
		assert.True(t, mounted, "%s: the database CA at /etc/pyxis/db-ca, read-only", w.name)
	}
	// The example verifies the database: its certificate, against that CA, for that host.
	for _, ref := range []string{"pyxis-secrets/DATABASE_URL", "pyxis-db-owner/DATABASE_URL_OWNER"} {
		name, key, _ := strings.Cut(ref, "/")
		u, err := url.Parse(secretValue(example, name, key))
		require.NoError(t, err, ref)
		assert.Equal(t, "verify-full", u.Query().Get("sslmode"), ref)
		assert.Equal(t, "/etc/pyxis/db-ca/ca.crt", u.Query().Get("sslrootcert"), ref)
	}

	for _, m := range []manifests{example, dev} {
		for ref, user := range map[string]string{"pyxis-secrets/DATABASE_URL": "pyxis_svc", "pyxis-db-owner/DATABASE_URL_OWNER": "pyxis"} {
			name, key, _ := strings.Cut(ref, "/")
			u, err := url.Parse(secretValue(m, name, key))
			require.NoError(t, err, ref)
			assert.Equal(t, user, u.User.Username(), "%s: the role (docs/security.md)", ref)
			assert.Equal(t, "/pyxis", u.Path, ref)
		}
	}
	// The dev values must be usable as they are.
	_, err = codec.ParseKeys(secretValue(dev, "pyxis-secrets", "PYXIS_CODEC_KEYS"))
	assert.NoError(t, err, "dev PYXIS_CODEC_KEYS")
	assert.GreaterOrEqual(t, len(secretValue(dev, "pyxis-secrets", "PYXIS_JWT_SECRET")), 32, "dev PYXIS_JWT_SECRET")
}

// TestKubernetesBrokenManifests breaks a copy of the manifests in one place each and wants
// the strict decoding, the renderer or the checks to say so: none of the checks above may be
// one that cannot fail.
func TestKubernetesBrokenManifests(t *testing.T) {
	tests := []struct {
		name, file, old, new, want string
	}{
		{"unknown field", "base/api-deployment.yaml", "  replicas: 2\n", "  replicas: 2\n  replica: 2\n", `unknown field "replica"`},
		{"duplicate field", "overlays/dev/cabinet-sim.yaml", "  replicas: 1\n", "  replicas: 1\n  replicas: 1\n", `"replicas" already set`},
		{"wrong kind version", "base/poddisruptionbudgets.yaml", "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: pyxis-worker",
			"apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: pyxis-worker", `want "policy/v1"`},
		{"no readiness probe", "base/api-deployment.yaml", "          readinessProbe:\n            httpGet:\n              path: /readyz\n              port: http\n",
			"          readinessProbe:\n            tcpSocket:\n              port: http\n", "readinessProbe: want an HTTP GET of /readyz"},
		{"liveness on the wrong port", "base/worker-deployment.yaml", "              path: /healthz\n              port: metrics", "              path: /healthz\n              port: 8080",
			"livenessProbe asks /healthz on port 8080"},
		{"service selects nothing", "base/api-service.yaml", "    app.kubernetes.io/component: api\n  ports:", "    app.kubernetes.io/component: apii\n  ports:", "must select the pods of pyxis-api"},
		{"service port to no container port", "base/worker-metrics-service.yaml", "targetPort: metrics", "targetPort: metric", "not a container port"},
		{"secret key missing", "secrets.example.yaml", "  PYXIS_CODEC_KEYS: k1", "  PYXIS_CODEC_KEY: k1", "PYXIS_CODEC_KEYS comes from pyxis-secrets/PYXIS_CODEC_KEYS"},
		{"config key missing", "base/configmap.yaml", "  PYXIS_METRICS_ADDR:", "  PYXIS_METRIC_ADDR:", "PYXIS_METRICS_ADDR is not set"},
		{"secret in the config", "base/configmap.yaml", "  PYXIS_LOG_FORMAT: json\n", "  PYXIS_LOG_FORMAT: json\n  PYXIS_JWT_SECRET: x\n", "holds PYXIS_JWT_SECRET"},
		{"MLLP on loopback", "base/configmap.yaml", `PYXIS_MLLP_ADDR: "0.0.0.0:2575"`, `PYXIS_MLLP_ADDR: "127.0.0.1:2575"`, "binds the loopback interface"},
		{"MLLP open to the world", "base/networkpolicies.yaml", "cidr: 10.20.0.0/16", "cidr: 0.0.0.0/0", "want the cabinets' network"},
		{"HTTP rule without ports", "base/networkpolicies.yaml", "      ports:\n        - protocol: TCP\n          port: 8080\n", "", "MLLP admits"},
		{"LB range not the policy's", "base/api-mllp-service.yaml", "    - 10.20.0.0/16", "    - 10.30.0.0/16", "does not admit to MLLP"},
		{"root user", "base/worker-deployment.yaml", "            runAsUser: 65532", "            runAsUser: 0", "runAsUser must be 65532"},
		{"writable root filesystem", "base/api-deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem must be true"},
		{"no memory limit", "base/migrate-job.yaml", "              memory: 256Mi\n", "", "limits of memory must be set"},
		{"short grace period", "base/worker-deployment.yaml", "terminationGracePeriodSeconds: 60", "terminationGracePeriodSeconds: 5", "terminationGracePeriodSeconds must be at least 45"},
		{"grace shorter than the drain", "base/configmap.yaml", "PYXIS_SHUTDOWN_TIMEOUT: 25s", "PYXIS_SHUTDOWN_TIMEOUT: 50s", "shorter than the graceful stop it configures"},
		{"PDB selects nothing", "base/poddisruptionbudgets.yaml", "      app.kubernetes.io/component: worker\n", "      app.kubernetes.io/component: workers\n", "select the pods of Deployment pyxis-worker"},
		{"owner password in the api", "base/api-deployment.yaml", "name: pyxis-secrets\n                  key: DATABASE_URL\n", "name: pyxis-db-owner\n                  key: DATABASE_URL_OWNER\n", "want exactly"},
		{"image latest", "base/kustomization.yaml", `newTag: "0.1.0"`, `newTag: latest`, "pin a tag"},
		{"file left out", "base/kustomization.yaml", "  - migrate-job.yaml\n", "", "does not use migrate-job.yaml"},
		{"file missing", "base/kustomization.yaml", "  - migrate-job.yaml\n", "  - migrate-job.yaml\n  - extra.yaml\n", "resource extra.yaml"},
		{"dev: simulator reports elsewhere", "overlays/dev/cabinet-sim.yaml", "pyxis-api-mllp:2575", "pyxis-api:8080", "must name the api's MLLP Service"},
		{"dev: simulator in the production image", "overlays/dev/cabinet-sim.yaml", "image: medreq/pyxis-dev\n", "image: medreq/pyxis\n", "want the development tool's image"},
		{"dev: patch of nothing", "overlays/dev/patches/api-mllp-service.yaml", "name: pyxis-api-mllp", "name: pyxis-api-mlp", "which the resources do not hold"},
		{"dev: replicas of nothing", "overlays/dev/kustomization.yaml", "  - name: pyxis-worker\n    count: 1", "  - name: pyxis-workers\n    count: 1", "no Deployment pyxis-workers"},
		{"dev: unsupported kustomize field", "overlays/dev/kustomization.yaml", "namespace: pyxis-dev\n", "namespace: pyxis-dev\ncommonLabels: {a: b}\n", `unknown field "commonLabels"`},
	}
	orig := fstest.MapFS{}
	err := fs.WalkDir(kubeFS(t), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(kubeFS(t), p)
		orig[p] = &fstest.MapFile{Data: b}
		return err
	})
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broken := fstest.MapFS{}
			for p, f := range orig {
				broken[p] = &fstest.MapFile{Data: f.Data}
			}
			f, ok := broken[tt.file]
			require.True(t, ok, tt.file)
			text := string(f.Data)
			require.Equal(t, 1, strings.Count(text, tt.old), "the case must change exactly one place of %s", tt.file)
			f.Data = []byte(strings.Replace(text, tt.old, tt.new, 1))

			var m manifests
			var err error
			e := baseExpectation
			if strings.HasPrefix(tt.file, "overlays/dev/") {
				m, err = render(broken, "overlays/dev")
				e = devExpectation
			} else {
				m, err = renderBase(broken)
			}
			found := ""
			if err != nil {
				found = err.Error()
			} else {
				found = strings.Join(checkManifests(m, e), "\n")
			}
			assert.Contains(t, found, tt.want)
		})
	}
}
