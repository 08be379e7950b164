package deploy

import (
	"maps"
	"net"
	"net/netip"
	"path"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The checks of what connects to what: Services, PodDisruptionBudgets, NetworkPolicies and
// the simulated cabinet's flags.

// podsOf returns the workloads whose pod template labels sel selects.
func podsOf(m manifests, sel *metav1.LabelSelector) []object {
	var out []object
	for _, o := range m {
		if t := podTemplate(o); t != nil && selects(sel, t.Labels) {
			out = append(out, o)
		}
	}
	return out
}

// wantServices are the Services and the ports each must offer: port -> the workload's
// container port it reaches.
var wantServices = map[string]struct {
	workload string
	ports    map[int32]int32
}{
	"pyxis-api":            {"pyxis-api", map[int32]int32{8080: 8080}},
	"pyxis-api-mllp":       {"pyxis-api", map[int32]int32{2575: 2575}},
	"pyxis-worker-metrics": {"pyxis-worker", map[int32]int32{9090: 9090}},
	"pyxis-cabinet-sim":    {"pyxis-cabinet-sim", map[int32]int32{2576: 2576, 2577: 2577}},
}

func checkServices(m manifests, e expectation, p *problems) {
	for _, o := range m.all("Service") {
		s := o.Obj.(*corev1.Service)
		want, ok := wantServices[s.Name]
		if !ok {
			p.addf("%s: unexpected Service", o)
			continue
		}
		pods := podsOf(m, &metav1.LabelSelector{MatchLabels: s.Spec.Selector})
		if len(pods) != 1 || pods[0].meta().Name != want.workload {
			p.addf("%s: selector %v must select the pods of %s only (selects %v)", o, s.Spec.Selector, want.workload, pods)
			continue
		}
		c := &podTemplate(pods[0]).Spec.Containers[0]
		got := map[int32]int32{}
		for _, sp := range s.Spec.Ports {
			target, ok := resolvePort(c, cmpOrIntstr(sp.TargetPort, sp.Port))
			if !ok {
				p.addf("%s: port %d targets %s, which is not a container port of %s", o, sp.Port, sp.TargetPort.String(), want.workload)
			}
			if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
				p.addf("%s: port %d is %s", o, sp.Port, sp.Protocol)
			}
			got[sp.Port] = target
		}
		if !maps.Equal(got, want.ports) {
			p.addf("%s: ports %v, want %v (service port: container port)", o, got, want.ports)
		}
	}
	for _, name := range []string{"pyxis-api", "pyxis-api-mllp", "pyxis-worker-metrics"} {
		if _, ok := m.find("Service", name); !ok {
			p.addf("no Service %s", name)
		}
	}
	o, ok := m.find("Service", "pyxis-api-mllp")
	if !ok {
		return
	}
	s := o.Obj.(*corev1.Service)
	if !e.mllpExposed {
		if s.Spec.Type != corev1.ServiceTypeClusterIP || len(s.Spec.LoadBalancerSourceRanges) > 0 || s.Spec.ExternalTrafficPolicy != "" {
			p.addf("%s: want a plain ClusterIP Service here", o)
		}
		return
	}
	if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		p.addf("%s: type %s: the cabinets are outside the cluster", o, s.Spec.Type)
	}
	if s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		p.addf("%s: externalTrafficPolicy must be Local, or cabinets' source addresses are lost", o)
	}
	allowed := mllpCIDRs(m)
	if len(s.Spec.LoadBalancerSourceRanges) == 0 {
		p.addf("%s: loadBalancerSourceRanges must list the cabinets' network", o)
	}
	for _, r := range s.Spec.LoadBalancerSourceRanges {
		if !slices.Contains(allowed, r) {
			p.addf("%s: loadBalancerSourceRanges has %s, which the NetworkPolicy does not admit to MLLP (%v)", o, r, allowed)
		}
	}
}

// cmpOrIntstr returns the target port, or the service port when it is unset.
func cmpOrIntstr(target intstr.IntOrString, port int32) intstr.IntOrString {
	if target.Type == intstr.Int && target.IntVal == 0 {
		return intstr.FromInt32(port)
	}
	return target
}

func checkPDBs(m manifests, e expectation, p *problems) {
	for _, name := range []string{"pyxis-api", "pyxis-worker"} {
		o, ok := m.find("PodDisruptionBudget", name)
		if !ok {
			p.addf("no PodDisruptionBudget %s", name)
			continue
		}
		pdb := o.Obj.(*policyv1.PodDisruptionBudget)
		pods := podsOf(m, pdb.Spec.Selector)
		if len(pods) != 1 || pods[0].Kind != "Deployment" || pods[0].meta().Name != name {
			p.addf("%s: selector must select the pods of Deployment %s only (selects %v)", o, name, pods)
		}
		if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.String() != strconv.Itoa(e.minAvailable) || pdb.Spec.MaxUnavailable != nil {
			p.addf("%s: want minAvailable %d", o, e.minAvailable)
		}
	}
}

