package k8s_test

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

const (
	namespace   = "datalab"
	datalabBin  = "/usr/local/bin/datalab"
	datalabUID  = 65532
	nameLabel   = "app.kubernetes.io/name"
	healthzPath = "/healthz"
)

// The Deployments every overlay runs, and the subcommand each runs.
var appCommands = map[string]string{
	"match-app":        "serve",
	"flight-app":       "serve-flights",
	"flight-predictor": "predictor",
}

// The variable each subcommand reads its listen address from.
var addrVars = map[string]string{
	"serve":         "DATALAB_ADDR",
	"serve-flights": "DATALAB_FLIGHT_ADDR",
	"predictor":     "DATALAB_PREDICTOR_ADDR",
}

// Containers allowed a writable root file system, and why.
var writableRoot = map[string]string{
	"StatefulSet/kafka/kafka": "apache/kafka's start script rewrites /opt/kafka/config at every start",
}

// Secrets the manifests may reference; all are created out of band.
var knownSecrets = []string{"datalab-db", "datalab-postgres", "datalab-kafka"}

// What a credential looks like in a literal value: user:password@ in a URL
// or a DSN, or password= in a key/value DSN.
var credential = regexp.MustCompile(`(?i)://[^/@\s:]+:[^/@\s]+@|[^/@\s:]+:[^/@\s]+@tcp\(|password=`)

// podOwner is a pod template with the object that owns it.
type podOwner struct {
	id     string // Kind/name
	labels map[string]string
	spec   corev1.PodSpec
}

// inventory indexes the rendered objects.
type inventory struct {
	pods        []podOwner
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pdbs        []*policyv1.PodDisruptionBudget
	ingresses   []*networkingv1.Ingress
	policies    []*networkingv1.NetworkPolicy
	pvcs        map[string]*corev1.PersistentVolumeClaim
	pvs         map[string]*corev1.PersistentVolume
	statefulSet map[string]*appsv1.StatefulSet
	secrets     []*corev1.Secret
	all         []metav1.Object
	kinds       map[metav1.Object]string
}

func index(objs []runtime.Object) *inventory {
	inv := &inventory{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, pvcs: map[string]*corev1.PersistentVolumeClaim{},
		pvs: map[string]*corev1.PersistentVolume{}, statefulSet: map[string]*appsv1.StatefulSet{},
		kinds: map[metav1.Object]string{}}
	for _, o := range objs {
		kind := o.GetObjectKind().GroupVersionKind().Kind
		switch v := o.(type) {
		case *appsv1.Deployment:
			inv.deployments[v.Name] = v
			inv.pods = append(inv.pods, podOwner{"Deployment/" + v.Name, v.Spec.Template.Labels, v.Spec.Template.Spec})
		case *appsv1.StatefulSet:
			inv.statefulSet[v.Name] = v
			inv.pods = append(inv.pods, podOwner{"StatefulSet/" + v.Name, v.Spec.Template.Labels, v.Spec.Template.Spec})
		case *corev1.Pod:
			inv.pods = append(inv.pods, podOwner{"Pod/" + v.Name, v.Labels, v.Spec})
		case *corev1.Service:
			inv.services[v.Name] = v
		case *corev1.ConfigMap:
			inv.configMaps[v.Name] = v
		case *corev1.Secret:
			inv.secrets = append(inv.secrets, v)
		case *corev1.PersistentVolumeClaim:
			inv.pvcs[v.Name] = v
		case *corev1.PersistentVolume:
			inv.pvs[v.Name] = v
		case *autoscalingv2.HorizontalPodAutoscaler:
			inv.hpas = append(inv.hpas, v)
		case *policyv1.PodDisruptionBudget:
			inv.pdbs = append(inv.pdbs, v)
		case *networkingv1.Ingress:
			inv.ingresses = append(inv.ingresses, v)
		case *networkingv1.NetworkPolicy:
			inv.policies = append(inv.policies, v)
		}
		if m, ok := o.(metav1.Object); ok {
			inv.all = append(inv.all, m)
			inv.kinds[m] = kind
		}
	}
	return inv
}

