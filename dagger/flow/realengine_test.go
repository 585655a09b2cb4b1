package flow_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dagger.io/dagger"

	"dagger/datalab/flow"
)

// The tests in this file run the containers flow builds on a real Dagger
// engine and check from inside them what the fake-engine tests assert about
// the queries: image, cache volumes, mounts, environment, working directory,
// secrets, root capabilities. They need the engine that dagger/realengine/run
// starts (make test-dagger); DATALAB_REALENGINE names the Go image it serves.
// Elsewhere they skip, saying so.
func realEngine(t *testing.T) (*dagger.Client, string) {
	t.Helper()
	goImage := os.Getenv("DATALAB_REALENGINE_GO_IMAGE")
	if goImage == "" || os.Getenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST") == "" {
		t.Skip("needs the real engine: make test-dagger (dagger/realengine/run) runs these")
	}
	c, err := dagger.Connect(context.Background(), dagger.WithLogOutput(os.Stderr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, goImage
}

// inside runs a shell script in ctr and returns its output.
func inside(t *testing.T, ctr *dagger.Container, script string, opts ...dagger.ContainerWithExecOpts) string {
	t.Helper()
	out, err := ctr.WithExec([]string{"sh", "-c", script}, opts...).Stdout(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	return out
}

// TestRealEngineGoContainer: the base container of every function, as the
// real engine runs it.
func TestRealEngineGoContainer(t *testing.T) {
	c, goImage := realEngine(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	src := c.Host().Directory(root, dagger.HostDirectoryOpts{Include: []string{"datalab.yaml", "go.mod"}})
	mirror := c.Directory().WithNewFile("PROVENANCE.md", "mirror")
	lab := flow.New(c, src, flow.WithMirror(mirror), flow.WithGoImage(goImage))
	out := inside(t, lab.Go(), `pwd; echo "GOTOOLCHAIN=$GOTOOLCHAIN"; echo "DATALAB_MIRROR=$DATALAB_MIRROR"
ls /src; cat /mirror/PROVENANCE.md; echo
go version; cat /etc/debian_version
# the cache volumes are mounts of their own, not the image's directories
awk '$5 == "/go/pkg/mod" || $5 == "/root/.cache/go-build" {print "mount " $5}' /proc/self/mountinfo | sort`)
	for _, want := range []string{"/src\n", "GOTOOLCHAIN=local\n", "DATALAB_MIRROR=/mirror\n", "datalab.yaml\ngo.mod\n", "mirror\n",
		"go version go1.26.8 linux/amd64\n", "12.", "mount /go/pkg/mod\nmount /root/.cache/go-build\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("the Go container printed\n%s\nwithout %q", out, want)
		}
	}
	// Two functions share the cache volumes: what one writes, the next sees.
	token := fmt.Sprint(os.Getpid())
	inside(t, lab.Go(), "echo "+token+" > /root/.cache/go-build/realengine-test")
	if got := inside(t, flow.New(c, src, flow.WithGoImage(goImage)).Go().WithEnvVariable("BUST", token),
		"cat /root/.cache/go-build/realengine-test"); strings.TrimSpace(got) != token {
		t.Errorf("the build cache volume is not shared between functions: %q", got)
	}
}

// TestRealEngineSecrets: credentials reach the command as the variables and
// the file flow promises, and the engine scrubs their values from output.
func TestRealEngineSecrets(t *testing.T) {
	c, goImage := realEngine(t)
	lab := flow.New(c, c.Directory(), flow.WithGoImage(goImage))
	// Not shaped like real credentials (repocheck's scan would rightly
	// flag those): only their delivery is tested. Names and values are new
	// on every run: the engine caches by secret name, not value
	// (TestRealEngineCachesAcrossSecretValues).
	nonce := fmt.Sprint(time.Now().UnixNano())
	key, gcp := "realengine-test-aws-key-id-"+nonce, `{"realengine-test":"gcp key file `+nonce+`"}`
	creds := flow.CloudCredentials{AWSAccessKeyID: c.SetSecret("aws-id-"+nonce, key), GCPKey: c.SetSecret("gcp-"+nonce, gcp)}
	ctr := flow.ApplyCredentials(creds, lab.Go())
	sum := func(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }
	out := inside(t, ctr, `printf %s "$AWS_ACCESS_KEY_ID" | sha256sum; sha256sum < "$GOOGLE_APPLICATION_CREDENTIALS"; echo "$GOOGLE_APPLICATION_CREDENTIALS"; echo "key=$AWS_ACCESS_KEY_ID"`)
	for _, want := range []string{sum(key), sum(gcp), flow.GCPKeyPath + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("inside:\n%s\nwithout %q", out, want)
		}
	}
	if strings.Contains(out, key) {
		t.Errorf("the secret's value came back in stdout:\n%s", out)
	}
	if !strings.Contains(out, "key=***") {
		t.Errorf("stdout does not show the scrubbed secret:\n%s", out)
	}
}

// TestRealEngineCachesAcrossSecretValues: two sessions run the same
// command with a secret of the same name but another value, and the second
// gets the first one's output from the engine's cache — the command does
// not run again. A changing plain input (what Deploy sets in DeployEnv,
// and a remote run in SyncEnv) makes it run.
func TestRealEngineCachesAcrossSecretValues(t *testing.T) {
	_, goImage := realEngine(t)
	name := fmt.Sprintf("realengine-cache-%d", time.Now().UnixNano())
	run := func(value, at string) string {
		t.Helper()
		c, err := dagger.Connect(context.Background(), dagger.WithLogOutput(io.Discard))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctr := flow.New(c, c.Directory(), flow.WithGoImage(goImage)).Go().
			WithSecretVariable("TOKEN", c.SetSecret(name, value))
		if at != "" {
			ctr = ctr.WithEnvVariable(flow.DeployEnv, at)
		}
		return inside(t, ctr, `printf %s "$TOKEN" | sha256sum; date +%s%N`)
	}
	first := run("value-one", "")
	second := run("value-two", "")
	if first != second {
		t.Errorf("the engine ran the command again for a new secret value (no cache by name):\n%s\n%s", first, second)
	}
	third := run("value-two", time.Now().UTC().Format(time.RFC3339Nano))
	if third == first || !strings.Contains(third, fmt.Sprintf("%x", sha256.Sum256([]byte("value-two")))) {
		t.Errorf("with %s set, the command did not run with the new value:\n%s\n%s", flow.DeployEnv, first, third)
	}
}

// TestRealEngineRootCapabilities: what Test's InsecureRootCapabilities is
// for — runc inside the container (ops/image's tests) needs to create mount
// namespaces, which a default container may not.
func TestRealEngineRootCapabilities(t *testing.T) {
	c, goImage := realEngine(t)
	ctr := flow.New(c, c.Directory(), flow.WithGoImage(goImage)).Go()
	script := "unshare --mount true && echo unshare-ok || echo unshare-refused"
	if out := inside(t, ctr, script); !strings.Contains(out, "unshare-refused") {
		t.Errorf("a default container created a mount namespace: %s", out)
	}
	if out := inside(t, ctr, script, dagger.ContainerWithExecOpts{InsecureRootCapabilities: true}); !strings.Contains(out, "unshare-ok") {
		t.Errorf("with InsecureRootCapabilities: %s", out)
	}
}
