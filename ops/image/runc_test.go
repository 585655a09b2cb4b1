package image_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/internal/testnet"
	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/ops/image"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// needRuntime skips unless the test can unpack and run images here: root,
// Debian's runc and umoci, and busybox-static for the pipeline image's shell.
// Under CI (CI set) it fails instead, so CI cannot pass by skipping.
func needRuntime(t *testing.T) {
	t.Helper()
	var missing []string
	for _, c := range []string{"runc", "umoci"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if _, err := image.HostShell(""); err != nil {
		missing = append(missing, "busybox-static")
	}
	var why []string
	if len(missing) > 0 {
		why = append(why, "missing Debian packages: apt-get install "+strings.Join(missing, " ")+" (bash .ci/setup installs them)")
	}
	if os.Geteuid() != 0 {
		why = append(why, "runc and umoci unpack need root")
	}
	if len(why) == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal(strings.Join(why, "; "))
	}
	t.Skip(strings.Join(why, "; "))
}

// runcBundle unpacks the image ref of the layout into a new OCI runtime
// bundle and rewrites its config.json with edit.
func runcBundle(t *testing.T, layoutDir, ref string, edit func(cfg map[string]any)) string {
	t.Helper()
	bundle := filepath.Join(t.TempDir(), "bundle")
	if out, err := exec.Command("umoci", "unpack", "--image", layoutDir+":"+ref, bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack %s: %v\n%s", ref, err, out)
	}
	p := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	process := cfg["process"].(map[string]any)
	process["terminal"] = false // stdio is the test's pipes, not a console
	edit(cfg)
	if b, err = json.MarshalIndent(cfg, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return bundle
}

// setArgs replaces the container's command line.
func setArgs(args ...string) func(map[string]any) {
	return func(cfg map[string]any) {
		process := cfg["process"].(map[string]any)
		process["args"] = args
	}
}

// addBind bind-mounts a host directory into the container.
func addBind(cfg map[string]any, src, dst string, readOnly bool) {
	mode := "rw"
	if readOnly {
		mode = "ro"
	}
	cfg["mounts"] = append(cfg["mounts"].([]any), map[string]any{"destination": dst, "type": "bind", "source": src, "options": []string{"rbind", mode}})
}

// hostNetwork drops the network namespace: the container shares the host's
// loopback, so the test can reach a server in it.
func hostNetwork(cfg map[string]any) {
	linux := cfg["linux"].(map[string]any)
	var kept []any
	for _, ns := range linux["namespaces"].([]any) {
		if ns.(map[string]any)["type"] != "network" {
			kept = append(kept, ns)
		}
	}
	linux["namespaces"] = kept
}

// runcCommand is `runc run` of a bundle under a container id that is
// deleted when the test ends.
func runcCommand(t *testing.T, ctx context.Context, bundle string) (*exec.Cmd, string) {
	id := fmt.Sprintf("datalab-image-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() { exec.Command("runc", "delete", "--force", id).Run() })
	return exec.CommandContext(ctx, "runc", "run", "--bundle", bundle, id), id
}

// TestImagesRunUnderRunc: the images unpack with umoci and run with runc, as
// the unprivileged user: `datalab --version` prints the stamped version,
// `serve` answers /healthz with a mounted model, and the pipeline image runs
// a stage through its /bin/sh.
func TestImagesRunUnderRunc(t *testing.T) {
	needRuntime(t)
	set, _ := assembled(t)
	out := filepath.Join(t.TempDir(), "images")
	if err := set.Write(out); err != nil {
		t.Fatal(err)
	}
	oci := filepath.Join(out, image.LayoutDir)

	t.Run("version", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		bundle := runcBundle(t, oci, "serve", setArgs(image.BinaryPath, "--version"))
		cmd, _ := runcCommand(t, ctx, bundle)
		got, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(got)) != "datalab version "+testVersion {
			t.Fatalf("datalab --version in the container: %q, %v", got, err)
		}
	})

	t.Run("serve", func(t *testing.T) {
		model := smallMatchModel(t)
		port := testnet.FreePort(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		bundle := runcBundle(t, oci, "serve", func(cfg map[string]any) {
			// The image's entrypoint and DATALAB_MODEL=/data/model, with only
			// the listen address changed through serve's --addr flag.
			setArgs(image.BinaryPath, "serve", "--addr", "127.0.0.1:"+strconv.Itoa(port))(cfg)
			hostNetwork(cfg)
			addBind(cfg, model, "/data/model", true)
		})
		cmd, id := runcCommand(t, ctx, bundle)
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()

		body, err := waitHealthy(ctx, "http://127.0.0.1:"+strconv.Itoa(port)+"/healthz", exited)
		if err != nil {
			t.Fatalf("%v\ncontainer output:\n%s", err, logs.String())
		}
		if !strings.Contains(body, `"status":"ok"`) {
			t.Errorf("/healthz: %s", body)
		}
		t.Logf("/healthz from the container: %s", body)

		if out, err := exec.Command("runc", "kill", id, "TERM").CombinedOutput(); err != nil {
			t.Fatalf("runc kill: %v\n%s", err, out)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("serve exited with %v after SIGTERM", err)
			}
		case <-ctx.Done():
			t.Fatal("serve did not stop after SIGTERM")
		}
		if !strings.Contains(logs.String(), "shutting down") {
			t.Errorf("no graceful shutdown in the logs:\n%s", logs.String())
		}
	})

	t.Run("pipeline", func(t *testing.T) {
		work := t.TempDir()
		pipeline := "stages:\n  hello:\n    cmd: datalab --version > out.txt && echo stage-ran >> out.txt\n    outs: [out.txt]\n"
		if err := os.WriteFile(filepath.Join(work, "datalab.yaml"), []byte(pipeline), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(work, image.UID, image.GID); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		bundle := runcBundle(t, oci, "pipeline", func(cfg map[string]any) {
			// The image's entrypoint (datalab run) plus a real run flag.
			setArgs(image.BinaryPath, "run", "--retries", "0")(cfg)
			addBind(cfg, work, image.WorkDir, false)
		})
		cmd, _ := runcCommand(t, ctx, bundle)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("datalab run in the pipeline image: %v\n%s", err, out)
		}
		got, err := os.ReadFile(filepath.Join(work, "out.txt"))
		if want := "datalab version " + testVersion + "\nstage-ran\n"; err != nil || string(got) != want {
			t.Fatalf("stage output %q (%v), want %q", got, err, want)
		}
	})
}