// checkRules returns every way objs break the deployment rules of
// docs/deploy-kubernetes.md, one line each.
func checkRules(objs []runtime.Object, o overlay, pins map[string]string) []string {
	inv := index(objs)
	var p problems
	checkNamespaces(inv, &p)
	for _, pod := range inv.pods {
		checkPod(inv, pod, pins, &p)
	}
	checkSecrets(inv, &p)
	checkServices(inv, &p)
	checkScaling(inv, o, &p)
	checkIngress(inv, o, &p)
	checkNetworkPolicies(inv, o, &p)
	checkData(inv, o, &p)
	checkModels(inv, o, &p)
	sort.Strings(p)
	return p
}

type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func checkNamespaces(inv *inventory, p *problems) {
	for _, m := range inv.all {
		kind := inv.kinds[m]
		if kind == "Namespace" || kind == "PersistentVolume" {
			continue
		}
		if m.GetNamespace() != namespace {
			p.add("%s/%s: namespace %q, want %q", kind, m.GetName(), m.GetNamespace(), namespace)
		}
	}
}

func checkPod(inv *inventory, pod podOwner, pins map[string]string, p *problems) {
	s := pod.spec
	if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
		p.add("%s: automountServiceAccountToken is not false (no datalab pod calls the API)", pod.id)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range s.Volumes {
		volumes[v.Name] = v
		if c := v.PersistentVolumeClaim; c != nil && inv.pvcs[c.ClaimName] == nil && !isTemplateClaim(inv, pod, c.ClaimName) {
			p.add("%s: volume %s uses claim %s, which no overlay file defines", pod.id, v.Name, c.ClaimName)
		}
	}
	for _, c := range slices.Concat(s.InitContainers, s.Containers) {
		id := fmt.Sprintf("%s container %s", pod.id, c.Name)
		key := pod.id + "/" + c.Name
		checkSecurity(s.SecurityContext, c, id, key, p)
		checkResources(c, id, p)
		checkImage(c, id, pins, p)
		checkEnv(inv, c, id, p)
		isDatalab := len(c.Command) > 0 && c.Command[0] == datalabBin
		if isDatalab {
			checkDatalabContainer(pod, c, id, volumes, p)
		} else if !strings.HasPrefix(pod.id, "Pod/") { // a bare Pod is a one-off tool
			if c.ReadinessProbe == nil {
				p.add("%s: no readinessProbe", id)
			}
			if c.LivenessProbe == nil {
				p.add("%s: no livenessProbe", id)
			}
		}
	}
}

// isTemplateClaim: a StatefulSet's volumeClaimTemplates create their claims.
func isTemplateClaim(inv *inventory, pod podOwner, claim string) bool {
	name, ok := strings.CutPrefix(pod.id, "StatefulSet/")
	if !ok {
		return false
	}
	for _, t := range inv.statefulSet[name].Spec.VolumeClaimTemplates {
		if t.Name == claim {
			return true
		}
	}
	return false
}