// admitted returns the peers the NetworkPolicies of the namespace admit to port on the pods
// of workload: nil peers means anyone. ok is false when no policy selects the pods, which
// then accept everything.
func admitted(m manifests, workload string, port int32) (peers []networkingv1.NetworkPolicyPeer, anyone, selected bool) {
	w, found := m.find("Deployment", workload)
	if !found {
		return nil, false, false
	}
	for _, o := range m.all("NetworkPolicy") {
		np := o.Obj.(*networkingv1.NetworkPolicy)
		if !selects(&np.Spec.PodSelector, podTemplate(w).Labels) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			continue
		}
		selected = true
		for _, rule := range np.Spec.Ingress {
			covers := len(rule.Ports) == 0
			for _, rp := range rule.Ports {
				if rp.Port == nil || (rp.Port.Type == intstr.Int && rp.Port.IntVal <= port && port <= max(rp.Port.IntVal, ptrOr(rp.EndPort, 0))) {
					covers = true
				}
				if rp.Port != nil && rp.Port.Type == intstr.String {
					if cp, ok := resolvePort(&podTemplate(w).Spec.Containers[0], *rp.Port); ok && cp == port {
						covers = true
					}
				}
			}
			if !covers {
				continue
			}
			if len(rule.From) == 0 {
				anyone = true
			}
			peers = append(peers, rule.From...)
		}
	}
	return peers, anyone, selected
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// mllpCIDRs returns the ipBlocks admitted to the api's MLLP port.
func mllpCIDRs(m manifests) []string {
	peers, _, _ := admitted(m, "pyxis-api", 2575)
	var out []string
	for _, peer := range peers {
		if peer.IPBlock != nil {
			out = append(out, peer.IPBlock.CIDR)
		}
	}
	return out
}

func checkNetworkPolicies(m manifests, e expectation, p *problems) {
	peers, anyone, selected := admitted(m, "pyxis-api", 2575)
	switch {
	case !selected:
		p.addf("no NetworkPolicy selects the api pods: MLLP is open to everyone")
	case anyone:
		p.addf("a NetworkPolicy rule admits anyone to the api's MLLP port 2575")
	}
	cidrs := 0
	for _, peer := range peers {
		switch {
		case peer.IPBlock != nil:
			pfx, err := netip.ParsePrefix(peer.IPBlock.CIDR)
			if err != nil || pfx.Bits() == 0 {
				p.addf("MLLP admits ipBlock %q: want the cabinets' network", peer.IPBlock.CIDR)
			}
			cidrs++
		case e.cabinetSim && peer.NamespaceSelector == nil && peer.PodSelector != nil &&
			slices.Equal(names(podsOf(m, peer.PodSelector)), []string{"pyxis-cabinet-sim"}):
			// the simulated cabinet, in development
		default:
			p.addf("MLLP admits %v: only the cabinets' network (ipBlock) may send cabinet reports", peer)
		}
	}
	if cidrs == 0 {
		p.addf("no ipBlock admits the cabinets' network to the api's MLLP port")
	}
	if e.cabinetSim {
		sim := false
		for _, peer := range peers {
			sim = sim || (peer.PodSelector != nil && peer.NamespaceSelector == nil && len(podsOf(m, peer.PodSelector)) > 0)
		}
		if !sim {
			p.addf("the simulated cabinet may not reach the api's MLLP port")
		}
	}
	for _, c := range []struct {
		workload string
		port     int32
	}{{"pyxis-api", 8080}, {"pyxis-worker", 9090}} {
		if peers, anyone, selected := admitted(m, c.workload, c.port); selected && !anyone && len(peers) == 0 {
			p.addf("no NetworkPolicy rule admits anyone to %s port %d", c.workload, c.port)
		}
	}
}

// names returns the objects' names.
func names(objs []object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.meta().Name)
	}
	return out
}

// checkCabinetSim checks the simulated cabinet's flags against its ports and the MLLP Service.
func checkCabinetSim(m manifests, p *problems) {
	o, ok := m.find("Deployment", "pyxis-cabinet-sim")
	if !ok {
		p.addf("no Deployment pyxis-cabinet-sim")
		return
	}
	spec := podTemplate(o).Spec
	if len(spec.Containers) != 1 {
		p.addf("%s: want one container", o)
		return
	}
	c := &spec.Containers[0]
	checkSecurity(o, spec, c, p)
	checkResources(o, c, p)
	// The simulator is the development tool's (the Dockerfile's dev target); the production
	// image has none of it.
	if name, tag := splitImage(c.Image); path.Base(name) != "pyxis-dev" || tag == "" || tag == "latest" {
		p.addf("%s: image %q: want the development tool's image, pyxis-dev, at a pinned tag", o, c.Image)
	}
	if len(c.Args) == 0 || c.Args[0] != "cabinet-sim" || len(c.Args)%2 != 1 {
		p.addf("%s: args %q: want cabinet-sim and --flag value pairs", o, c.Args)
		return
	}
	flags := map[string]string{}
	for i := 1; i+1 < len(c.Args); i += 2 {
		flags[c.Args[i]] = c.Args[i+1]
	}
	for flag, port := range map[string]string{"--listen": "mllp", "--admin": "admin"} {
		_, portStr, err := net.SplitHostPort(flags[flag])
		cp, ok := resolvePort(c, intstr.FromString(port))
		if err != nil || !ok || portStr != strconv.Itoa(int(cp)) {
			p.addf("%s: %s %q must listen on the container port %s", o, flag, flags[flag], port)
		}
	}
	host, portStr, err := net.SplitHostPort(flags["--report-to"])
	svc, ok := m.find("Service", host)
	if err != nil || !ok || host != "pyxis-api-mllp" {
		p.addf("%s: --report-to %q must name the api's MLLP Service, pyxis-api-mllp", o, flags["--report-to"])
		return
	}
	if !slices.ContainsFunc(svc.Obj.(*corev1.Service).Spec.Ports, func(sp corev1.ServicePort) bool { return strconv.Itoa(int(sp.Port)) == portStr }) {
		p.addf("%s: --report-to %q is not a port of %s", o, flags["--report-to"], svc)
	}
}
