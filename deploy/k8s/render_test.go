// Package k8s_test checks the kustomize tree under deploy/k8s without a
// cluster: every overlay is rendered with kustomize's Go API (what
// `kubectl apply -k` and `kustomize build` run), each resource is decoded
// strictly into its typed Kubernetes object (an unknown or misspelled field,
// or a value of the wrong type, fails), and the deployment rules of
// docs/deploy-kubernetes.md are asserted on the typed objects.
package k8s_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// overlay is what one overlay must render to.
type overlay struct {
	dir string
	// ingressClass is spec.ingressClassName; ingressAnnotation the legacy
	// kubernetes.io/ingress.class annotation (GKE's controller reads only it).
	ingressClass, ingressAnnotation string
	// inClusterData: Kafka and PostgreSQL run in the namespace (local only).
	inClusterData bool
	// modelsDriver is the CSI driver of the statically provisioned models
	// volume; empty for a dynamically provisioned claim.
	modelsDriver string
}

var overlays = []overlay{
	{dir: "overlays/local", ingressClass: "nginx", inClusterData: true},
	{dir: "overlays/gke", ingressAnnotation: "gce", modelsDriver: "gcsfuse.csi.storage.gke.io"},
	{dir: "overlays/eks", ingressClass: "alb", modelsDriver: "s3.csi.aws.com"},
}

// scheme knows only the API groups the manifests may use; any other kind
// fails to decode.
func newDecoder(t testing.TB) runtime.Decoder {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, networkingv1.AddToScheme,
		autoscalingv2.AddToScheme, policyv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}

// render runs kustomize on dir with the options `kubectl apply -k` uses
// (files only from inside the kustomization root, no plugins).
func render(dir string) ([][]byte, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var docs [][]byte
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", dir, r.CurId(), err)
		}
		docs = append(docs, y)
	}
	return docs, nil
}