// checkSecurity applies the restricted Pod Security Standard plus a
// read-only root file system. Container settings override the pod's.
func checkSecurity(podSC *corev1.PodSecurityContext, c corev1.Container, id, key string, p *problems) {
	if podSC == nil {
		podSC = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	nonRoot, uid, seccomp := podSC.RunAsNonRoot, podSC.RunAsUser, podSC.SeccompProfile
	if sc.RunAsNonRoot != nil {
		nonRoot = sc.RunAsNonRoot
	}
	if sc.RunAsUser != nil {
		uid = sc.RunAsUser
	}
	if sc.SeccompProfile != nil {
		seccomp = sc.SeccompProfile
	}
	if nonRoot == nil || !*nonRoot {
		p.add("%s: runAsNonRoot is not true", id)
	}
	if uid == nil || *uid == 0 {
		p.add("%s: no non-zero runAsUser", id)
	} else if len(c.Command) > 0 && c.Command[0] == datalabBin && *uid != datalabUID {
		p.add("%s: runAsUser %d, the datalab images run as %d", id, *uid, datalabUID)
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		p.add("%s: no seccompProfile RuntimeDefault", id)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p.add("%s: allowPrivilegeEscalation is not false", id)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		p.add("%s: capabilities do not drop ALL (or add some)", id)
	}
	if sc.Privileged != nil && *sc.Privileged {
		p.add("%s: privileged", id)
	}
	ro := sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	if _, allowed := writableRoot[key]; !ro && !allowed {
		p.add("%s: readOnlyRootFilesystem is not true", id)
	}
}

func checkResources(c corev1.Container, id string, p *problems) {
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
			p.add("%s: no %s request", id, r)
		}
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
		p.add("%s: no memory limit", id)
	}
}

// checkImage: every image is name:tag with the tag pinned by an images:
// entry of the kustomization files (the one place versions are set).
func checkImage(c corev1.Container, id string, pins map[string]string, p *problems) {
	name, tag := c.Image, ""
	if i := strings.LastIndex(c.Image, ":"); i > strings.LastIndex(c.Image, "/") {
		name, tag = c.Image[:i], c.Image[i+1:]
	}
	if tag == "" || tag == "latest" || pins[name] != tag {
		p.add("%s: image %s is not a pinned tag (images: in kustomization.yaml)", id, c.Image)
	}
}

func checkEnv(inv *inventory, c corev1.Container, id string, p *problems) {
	for _, e := range c.Env {
		secretish := e.Name == "DATALAB_DB" || e.Name == "DATALAB_FLIGHT_STORE" ||
			strings.Contains(e.Name, "PASSWORD") || strings.Contains(e.Name, "SECRET") || strings.Contains(e.Name, "TOKEN")
		if e.Value != "" && (secretish || credential.MatchString(e.Value)) {
			p.add("%s: env %s has a literal value that looks like a secret (use secretKeyRef)", id, e.Name)
		}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !slices.Contains(knownSecrets, e.ValueFrom.SecretKeyRef.Name) {
			p.add("%s: env %s reads Secret %s, not one of the documented %v", id, e.Name, e.ValueFrom.SecretKeyRef.Name, knownSecrets)
		}
	}
	for _, f := range c.EnvFrom {
		if f.ConfigMapRef != nil && inv.configMaps[f.ConfigMapRef.Name] == nil {
			p.add("%s: envFrom ConfigMap %s is not rendered", id, f.ConfigMapRef.Name)
		}
		if f.SecretRef != nil {
			p.add("%s: envFrom Secret %s (reference single keys with secretKeyRef)", id, f.SecretRef.Name)
		}
	}
}