// waitHealthy polls url until it answers 200, the container exits or ctx
// ends.
func waitHealthy(ctx context.Context, url string, exited <-chan error) (string, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(b), nil
			}
		}
		select {
		case err := <-exited:
			return "", fmt.Errorf("the container exited before %s answered: %v", url, err)
		case <-ctx.Done():
			return "", fmt.Errorf("%s did not answer 200 in time (last error %v)", url, err)
		case <-tick.C:
		}
	}
}

// smallMatchModel trains a 5-tree form3 match model on the mirror's matches
// (seconds), in a directory the container's user can read.
func smallMatchModel(t *testing.T) string {
	t.Helper()
	matchesCSV := testmirror.Path(t, "matches", "international_matches.csv")
	groups := testmirror.Path(t, "matches", "worldcup2022", "2022_world_cup_groups.csv")
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mp, lp := filepath.Join(dir, "matches.parquet"), filepath.Join(dir, "lookup.json")
	ds, _ := ingest.Lookup("matches")
	if _, err := ingest.Run(ctx, ds, ingest.Config{Inputs: []string{matchesCSV}, Output: mp}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := matchmodel.FeaturesStage(mp, lp, filepath.Join(dir, "features.parquet")); err != nil {
		t.Fatal(err)
	}
	d, err := matchmodel.LoadData(mp, lp, 2022)
	if err != nil {
		t.Fatal(err)
	}
	cfg := matchmodel.Config{Variants: []string{"form3"}, TestYear: 2022, ServeVariant: "form3",
		Forests: map[string]matchmodel.ForestConfig{"default": {NumTrees: 5, MaxDepth: 4, Seed: 1}}}
	models := filepath.Join(dir, "models")
	if _, err := matchmodel.TrainStage(ctx, cfg, d, groups, models, nil); err != nil {
		t.Fatal(err)
	}
	// Model files are written 0644 in 0755 directories; the bind-mounted
	// directory itself must be readable by uid 65532 too.
	model := filepath.Join(models, "form3")
	if err := os.Chmod(model, 0o755); err != nil {
		t.Fatal(err)
	}
	return model
}
