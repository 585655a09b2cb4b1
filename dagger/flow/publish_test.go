package flow_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"dagger/datalab/fakeengine"
	"dagger/datalab/flow"
)

// indexJSON is an OCI layout index as `datalab image` writes it (the
// annotations flow reads; TestBuiltImagesOfDatalabImage checks the real one).
const indexJSON = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
 {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111",
  "annotations":{"org.opencontainers.image.ref.name":"serve","io.containerd.image.name":"docker.io/datalab/serve:v1.2.3"},"platform":{"architecture":"amd64","os":"linux"}},
 {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222",
  "annotations":{"org.opencontainers.image.ref.name":"predictor","io.containerd.image.name":"docker.io/datalab/predictor:v1.2.3"},"platform":{"architecture":"amd64","os":"linux"}},
 {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333",
  "annotations":{"org.opencontainers.image.ref.name":"pipeline","io.containerd.image.name":"docker.io/datalab/pipeline:v1.2.3"},"platform":{"architecture":"amd64","os":"linux"}}]}`

const plaintext = "hunter2-not-to-be-seen-7f3a"

// TestPublish: the images datalab image built are imported from its docker
// tarball by the names in its index and pushed to the registry, each with
// registry auth whose password is the caller's secret — passed by ID only:
// the plaintext, which the fake engine would serve if asked, is never
// requested and never appears in any query.
func TestPublish(t *testing.T) {
	e, c, lab := session(t, false)
	e.Answer = func(chain fakeengine.Chain, leaf fakeengine.Call) (any, bool) {
		last := chain[len(chain)-1]
		if leaf.Field == "contents" && last.Field == "file" && last.Args["path"] == "oci/index.json" {
			return indexJSON, true
		}
		return nil, false
	}
	password := e.Secret(c, "caller-password", plaintext)

	refs, err := lab.Publish(context.Background(), "ghcr.io/me/", "me", password, "v1.2.3")
	if err != nil {
		t.Fatal(err)
	}

	var pushed []string
	for _, ev := range e.Evals() {
		switch ev.Leaf.Field {
		case "plaintext":
			t.Errorf("the password's plaintext was requested")
		case "publish":
			addr := ev.Leaf.Args["address"].(string)
			pushed = append(pushed, addr)
			got := e.Describe(ev.Chain)
			name := strings.TrimSuffix(strings.TrimPrefix(addr, "ghcr.io/me/datalab-"), ":v1.2.3")
			if len(got.Imports) != 1 || got.Imports[0].Tag != "docker.io/datalab/"+name+":v1.2.3" {
				t.Errorf("%s: imports %+v, want one of tag docker.io/datalab/%s:v1.2.3", addr, got.Imports, name)
			} else if src := got.Imports[0].Source; src[len(src)-1].Field != "file" || src[len(src)-1].Args["path"] != "datalab-images.tar" ||
				!hasCall(src, "directory", "path", "/src/build/images") {
				t.Errorf("%s: imported from %v, want build/images/datalab-images.tar", addr, src)
			}
			if len(got.Auth) != 1 || got.Auth[0].Address != "ghcr.io" || got.Auth[0].Username != "me" {
				t.Fatalf("%s: registry auth %+v, want ghcr.io as me", addr, got.Auth)
			}
			secret, ok := e.Object(got.Auth[0].SecretID)
			want := fakeengine.Chain{{Field: "loadSecretFromID", Args: map[string]any{"id": "caller-password"}}}
			if !ok || !reflect.DeepEqual(secret, want) {
				t.Errorf("%s: auth secret %q is %v, want the caller's secret %v", addr, got.Auth[0].SecretID, secret, want)
			}
			if len(got.From) > 0 || len(got.Execs) > 0 || len(got.Env) > 0 {
				t.Errorf("%s: pushes more than the imported image: %+v", addr, got)
			}
		}
	}
	wantPushed := []string{"ghcr.io/me/datalab-serve:v1.2.3", "ghcr.io/me/datalab-predictor:v1.2.3", "ghcr.io/me/datalab-pipeline:v1.2.3"}
	if !reflect.DeepEqual(pushed, wantPushed) {
		t.Errorf("pushed %q, want %q", pushed, wantPushed)
	}
	if len(refs) != 3 || !strings.HasPrefix(refs[0], "ghcr.io/me/datalab-serve:v1.2.3@sha256:") {
		t.Errorf("returned %q, want the three references with digests", refs)
	}
	if got := e.Describe(ranContainer(t, e)).Execs; !reflect.DeepEqual(got[len(got)-1], []string{"datalab", "image", "--out", "build/images", "--version", "v1.2.3"}) {
		t.Errorf("image built with %q", got[len(got)-1])
	}
	for i, q := range e.Queries() {
		if strings.Contains(q, plaintext) {
			t.Errorf("query %d carries the password: %s", i, q)
		}
	}
}

func hasCall(c fakeengine.Chain, field, arg string, value any) bool {
	for _, call := range c {
		if call.Field == field && call.Args[arg] == value {
			return true
		}
	}
	return false
}

func TestPublishNeedsCredentials(t *testing.T) {
	e, c, lab := session(t, false)
	password := e.Secret(c, "caller-password", plaintext)
	for _, tc := range []struct{ registry, user string }{{"", "me"}, {"ghcr.io/me", ""}} {
		if _, err := lab.Publish(context.Background(), tc.registry, tc.user, password, ""); err == nil {
			t.Errorf("Publish(%q, %q) without them did not fail", tc.registry, tc.user)
		}
	}
	if n := len(e.Evals()); n != 0 {
		t.Errorf("%d evaluations before the arguments were checked", n)
	}
}

func TestRegistryHost(t *testing.T) {
	for in, want := range map[string]string{
		"ghcr.io/me":                "ghcr.io",
		"ghcr.io":                   "ghcr.io",
		"localhost:5000/team":       "localhost:5000",
		"localhost/team":            "localhost",
		"me":                        "docker.io",
		"docker.io/me":              "docker.io",
		"europe-docker.pkg.dev/p/r": "europe-docker.pkg.dev",
	} {
		if got := flow.RegistryHost(in); got != want {
			t.Errorf("RegistryHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBuiltImagesRejectsOtherIndexes(t *testing.T) {
	for _, bad := range []string{
		`not json`,
		`{"manifests":[]}`,
		`{"manifests":[{"annotations":{"org.opencontainers.image.ref.name":"serve"}}]}`,
		`{"manifests":[{"annotations":{"org.opencontainers.image.ref.name":"serve","io.containerd.image.name":"localhost:5000/datalab/serve"}}]}`,
	} {
		if _, err := flow.BuiltImages([]byte(bad)); err == nil {
			t.Errorf("BuiltImages(%s) accepted it", bad)
		}
	}
}

// TestBuiltImagesOfDatalabImage runs the real `datalab image` into a
// temporary directory and checks that Publish's reading of its output holds:
// the index names the three images with their docker names and tag, and the
// docker tarball is where Publish imports it from.
func TestBuiltImagesOfDatalabImage(t *testing.T) {
	root, bin := datalab(t)
	out := filepath.Join(t.TempDir(), "images")
	cmd := exec.Command(bin, "image", "--out", out, "--version", "v0.0.0-daggertest")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("datalab image: %v\n%s", err, b)
	}
	index, err := os.ReadFile(filepath.Join(out, "oci", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := flow.BuiltImages(index)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, im := range got {
		names = append(names, im.Name)
		if im.Ref != "docker.io/datalab/"+im.Name+":v0.0.0-daggertest" || im.Tag != "v0.0.0-daggertest" {
			t.Errorf("image %+v", im)
		}
	}
	if want := []string{"serve", "predictor", "pipeline"}; !reflect.DeepEqual(names, want) {
		t.Errorf("images %q, want %q", names, want)
	}
	if _, err := os.Stat(filepath.Join(out, "datalab-images.tar")); err != nil {
		t.Error(err)
	}
}