func checkDatalabContainer(pod podOwner, c corev1.Container, id string, volumes map[string]corev1.Volume, p *problems) {
	app := pod.labels[nameLabel]
	if want, ok := appCommands[app]; ok && (len(c.Command) < 2 || c.Command[1] != want) {
		p.add("%s: command %v, want %s %s", id, c.Command, datalabBin, want)
	}
	var http *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].Name == "http" {
			http = &c.Ports[i]
		}
	}
	if http == nil {
		p.add("%s: no port named http to probe %s on", id, healthzPath)
		if len(c.Ports) > 0 {
			p.add("%s: ports without one named http", id)
		}
	} else {
		for _, pr := range []struct {
			name  string
			probe *corev1.Probe
			need  bool
		}{{"readinessProbe", c.ReadinessProbe, true}, {"livenessProbe", c.LivenessProbe, true}, {"startupProbe", c.StartupProbe, false}} {
			switch {
			case pr.probe == nil && pr.need:
				p.add("%s: no %s", id, pr.name)
			case pr.probe == nil:
			case pr.probe.HTTPGet == nil || pr.probe.HTTPGet.Path != healthzPath:
				p.add("%s: %s is not an HTTP GET of %s", id, pr.name, healthzPath)
			case pr.probe.HTTPGet.Port.String() != http.Name && pr.probe.HTTPGet.Port.IntValue() != int(http.ContainerPort):
				p.add("%s: %s probes port %s, the app listens on %s (%d)", id, pr.name, pr.probe.HTTPGet.Port.String(), http.Name, http.ContainerPort)
			}
		}
		if addr := listenAddr(c); addr != ":"+strconv.Itoa(int(http.ContainerPort)) {
			p.add("%s: listens on %q but containerPort is %d", id, addr, http.ContainerPort)
		}
	}
	// With a read-only root, writes go to emptyDirs only; anything else is
	// mounted read-only.
	for _, m := range c.VolumeMounts {
		if v, ok := volumes[m.Name]; ok && v.EmptyDir == nil && !m.ReadOnly {
			p.add("%s: volume %s is mounted writable and is not an emptyDir", id, m.Name)
		}
	}
}

// listenAddr is the address the container's subcommand listens on.
func listenAddr(c corev1.Container) string {
	if len(c.Command) < 2 {
		return ""
	}
	env := addrVars[c.Command[1]]
	for _, e := range c.Env {
		if e.Name == env {
			return e.Value
		}
	}
	return ""
}

func checkSecrets(inv *inventory, p *problems) {
	for _, s := range inv.secrets {
		p.add("Secret/%s: a Secret is rendered (%d data keys, %d stringData keys); Secrets are created out of band and only referenced",
			s.Name, len(s.Data), len(s.StringData))
	}
	for _, cm := range inv.configMaps {
		for k, v := range cm.Data {
			if credential.MatchString(v) {
				p.add("ConfigMap/%s: %s looks like a credential", cm.Name, k)
			}
		}
	}
}

// checkServices: nothing is exposed outside the cluster except through the
// Ingress; in particular never the database or Kafka.
func checkServices(inv *inventory, p *problems) {
	for _, s := range inv.services {
		if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
			p.add("Service/%s: type %s (only ClusterIP; the Ingress is the way in)", s.Name, s.Spec.Type)
		}
		if len(s.Spec.ExternalIPs) > 0 {
			p.add("Service/%s: externalIPs", s.Name)
		}
	}
}

func checkScaling(inv *inventory, o overlay, p *problems) {
	for name := range appCommands {
		if inv.deployments[name] == nil {
			p.add("Deployment/%s is missing", name)
		}
	}
	targets := map[string]*autoscalingv2.HorizontalPodAutoscaler{}
	for _, h := range inv.hpas {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || inv.deployments[ref.Name] == nil {
			p.add("HorizontalPodAutoscaler/%s: targets %s %s/%s, not a rendered Deployment", h.Name, ref.APIVersion, ref.Kind, ref.Name)
			continue
		}
		targets[ref.Name] = h
		if d := inv.deployments[ref.Name]; d.Spec.Replicas != nil {
			p.add("Deployment/%s: replicas set although HorizontalPodAutoscaler/%s manages it (every apply would reset the count)", d.Name, h.Name)
		}
	}
	for _, d := range inv.deployments {
		if d.Spec.Template.Labels["app.kubernetes.io/component"] != "web" {
			continue
		}
		h := targets[d.Name]
		if h == nil {
			p.add("no HorizontalPodAutoscaler targets Deployment/%s", d.Name)
		} else if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
			p.add("HorizontalPodAutoscaler/%s: minReplicas below 2 for a web app", h.Name)
		}
		covered := false
		for _, b := range inv.pdbs {
			sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
			if err == nil && !sel.Empty() && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				covered = true
			}
		}
		if !covered {
			p.add("no PodDisruptionBudget covers Deployment/%s", d.Name)
		}
	}
	// A consumer group uses at most one member per partition: the
	// predictor's ceiling is the partition count the topics are created with.
	pred := targets["flight-predictor"]
	if pred == nil {
		if inv.deployments["flight-predictor"] != nil {
			p.add("no HorizontalPodAutoscaler targets Deployment/flight-predictor")
		}
		return
	}
	want := strconv.Itoa(int(pred.Spec.MaxReplicas))
	for _, name := range []string{"flight-predictor", "flight-app"} {
		if d := inv.deployments[name]; d != nil {
			if got := flagValue(d.Spec.Template.Spec.Containers[0].Args, "--partitions"); got != want {
				p.add("Deployment/%s: --partitions=%s but the predictor's maxReplicas is %s", name, got, want)
			}
		}
	}
	if o.inClusterData {
		if k := inv.statefulSet["kafka"]; k != nil {
			if got := envValue(k.Spec.Template.Spec.Containers[0], "KAFKA_NUM_PARTITIONS"); got != want {
				p.add("StatefulSet/kafka: KAFKA_NUM_PARTITIONS=%s but the predictor's maxReplicas is %s", got, want)
			}
		}
	}
}