// decodeStrict decodes every document into its typed object. Strict mode
// turns unknown and duplicate fields into errors; type mismatches always are.
func decodeStrict(dec runtime.Decoder, docs [][]byte) ([]runtime.Object, error) {
	var objs []runtime.Object
	for i, d := range docs {
		obj, gvk, err := dec.Decode(d, nil, nil)
		if err != nil {
			what := fmt.Sprintf("document %d", i)
			if gvk != nil {
				what += " (" + gvk.String() + ")"
			}
			return nil, fmt.Errorf("%s: %w\n%s", what, err, d)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

func renderTyped(t *testing.T, dir string) []runtime.Object {
	t.Helper()
	docs, err := render(dir)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeStrict(newDecoder(t), docs)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// pins reads the images: entries of the kustomization files in dirs.
func pins(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	tags := map[string]string{}
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var k types.Kustomization
		if err := yaml.UnmarshalStrict(b, &k); err != nil {
			t.Fatalf("%s/kustomization.yaml: %v", dir, err)
		}
		for _, im := range k.Images {
			name := im.Name
			if im.NewName != "" {
				name = im.NewName
			}
			tags[name] = im.NewTag
		}
	}
	return tags
}

func TestOverlaysRenderAndDecodeStrictly(t *testing.T) {
	for _, dir := range []string{"base", "overlays/local", "overlays/gke", "overlays/eks", "overlays/local/load-models"} {
		t.Run(dir, func(t *testing.T) {
			objs := renderTyped(t, dir)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[fmt.Sprintf("%T", o)]++
			}
			t.Logf("%d objects: %v", len(objs), kinds)
			if len(objs) == 0 {
				t.Fatal("nothing rendered")
			}
		})
	}
}

// The strict decoder is what catches a misspelled field: kustomize itself
// passes unknown fields through. Each broken manifest must fail with the
// reason given.
func TestStrictDecodeRejectsBrokenManifests(t *testing.T) {
	for _, c := range []struct{ dir, want string }{
		// readOnlyRootFileSystem (capital S) would silently leave the root
		// file system writable on a lenient apply.
		{"testdata/unknown-field", `unknown field "spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem"`},
		{"testdata/wrong-type", "containerPort"},
		{"testdata/unknown-kind", "no kind"},
	} {
		t.Run(c.dir, func(t *testing.T) {
			docs, err := render(c.dir)
			if err != nil {
				t.Fatal(err) // kustomize must render it: the decoder is under test
			}
			_, err = decodeStrict(newDecoder(t), docs)
			if err == nil {
				t.Fatalf("%s decoded without error", c.dir)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error does not mention %q:\n%v", c.want, err)
			}
		})
	}
}

func TestOverlaysFollowTheDeploymentRules(t *testing.T) {
	for _, o := range overlays {
		t.Run(o.dir, func(t *testing.T) {
			objs := renderTyped(t, o.dir)
			for _, p := range checkRules(objs, o, pins(t, "base", o.dir)) {
				t.Error(p)
			}
		})
	}
}

// The rules can fail: a manifest breaking each of them reports each.
func TestRulesCatchAnInsecureManifest(t *testing.T) {
	objs := renderTyped(t, "testdata/insecure")
	got := strings.Join(checkRules(objs, overlay{dir: "testdata/insecure", ingressClass: "nginx", inClusterData: true},
		map[string]string{"ghcr.io/datalabhq/datalab-serve": "v0.1.0"}), "\n")
	for _, want := range []string{
		"Deployment/match-app container match-app: no readinessProbe",
		"Deployment/match-app container match-app: no livenessProbe",
		"Deployment/match-app container match-app: runAsNonRoot is not true",
		"Deployment/match-app container match-app: readOnlyRootFilesystem is not true",
		"Deployment/match-app container match-app: allowPrivilegeEscalation is not false",
		"Deployment/match-app container match-app: capabilities do not drop ALL",
		"Deployment/match-app container match-app: no seccompProfile RuntimeDefault",
		"Deployment/match-app container match-app: no cpu request",
		"Deployment/match-app container match-app: image ghcr.io/datalabhq/datalab-serve:latest is not a pinned tag",
		"Deployment/match-app container match-app: env DATALAB_DB has a literal value that looks like a secret",
		"Deployment/match-app: replicas set although HorizontalPodAutoscaler",
		"Secret/datalab-db: a Secret is rendered",
		"Service/postgres: type NodePort",
		"Ingress/datalab: path / (Prefix) routes /metrics",
		"no HorizontalPodAutoscaler targets Deployment/flight-app",
		"no PodDisruptionBudget covers Deployment/match-app",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing problem %q", want)
		}
	}
	if t.Failed() {
		t.Logf("problems found:\n%s", got)
	}
}

// The loader pod is applied by hand (overlays/local/load-models) and must
// pass the namespace's restricted Pod Security Standard like the rest.
func TestModelsLoaderFollowsThePodRules(t *testing.T) {
	dir := "overlays/local/load-models"
	inv := index(renderTyped(t, dir))
	if len(inv.pods) != 1 {
		t.Fatalf("%d pods rendered, want the loader", len(inv.pods))
	}
	var p problems
	checkNamespaces(inv, &p)
	checkPod(inv, inv.pods[0], pins(t, dir), &p)
	for _, msg := range p {
		// The claim is defined by overlays/local, applied first.
		if !strings.Contains(msg, "uses claim datalab-models") {
			t.Error(msg)
		}
	}
}

// Every DATALAB_* variable the manifests set (ConfigMap or container env) is
// one that cmd/datalab reads: a misspelt name would be silently ignored.
func TestVariablesAreReadByTheCLI(t *testing.T) {
	var src []byte
	files, _ := filepath.Glob("../../cmd/datalab/*.go")
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && !strings.HasSuffix(f, "_test.go") {
			src = append(src, b...)
		}
	}
	for _, o := range overlays {
		inv := index(renderTyped(t, o.dir))
		var names []string
		for _, cm := range inv.configMaps {
			for k := range cm.Data {
				names = append(names, k)
			}
		}
		for _, pod := range inv.pods {
			for _, c := range pod.spec.Containers {
				for _, e := range c.Env {
					names = append(names, e.Name)
				}
			}
		}
		for _, n := range names {
			if strings.HasPrefix(n, "DATALAB_") && !strings.Contains(string(src), `"`+n+`"`) {
				t.Errorf("%s: %s is not read by cmd/datalab", o.dir, n)
			}
		}
	}
}
