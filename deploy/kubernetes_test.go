package deploy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/stratacache/stratacache/node"
)

const k8sDir = "kubernetes"

// kustomization is the part of kustomize's Kustomization the manifests use.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Patches    []struct {
		Path string `json:"path"`
	} `json:"patches"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// manifests is every document under deploy/kubernetes, decoded strictly
// into its Kubernetes type: an unknown or misspelt field, a wrong type or
// an unknown kind fails the test.
type manifests struct {
	statefulSets map[string]*appsv1.StatefulSet // by file
	services     map[string]*corev1.Service     // by name
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	pdbs         map[string]*policyv1.PodDisruptionBudget
	kustomize    map[string]*kustomization // by file
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{
		statefulSets: map[string]*appsv1.StatefulSet{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, kustomize: map[string]*kustomization{},
	}
	docs := 0
	err := filepath.WalkDir(k8sDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
			t.Errorf("%s: not YAML; only manifests belong here", path)
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for i := 0; ; i++ {
			var doc yaml.Node
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: document %d: %v", path, i, err)
			}
			b, err := yaml.Marshal(&doc)
			if err != nil {
				t.Fatal(err)
			}
			var head struct{ APIVersion, Kind string }
			if err := sigsyaml.Unmarshal(b, &head); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			strict := func(into any) {
				if err := sigsyaml.UnmarshalStrict(b, into); err != nil {
					t.Errorf("%s: %s: %v", path, head.Kind, err)
				}
			}
			docs++
			switch head.APIVersion + " " + head.Kind {
			case "apps/v1 StatefulSet":
				o := &appsv1.StatefulSet{}
				strict(o)
				m.statefulSets[path] = o
			case "v1 Service":
				o := &corev1.Service{}
				strict(o)
				m.services[o.Name] = o
			case "v1 ConfigMap":
				o := &corev1.ConfigMap{}
				strict(o)
				m.configMaps[o.Name] = o
			case "v1 Secret":
				o := &corev1.Secret{}
				strict(o)
				m.secrets[o.Name] = o
			case "policy/v1 PodDisruptionBudget":
				o := &policyv1.PodDisruptionBudget{}
				strict(o)
				m.pdbs[o.Name] = o
			case "kustomize.config.k8s.io/v1beta1 Kustomization":
				o := &kustomization{}
				strict(o)
				m.kustomize[path] = o
			default:
				t.Errorf("%s: unexpected %s %s (add it to the test)", path, head.APIVersion, head.Kind)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if docs == 0 {
		t.Fatal("no manifests found")
	}
	return m
}

func TestKubernetesManifests(t *testing.T) {
	m := loadManifests(t)
	sts := m.statefulSets[filepath.Join(k8sDir, "statefulset.yaml")]
	if sts == nil {
		t.Fatal("no StatefulSet in statefulset.yaml")
	}
	pod := sts.Spec.Template.Spec
	labels := sts.Spec.Template.Labels
	if sts.Spec.Selector == nil || !selects(sts.Spec.Selector.MatchLabels, labels) {
		t.Fatalf("the StatefulSet's selector %v does not select its pods %v", sts.Spec.Selector, labels)
	}
	if r := sts.Spec.Replicas; r == nil || *r != 3 {
		t.Errorf("replicas %v, want 3", r)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	ports := map[string]corev1.ContainerPort{}
	for _, p := range c.Ports {
		ports[p.Name] = p
	}

	// The gossip Service is headless, publishes pods before they are
	// ready, and gives the StatefulSet its DNS names.
	gossip := m.services[sts.Spec.ServiceName]
	if gossip == nil {
		t.Fatalf("serviceName %q: no such Service", sts.Spec.ServiceName)
	}
	if gossip.Spec.ClusterIP != corev1.ClusterIPNone || !gossip.Spec.PublishNotReadyAddresses {
		t.Errorf("gossip Service: clusterIP %q, publishNotReadyAddresses %v: want headless, publishing not-ready pods",
			gossip.Spec.ClusterIP, gossip.Spec.PublishNotReadyAddresses)
	}
	for name, svc := range m.services {
		if !selects(svc.Spec.Selector, labels) {
			t.Errorf("Service %s selects %v, not the pods %v", name, svc.Spec.Selector, labels)
		}
		for _, sp := range svc.Spec.Ports {
			cp, ok := ports[sp.TargetPort.String()]
			if sp.TargetPort.Type != intstr.String || !ok || cp.Protocol != sp.Protocol || cp.ContainerPort != sp.Port {
				t.Errorf("Service %s port %s: target %s is not a container port of the same number and protocol", name, sp.Name, sp.TargetPort.String())
			}
		}
	}
	for _, pdb := range m.pdbs {
		if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels, labels) {
			t.Errorf("PDB %s does not select the pods", pdb.Name)
		}
		if mu := pdb.Spec.MaxUnavailable; mu == nil || mu.IntValue() != 1 {
			t.Errorf("PDB %s: maxUnavailable %v, want 1", pdb.Name, mu)
		}
	}
	if len(m.pdbs) != 1 {
		t.Errorf("%d PodDisruptionBudgets", len(m.pdbs))
	}

	// The node's effective configuration in the pod: the ConfigMap's file
	// through the node's strict loader, then the container's environment.
	cfg, env := podConfig(t, m, c, pod)
	if cfg.Auth.Token == "" || cfg.Auth.PeerToken == "" || cfg.Auth.SubscriberToken == "" || cfg.Cluster.GossipKey == "" || cfg.Cluster.Name != "stratacache-0" {
		t.Errorf("the peer, client and subscriber tokens, gossip key and node name must come from the pod: %+v", cfg.Cluster)
	}
	// Each role's token from its own Secret, so that RBAC can hand a
	// client its token without the nodes' (docs/cluster.md, Credentials).
	from := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			from[e.Name] = e.ValueFrom.SecretKeyRef.Name
		}
	}
	peerSecret := from["STRATACACHE_AUTH_PEER_TOKEN"]
	if peerSecret == "" || peerSecret == from["STRATACACHE_AUTH_TOKEN"] || peerSecret == from["STRATACACHE_AUTH_SUBSCRIBER_TOKEN"] ||
		from["STRATACACHE_AUTH_TOKEN"] == from["STRATACACHE_AUTH_SUBSCRIBER_TOKEN"] {
		t.Errorf("tokens' Secrets %v: want the peer, client and subscriber tokens each in its own Secret", from)
	}
	listen := map[string]string{"resp": cfg.Listen.RESP, "native": cfg.Listen.Native, "admin": cfg.Listen.Admin,
		"gossip-tcp": cfg.Cluster.Bind, "gossip-udp": cfg.Cluster.Bind, "peer": cfg.Cluster.Peer}
	for name, addr := range listen {
		p, ok := ports[name]
		if !ok || port(addr) != strconv.Itoa(int(p.ContainerPort)) {
			t.Errorf("container port %s (%d) and the node's address %q disagree", name, p.ContainerPort, addr)
		}
	}
	for i, j := range cfg.Cluster.Join {
		host, _, _ := strings.Cut(j, ":")
		if host != gossip.Name && !strings.HasPrefix(host, gossip.Name+".") || port(j) != port(cfg.Cluster.Bind) {
			t.Errorf("cluster.join[%d] %q: want the gossip Service %s on the gossip port", i, j, gossip.Name)
		}
	}

	// Probes on the admin port; the preStop hook drains through it.
	probe := func(what string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "admin" {
			t.Errorf("%s probe: want GET %s on the admin port, have %+v", what, path, p)
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("startup", c.StartupProbe, "/healthz")
	var drainTimeout time.Duration
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil {
		t.Fatal("no preStop exec hook")
	}
	hook := c.Lifecycle.PreStop.Exec.Command
	if len(hook) < 2 || hook[0] != "/stratacache" || hook[1] != "drain" {
		t.Errorf("preStop %q: want /stratacache drain ...", hook)
	}
	for i := 2; i+1 < len(hook); i += 2 {
		switch hook[i] {
		case "-admin-addr":
			if port(hook[i+1]) != port(cfg.Listen.Admin) {
				t.Errorf("preStop drains %s, the admin port is %s", hook[i+1], cfg.Listen.Admin)
			}
		case "-timeout":
			d, err := time.ParseDuration(hook[i+1])
			if err != nil {
				t.Errorf("preStop -timeout: %v", err)
			}
			drainTimeout = d
		}
	}
	var grace time.Duration
	if g := pod.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if need := drainTimeout + time.Duration(cfg.Limits.ShutdownTimeoutS*float64(time.Second)); drainTimeout == 0 || grace <= need {
		t.Errorf("terminationGracePeriodSeconds %v must exceed the preStop drain (%v) plus the shutdown drain (%gs)",
			grace, drainTimeout, cfg.Limits.ShutdownTimeoutS)
	}

	// Resources match the tier sizes: memory holds the CPU tier plus the
	// Go heap (GOMEMLIMIT) and room for buffers; the data volume holds
	// the pre-allocated disk tier.
	mib := func(q resource.Quantity) int64 { return q.Value() >> 20 }
	req, lim := c.Resources.Requests[corev1.ResourceMemory], c.Resources.Limits[corev1.ResourceMemory]
	heap, err := parseBytes(env["GOMEMLIMIT"])
	if err != nil {
		t.Errorf("GOMEMLIMIT %q: %v", env["GOMEMLIMIT"], err)
	}
	if heap <= 0 || mib(req) < cfg.CPUCapacityMB+heap>>20+256 || mib(lim) < mib(req) {
		t.Errorf("memory request %v / limit %v for a %d MiB CPU tier and a %d MiB Go heap: want request >= tier + heap + 256 MiB, limit >= request",
			req.String(), lim.String(), cfg.CPUCapacityMB, heap>>20)
	}
	if cpu := c.Resources.Requests[corev1.ResourceCPU]; cpu.IsZero() {
		t.Error("no CPU request")
	}
	mounts := map[string]string{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm.MountPath
	}
	var dataSize int64
	for _, pvc := range sts.Spec.VolumeClaimTemplates {
		if mounts[pvc.Name] == cfg.Disk.Path {
			dataSize = mib(pvc.Spec.Resources.Requests[corev1.ResourceStorage])
		}
	}
	if cfg.Disk.CapacityMB <= 0 || dataSize < cfg.Disk.CapacityMB {
		t.Errorf("disk tier %d MiB at %s, its volume claim %d MiB", cfg.Disk.CapacityMB, cfg.Disk.Path, dataSize)
	}

	// Locked down: non-root, read-only root, no privileges.
	sc, psc := c.SecurityContext, pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("the pod must run as a non-root user")
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil ||
		*sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Error("the container must have a read-only root, no privilege escalation and no capabilities")
	}
	if a := sts.Spec.Template.Annotations; a["prometheus.io/port"] != port(cfg.Listen.Admin) || a["prometheus.io/path"] != "/metrics" {
		t.Errorf("scrape annotations %v: want the admin port's /metrics", a)
	}
	if !cfg.Telemetry.Export {
		t.Error("telemetry.export is off: Prometheus would find no /metrics")
	}

	// kustomize: the base lists every manifest but the example Secret.
	base := m.kustomize[filepath.Join(k8sDir, "kustomization.yaml")]
	if base == nil {
		t.Fatal("no kustomization.yaml")
	}
	entries, err := os.ReadDir(k8sDir)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range entries {
		if !e.IsDir() && e.Name() != "kustomization.yaml" && e.Name() != "secret.example.yaml" {
			want = append(want, e.Name())
		}
	}
	got := slices.Clone(base.Resources)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization resources %v, want %v", got, want)
	}
	if len(base.Images) != 1 || base.Images[0].Name != strings.Split(c.Image, ":")[0] {
		t.Errorf("kustomization images %+v do not name the container's image %s", base.Images, c.Image)
	}
}

// The optional DAX overlay patches the base: the host's device in the
// container and the CXL tier on through the environment.
func TestKubernetesDAXOverlay(t *testing.T) {
	m := loadManifests(t)
	dir := filepath.Join(k8sDir, "cxl-dax")
	k := m.kustomize[filepath.Join(dir, "kustomization.yaml")]
	if k == nil || !slices.Equal(k.Resources, []string{"../"}) || len(k.Patches) != 1 {
		t.Fatalf("overlay kustomization %+v: want the base plus one patch", k)
	}
	patch := m.statefulSets[filepath.Join(dir, k.Patches[0].Path)]
	base := m.statefulSets[filepath.Join(k8sDir, "statefulset.yaml")]
	if patch == nil || base == nil || patch.Name != base.Name {
		t.Fatalf("the patch must be a StatefulSet named like the base")
	}
	pc := patch.Spec.Template.Spec.Containers
	bc := base.Spec.Template.Spec.Containers[0]
	if len(pc) != 1 || pc[0].Name != bc.Name {
		t.Fatalf("the patch's container must be the base's %q", bc.Name)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range patch.Spec.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	var device string
	for _, vm := range pc[0].VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok || v.HostPath == nil || v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathCharDev || v.HostPath.Path != vm.MountPath {
			t.Errorf("mount %s: want a hostPath character device at the same path", vm.Name)
		}
		device = vm.MountPath
	}
	merged := bc.DeepCopy()
	merged.Env = append(merged.Env, pc[0].Env...)
	cfg, _ := podConfig(t, m, *merged, base.Spec.Template.Spec)
	if !cfg.UseCXL || cfg.CXLDaxDevice != device || device == "" {
		t.Errorf("overlay: use_cxl %v, cxl_dax_device %q, device mounted at %q", cfg.UseCXL, cfg.CXLDaxDevice, device)
	}
}

// podConfig is the configuration a node in this pod runs with: the
// ConfigMap's file (mounted where -config points) through node.Parse, then
// the container's STRATACACHE_ variables, with the values Kubernetes would
// put there (the pod's name and IP, the Secret's keys), checked by the node
// as `serve` checks them. It returns the config and the environment.
func podConfig(t *testing.T, m *manifests, c corev1.Container, pod corev1.PodSpec) (node.Config, map[string]string) {
	t.Helper()
	configPath := ""
	for i, a := range c.Args {
		if a == "-config" && i+1 < len(c.Args) {
			configPath = c.Args[i+1]
		}
	}
	var cm *corev1.ConfigMap
	for _, vm := range c.VolumeMounts {
		if filepath.Dir(configPath) != vm.MountPath {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil {
				cm = m.configMaps[v.ConfigMap.Name]
			}
		}
	}
	if cm == nil {
		t.Fatalf("-config %q is not a file of a mounted ConfigMap", configPath)
	}
	raw, ok := cm.Data[filepath.Base(configPath)]
	if !ok {
		t.Fatalf("ConfigMap %s has no %s", cm.Name, filepath.Base(configPath))
	}
	cfg, err := node.Parse([]byte(raw))
	if err != nil {
		t.Fatalf("ConfigMap %s: %v", cm.Name, err)
	}
	// What the downward API and the Secret would give.
	gossipKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	fields := map[string]string{"metadata.name": "stratacache-0", "status.podIP": "10.0.0.7"}
	env := map[string]string{}
	var environ []string
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for _, e := range c.Env {
		v := e.Value
		switch {
		case e.ValueFrom == nil:
			v = ref.ReplaceAllStringFunc(v, func(s string) string { return env[ref.FindStringSubmatch(s)[1]] })
		case e.ValueFrom.FieldRef != nil:
			v = fields[e.ValueFrom.FieldRef.FieldPath]
			if v == "" {
				t.Errorf("env %s: field %s not modelled by the test", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.SecretKeyRef != nil:
			sk := e.ValueFrom.SecretKeyRef
			sec := m.secrets[sk.Name]
			if sec == nil {
				t.Errorf("env %s: Secret %s is not in secret.example.yaml", e.Name, sk.Name)
			} else if _, ok := sec.StringData[sk.Key]; !ok {
				t.Errorf("env %s: Secret %s has no key %s", e.Name, sk.Name, sk.Key)
			}
			v = "example-" + sk.Name + "-" + sk.Key
			if strings.HasSuffix(e.Name, "GOSSIP_KEY") {
				v = gossipKey
			}
		default:
			t.Errorf("env %s: unexpected source", e.Name)
		}
		env[e.Name] = v
		environ = append(environ, e.Name+"="+v)
	}
	if err := node.CheckEnv(environ); err != nil {
		t.Errorf("the container's environment: %v", err)
	}
	if err := cfg.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the pod's config does not validate: %v", err)
	}
	if _, err := node.ClusterSettings(cfg, nil); err != nil {
		t.Fatalf("the pod's cluster settings: %v", err)
	}
	return cfg, env
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// parseBytes reads a GOMEMLIMIT value (a number with an optional B, KiB,
// MiB, GiB or TiB suffix, as the Go runtime reads it).
func parseBytes(s string) (int64, error) {
	for i, suf := range []string{"TiB", "GiB", "MiB", "KiB"} {
		if n, ok := strings.CutSuffix(s, suf); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v << (10 * (4 - i)), err
		}
	}
	return strconv.ParseInt(strings.TrimSuffix(s, "B"), 10, 64)
}