func flagValue(args []string, flag string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// checkIngress: the controller each overlay expects, backends that exist,
// and no route to the internal endpoints.
func checkIngress(inv *inventory, o overlay, p *problems) {
	if len(inv.ingresses) != 1 {
		p.add("%d Ingresses rendered, want 1", len(inv.ingresses))
	}
	for _, ing := range inv.ingresses {
		id := "Ingress/" + ing.Name
		class := ""
		if ing.Spec.IngressClassName != nil {
			class = *ing.Spec.IngressClassName
		}
		annotation := ing.Annotations["kubernetes.io/ingress.class"]
		if class != o.ingressClass || annotation != o.ingressAnnotation {
			p.add("%s: ingressClassName %q and annotation %q, want %q and %q", id, class, annotation, o.ingressClass, o.ingressAnnotation)
		}
		if class != "" && annotation != "" {
			p.add("%s: both ingressClassName and the class annotation (the API server refuses it)", id)
		}
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, path := range r.HTTP.Paths {
				b := path.Backend.Service
				if b == nil {
					p.add("%s: path %s has no Service backend", id, path.Path)
					continue
				}
				if svc := inv.services[b.Name]; svc == nil {
					p.add("%s: path %s goes to Service %s, which is not rendered", id, path.Path, b.Name)
				} else if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
					return sp.Name == b.Port.Name && b.Port.Name != "" || b.Port.Number != 0 && sp.Port == b.Port.Number
				}) {
					p.add("%s: path %s goes to a port Service %s does not have", id, path.Path, b.Name)
				}
				for _, internal := range []string{"/metrics", healthzPath} {
					if routes(path, internal) {
						p.add("%s: path %s (%s) routes %s", id, path.Path, pathType(path), internal)
					}
				}
			}
		}
	}
}

func pathType(path networkingv1.HTTPIngressPath) string {
	if path.PathType == nil {
		return ""
	}
	return string(*path.PathType)
}

// routes reports whether an Ingress path matches the request path x.
// ImplementationSpecific and unset path types are treated as prefixes.
func routes(path networkingv1.HTTPIngressPath, x string) bool {
	if pathType(path) == string(networkingv1.PathTypeExact) {
		return path.Path == x
	}
	prefix := strings.TrimSuffix(path.Path, "/")
	return prefix == "" || x == prefix || strings.HasPrefix(x, prefix+"/")
}

