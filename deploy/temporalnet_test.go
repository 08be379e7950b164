package deploy

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// frontendLabels are the labels temporalio/helm-charts puts on the frontend pods.
var frontendLabels = map[string]string{
	"app.kubernetes.io/name": "temporal", "app.kubernetes.io/component": "frontend", "app.kubernetes.io/instance": "temporal",
}

// reachesFrontend reports whether the policies let a pod with podLabels in namespace ns open
// a connection to the frontend's gRPC port 7233 (the policies live in Temporal's namespace).
func reachesFrontend(m manifests, ns string, podLabels map[string]string) bool {
	for _, o := range m.all("NetworkPolicy") {
		np := o.Obj.(*networkingv1.NetworkPolicy)
		if !selects(&np.Spec.PodSelector, frontendLabels) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			continue
		}
		for _, rule := range np.Spec.Ingress {
			covers := len(rule.Ports) == 0
			for _, rp := range rule.Ports {
				covers = covers || rp.Port == nil || (rp.Port.Type == intstr.Int && rp.Port.IntVal == 7233)
			}
			if !covers {
				continue
			}
			if len(rule.From) == 0 {
				return true
			}
			for _, peer := range rule.From {
				if peer.IPBlock != nil {
					return true // an address range cannot tell pods apart
				}
				nsOK := peer.NamespaceSelector == nil && ns == o.meta().Namespace ||
					peer.NamespaceSelector != nil && matchesOrAll(peer.NamespaceSelector, map[string]string{"kubernetes.io/metadata.name": ns})
				podOK := peer.PodSelector == nil || matchesOrAll(peer.PodSelector, podLabels)
				if nsOK && podOK {
					return true
				}
			}
		}
	}
	return false
}

// matchesOrAll is selects, with the empty selector selecting everything as in a peer.
func matchesOrAll(sel *metav1.LabelSelector, set map[string]string) bool {
	if len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
		return true
	}
	return selects(sel, set)
}

// Only the api and worker pods of pyxis reach the Temporal frontend: not the migrate Job, not
// the simulated cabinet, not an api-labelled pod in another namespace.
func TestTemporalFrontendPolicy(t *testing.T) {
	fsys := kubeFS(t)
	m, err := render(fsys, "temporal-frontend")
	require.NoError(t, err)
	require.NotEmpty(t, m.all("NetworkPolicy"))
	for _, o := range m.all("NetworkPolicy") {
		assert.Equal(t, "temporal", o.meta().Namespace, "%s: in Temporal's namespace, where the frontend pods are", o)
	}
	dev, err := render(fsys, "overlays/dev")
	require.NoError(t, err)
	want := map[string]bool{"pyxis-api": true, "pyxis-worker": true, "pyxis-migrate": false, "pyxis-cabinet-sim": false}
	seen := 0
	for _, o := range dev {
		tmpl := podTemplate(o)
		if tmpl == nil {
			continue
		}
		w, ok := want[o.meta().Name]
		require.True(t, ok, "%s: a workload this test does not know; say whether it may reach Temporal", o)
		seen++
		assert.Equal(t, w, reachesFrontend(m, "pyxis-dev", tmpl.Labels), "%s reaches the frontend", o)
		assert.False(t, reachesFrontend(m, "default", tmpl.Labels), "%s's labels from another namespace", o)
	}
	assert.Equal(t, len(want), seen)
	assert.True(t, reachesFrontend(m, "temporal", map[string]string{"app.kubernetes.io/component": "history"}), "Temporal's own services")
}
