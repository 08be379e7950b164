package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// A small kustomize: enough of it to render deploy/kubernetes's base and overlays into typed
// objects the checks can read, without the kustomize module. Every field a kustomization may
// use is declared below and decoded strictly, so a kustomization that uses anything this
// renderer does not implement fails the tests instead of being half rendered.

// kinds are the resource kinds the manifests may hold, with the Go type each decodes into.
var kinds = map[string]struct {
	apiVersion string
	new        func() any
	namespaced bool
}{
	"Namespace":           {"v1", func() any { return &corev1.Namespace{} }, false},
	"ServiceAccount":      {"v1", func() any { return &corev1.ServiceAccount{} }, true},
	"ConfigMap":           {"v1", func() any { return &corev1.ConfigMap{} }, true},
	"Secret":              {"v1", func() any { return &corev1.Secret{} }, true},
	"Service":             {"v1", func() any { return &corev1.Service{} }, true},
	"Deployment":          {"apps/v1", func() any { return &appsv1.Deployment{} }, true},
	"Job":                 {"batch/v1", func() any { return &batchv1.Job{} }, true},
	"PodDisruptionBudget": {"policy/v1", func() any { return &policyv1.PodDisruptionBudget{} }, true},
	"NetworkPolicy":       {"networking.k8s.io/v1", func() any { return &networkingv1.NetworkPolicy{} }, true},
}

// object is one decoded resource.
type object struct {
	Source string // file it came from, for messages
	Kind   string
	Obj    any // a pointer to one of the kinds' types
}

// meta returns the object's metadata.
func (o object) meta() *metav1.ObjectMeta {
	return o.Obj.(metav1.ObjectMetaAccessor).GetObjectMeta().(*metav1.ObjectMeta)
}

func (o object) String() string { return o.Kind + "/" + o.meta().Name + " (" + o.Source + ")" }