func checkNetworkPolicies(inv *inventory, o overlay, p *problems) {
	denyAll := false
	for _, np := range inv.policies {
		if len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0 &&
			slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && len(np.Spec.Ingress) == 0 {
			denyAll = true
		}
	}
	if !denyAll {
		p.add("no default-deny NetworkPolicy for ingress")
	}
	if !o.inClusterData {
		return
	}
	// The database and Kafka: only datalab apps, picked by pod selector in
	// this namespace, on the client port.
	for _, data := range []struct {
		name    string
		port    int
		clients []string
	}{{"postgres", 5432, []string{"match-app", "flight-app", "flight-predictor"}}, {"kafka", 9092, []string{"flight-app", "flight-predictor"}}} {
		found := false
		for _, np := range inv.policies {
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set{nameLabel: data.name}) {
				continue
			}
			found = true
			for _, rule := range np.Spec.Ingress {
				if len(rule.From) == 0 {
					p.add("NetworkPolicy/%s: admits %s from anywhere", np.Name, data.name)
				}
				for _, peer := range rule.From {
					if peer.IPBlock != nil || peer.NamespaceSelector != nil || peer.PodSelector == nil {
						p.add("NetworkPolicy/%s: admits %s from outside the datalab apps", np.Name, data.name)
						continue
					}
					from, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
					if err != nil || from.Empty() {
						p.add("NetworkPolicy/%s: admits %s from every pod", np.Name, data.name)
						continue
					}
					for name := range appCommands {
						if from.Matches(labels.Set{nameLabel: name}) != slices.Contains(data.clients, name) {
							p.add("NetworkPolicy/%s: %s reaching %s is %v", np.Name, name, data.name, from.Matches(labels.Set{nameLabel: name}))
						}
					}
				}
				if len(rule.Ports) != 1 || rule.Ports[0].Port == nil || rule.Ports[0].Port.IntValue() != data.port {
					p.add("NetworkPolicy/%s: %s is open on more than port %d", np.Name, data.name, data.port)
				}
			}
		}
		if !found {
			p.add("no NetworkPolicy selects %s", data.name)
		}
	}
}

// checkData: Kafka and PostgreSQL run in the cluster only in local; the
// cloud overlays point at managed services.
func checkData(inv *inventory, o overlay, p *problems) {
	for _, name := range []string{"kafka", "postgres"} {
		_, running := inv.statefulSet[name]
		if running != o.inClusterData {
			p.add("StatefulSet/%s rendered: %v, want %v", name, running, o.inClusterData)
		}
	}
	brokers := ""
	for _, cm := range inv.configMaps {
		if strings.HasPrefix(cm.Name, "datalab-config") {
			brokers = cm.Data["DATALAB_BROKERS"]
		}
	}
	if inCluster := brokers == "kafka:9092"; inCluster != o.inClusterData {
		p.add("DATALAB_BROKERS=%q in a %s overlay", brokers, map[bool]string{true: "in-cluster Kafka", false: "managed Kafka"}[o.inClusterData])
	}
}

func checkModels(inv *inventory, o overlay, p *problems) {
	pvc := inv.pvcs["datalab-models"]
	if pvc == nil {
		p.add("PersistentVolumeClaim/datalab-models is missing")
		return
	}
	if o.modelsDriver == "" {
		if len(inv.pvs) > 0 {
			p.add("%d PersistentVolumes rendered for a dynamically provisioned claim", len(inv.pvs))
		}
		return
	}
	pv := inv.pvs[pvc.Spec.VolumeName]
	switch {
	case pv == nil:
		p.add("PersistentVolumeClaim/datalab-models: volumeName %q is not rendered", pvc.Spec.VolumeName)
	case pv.Spec.CSI == nil || pv.Spec.CSI.Driver != o.modelsDriver:
		p.add("PersistentVolume/%s: not the %s CSI driver", pv.Name, o.modelsDriver)
	case !slices.Equal(pv.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany}) ||
		!slices.Equal(pvc.Spec.AccessModes, pv.Spec.AccessModes):
		p.add("PersistentVolume/%s: access modes %v / claim %v, want ReadOnlyMany", pv.Name, pv.Spec.AccessModes, pvc.Spec.AccessModes)
	}
}