// kustomization is the part of kustomize's Kustomization the manifests use.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources,omitempty"`
	Replicas   []struct {
		Name  string `json:"name"`
		Count int32  `json:"count"`
	} `json:"replicas,omitempty"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
	Patches []struct {
		Path string `json:"path"`
	} `json:"patches,omitempty"`
	SecretGenerator []struct {
		Name    string   `json:"name"`
		Envs    []string `json:"envs"`
		Options struct {
			Labels map[string]string `json:"labels,omitempty"`
		} `json:"options"`
	} `json:"secretGenerator,omitempty"`
}

// decodeObjects splits a YAML stream into documents and decodes each strictly (unknown or
// duplicate fields are errors) into the API type of its kind.
func decodeObjects(data []byte, source string) (manifests, error) {
	var out manifests
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if tm.Kind == "" && len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue // an empty document
		}
		k, ok := kinds[tm.Kind]
		if !ok {
			return nil, fmt.Errorf("%s: kind %q is not one the manifests may use", source, tm.Kind)
		}
		if tm.APIVersion != k.apiVersion {
			return nil, fmt.Errorf("%s: %s has apiVersion %q, want %q", source, tm.Kind, tm.APIVersion, k.apiVersion)
		}
		obj := k.new()
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", source, tm.Kind, err)
		}
		o := object{Source: source, Kind: tm.Kind, Obj: obj}
		if o.meta().Name == "" {
			return nil, fmt.Errorf("%s: a %s without metadata.name", source, tm.Kind)
		}
		out = append(out, o)
	}
}

// stripComments drops the comment lines of a YAML document.
func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for line := range strings.SplitSeq(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.Bytes()
}

// render builds the kustomization in dir of fsys as `kustomize build` would: resources
// (files and other kustomizations), generated Secrets, strategic-merge patches, then the
// namespace, replicas and images transformers. It also returns an error when a file of dir
// is not used by the kustomization.
func render(fsys fs.FS, dir string) (manifests, error) {
	data, err := fs.ReadFile(fsys, path.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		return nil, fmt.Errorf("%s/kustomization.yaml: %w", dir, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		return nil, fmt.Errorf("%s/kustomization.yaml: apiVersion %q kind %q", dir, k.APIVersion, k.Kind)
	}
	used := map[string]bool{"kustomization.yaml": true}
	var objs manifests
	for _, r := range k.Resources {
		p := path.Join(dir, r)
		st, err := fs.Stat(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("%s/kustomization.yaml: resource %s: %w", dir, r, err)
		}
		var more manifests
		if st.IsDir() {
			more, err = render(fsys, p)
		} else {
			used[r] = true
			var b []byte
			if b, err = fs.ReadFile(fsys, p); err == nil {
				more, err = decodeObjects(b, p)
			}
		}
		if err != nil {
			return nil, err
		}
		objs = append(objs, more...)
	}
	for _, g := range k.SecretGenerator {
		s := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: g.Name, Labels: g.Options.Labels}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{}}
		for _, env := range g.Envs {
			used[env] = true
			b, err := fs.ReadFile(fsys, path.Join(dir, env))
			if err != nil {
				return nil, fmt.Errorf("%s/kustomization.yaml: secretGenerator %s: %w", dir, g.Name, err)
			}
			if err := readEnvFile(b, s.Data); err != nil {
				return nil, fmt.Errorf("%s/%s: %w", dir, env, err)
			}
		}
		objs = append(objs, object{Source: path.Join(dir, "kustomization.yaml"), Kind: "Secret", Obj: s})
	}
	for _, p := range k.Patches {
		used[p.Path] = true
		if err := applyPatch(fsys, path.Join(dir, p.Path), objs); err != nil {
			return nil, err
		}
	}
	for _, o := range objs {
		if k.Namespace != "" && kinds[o.Kind].namespaced {
			o.meta().Namespace = k.Namespace
		}
	}
	for _, r := range k.Replicas {
		i := slices.IndexFunc(objs, func(o object) bool { return o.Kind == "Deployment" && o.meta().Name == r.Name })
		if i < 0 {
			return nil, fmt.Errorf("%s/kustomization.yaml: replicas: no Deployment %s", dir, r.Name)
		}
		objs[i].Obj.(*appsv1.Deployment).Spec.Replicas = &r.Count
	}
	for _, img := range k.Images {
		for _, o := range objs {
			for _, c := range podContainers(o) {
				name, tag := splitImage(c.Image)
				if name != img.Name {
					continue
				}
				if img.NewName != "" {
					name = img.NewName
				}
				if img.NewTag != "" {
					tag = img.NewTag
				}
				c.Image = name
				if img.Digest != "" {
					c.Image += "@" + img.Digest
				} else if tag != "" {
					c.Image += ":" + tag
				}
			}
		}
	}
	err = fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, dir+"/")
		if !used[rel] && !strings.HasSuffix(rel, ".md") {
			return fmt.Errorf("%s/kustomization.yaml does not use %s", dir, rel)
		}
		return nil
	})
	return objs, err
}

// readEnvFile reads KEY=VALUE lines, as kustomize's generators do (# comments, blank lines).
func readEnvFile(b []byte, into map[string][]byte) error {
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return fmt.Errorf("line %d: want KEY=VALUE", i+1)
		}
		if _, dup := into[k]; dup {
			return fmt.Errorf("line %d: %s twice", i+1, k)
		}
		into[k] = []byte(v)
	}
	return nil
}

// applyPatch applies the strategic-merge patch in file p to the object of the same kind and
// name. The patch is decoded strictly too, but applied as written, so that a null removes a
// field.
func applyPatch(fsys fs.FS, p string, objs manifests) error {
	b, err := fs.ReadFile(fsys, p)
	if err != nil {
		return err
	}
	patches, err := decodeObjects(b, p)
	if err != nil {
		return err
	}
	if len(patches) != 1 {
		return fmt.Errorf("%s: want one patch, found %d", p, len(patches))
	}
	patch := patches[0]
	i := slices.IndexFunc(objs, func(o object) bool { return o.Kind == patch.Kind && o.meta().Name == patch.meta().Name })
	if i < 0 {
		return fmt.Errorf("%s: patches %s, which the resources do not hold", p, patch)
	}
	raw, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		return err
	}
	orig, err := json.Marshal(objs[i].Obj)
	if err != nil {
		return err
	}
	merged, err := strategicpatch.StrategicMergePatch(orig, raw, kinds[patch.Kind].new())
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	obj := kinds[patch.Kind].new()
	if err := yaml.UnmarshalStrict(merged, obj); err != nil {
		return fmt.Errorf("%s: patched %s: %w", p, patch, err)
	}
	objs[i].Obj = obj
	return nil
}

// podTemplate returns the pod template of a workload, or nil.
func podTemplate(o object) *corev1.PodTemplateSpec {
	switch w := o.Obj.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template
	case *batchv1.Job:
		return &w.Spec.Template
	}
	return nil
}

// podContainers returns pointers to a workload's containers and init containers.
func podContainers(o object) []*corev1.Container {
	t := podTemplate(o)
	if t == nil {
		return nil
	}
	var out []*corev1.Container
	for i := range t.Spec.InitContainers {
		out = append(out, &t.Spec.InitContainers[i])
	}
	for i := range t.Spec.Containers {
		out = append(out, &t.Spec.Containers[i])
	}
	return out
}
