package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testnet"
	"github.com/datalabhq/datalab/matches/matchapp/swaptest"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/pipeline/registry"
)

// TestServeRegistryHotSwapUnderLoad is the acceptance test of serving by
// alias (issue 17) on the real binary: `datalab serve --model
// registry:matches@champion` over a directory registry holding two real
// match models, driven at 500 requests/s while champion is promoted to B
// and rolled back to A through the registry API. No answer fails or mixes
// versions, every answer and the SQLite prediction log carry the version
// that was serving at their server time, the log changes version exactly
// at the swap times the server logged, /metrics and /healthz name the
// version serving, and the registry records which version served from when.
// matches/matchapp's TestHotSwapUnderLoad runs the same in process on every
// log database.
func TestServeRegistryHotSwapUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI, trains two models and serves 500 requests/s for seconds")
	}
	bin := buildDatalab(t)
	dirA, dirB := swaptest.Models(t)
	dir := t.TempDir()
	regDir, db := filepath.Join(dir, "registry"), filepath.Join(dir, "predictions.sqlite")
	reg, a, b := swaptest.Registry(t, regDir, dirA, dirB)
	addr := testnet.FreeAddr(t)
	p := startDatalab(t, bin, nil, "serve", "--model", "registry:matches@champion", "--registry", regDir,
		"--registry-poll", "10ms", "--model-cache", filepath.Join(dir, "cache"), "--db", db, "--addr", addr)
	base := "http://" + addr
	waitHTTP(t, base+"/healthz", p)
	if h := health(t, base); h.ModelVersion != a || h.Alias != "champion" {
		t.Fatalf("healthz before: %+v, want version %s of champion", h, a)
	}

	answers, promote, rollback := swaptest.Drive(t, reg, swaptest.Run{URL: base, Rate: 500, B: b,
		Lead: 2 * time.Second, Hold: 2 * time.Second, Tail: 2 * time.Second})
	t.Logf("swap latency (alias written → first answer by the new version, polling every 10 ms at 500 req/s): promote %v, rollback %v",
		promote.Latency().Round(time.Millisecond), rollback.Latency().Round(time.Millisecond))

	metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`datalab_model_info{alias="champion",app="matches",version="` + registry.Short(a) + `"} 1`,
		`datalab_model_swaps_total{app="matches"} 2`,
		`datalab_model_swap_failures_total{app="matches"} 0`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, `version="`+registry.Short(b)+`"`) {
		t.Error("/metrics still shows version B in datalab_model_info")
	}
	h := health(t, base)

	// SIGTERM: the server finishes and writes the buffered log entries.
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if p.err != nil {
		t.Fatalf("datalab serve: %v", p.err)
	}

	swaps := swaptest.SwapsFromLog(t, p.output(), a, b)
	swaptest.CheckSwaps(t, swaps, a, b)
	if h.ModelVersion != a || h.Alias != "champion" || !h.Since.Equal(swaps[2].Since) {
		t.Errorf("healthz after: %+v, want version %s of champion since %v", h, a, swaps[2].Since)
	}
	n := swaptest.CheckAnswers(t, answers, swaps)
	t.Logf("%d answers: %d by A, %d by B", len(answers), n[a], n[b])
	l, err := predlog.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	entries := swaptest.ReadLog(t, l)
	if len(entries) != len(answers) {
		t.Fatalf("%d predictions logged, %d answered", len(entries), len(answers))
	}
	swaptest.CheckLog(t, entries, swaps, 0)

	// The registry's record of which version served here from when.
	host, _ := os.Hostname()
	instance := fmt.Sprintf("%s:matches:%d", host, p.cmd.Process.Pid)
	servings, err := reg.Servings(context.Background(), swaptest.Model)
	if err != nil {
		t.Fatal(err)
	}
	if len(servings) != len(swaps) {
		t.Fatalf("registry holds %d serving records, want %d: %+v", len(servings), len(swaps), servings)
	}
	for i, s := range servings {
		if s.Version != swaps[i].Version || !s.Since.Equal(swaps[i].Since) || s.Instance != instance || s.Alias != "champion" {
			t.Errorf("serving record %d: %+v, want version %s since %v on %s", i, s, registry.Short(swaps[i].Version), swaps[i].Since, instance)
		}
	}
}

// healthz is the part of /healthz about the model.
type healthz struct {
	ModelVersion string    `json:"model_version"`
	Alias        string    `json:"alias"`
	Since        time.Time `json:"since"`
}

func health(t *testing.T, base string) healthz {
	t.Helper()
	var h healthz
	if err := json.Unmarshal([]byte(get(t, base+"/healthz")), &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// get returns the body of a GET that must answer 200 (getBody).
func get(t *testing.T, url string) string {
	t.Helper()
	code, body := getBody(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", url, code, body)
	}
	return body
}

// TestServeRegistryReferences: `datalab serve --model registry:…` wiring in
// process — a version id (or prefix) serves that version with no alias, an
// alias that points at nothing and a malformed reference fail the start
// with what to do, a plain directory is served as before with its own
// version in datalab_model_info.
func TestServeRegistryReferences(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	regDir := filepath.Join(dir, "registry")
	reg, err := registry.Open(ctx, regDir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	modelDir := filepath.Join(dir, "model")
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(modelDir, "weights"), []byte("two teams"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, _, err := reg.Register(ctx, modelDir, registry.Version{Model: "matches"})
	if err != nil {
		t.Fatal(err)
	}
	serveWith := func(model string) (base string, stop func() error) {
		addr, stop := startServe(serveOptions{model: model, models: registryFlags{location: regDir, cache: filepath.Join(dir, "cache")},
			db: filepath.Join(t.TempDir(), "log.sqlite"), addr: "127.0.0.1:0", logBuffer: 10, shutdownTimeout: 5 * time.Second})
		if addr == "" {
			return "", stop
		}
		return "http://" + addr, stop
	}

	base, stop := serveWith("registry:matches@" + v.ID[:8])
	if base == "" {
		t.Fatal(stop())
	}
	if h := health(t, base); h.ModelVersion != v.ID || h.Alias != "" {
		t.Errorf("a version id: healthz %+v, want version %s and no alias", h, v.ID)
	}
	if m := get(t, base+"/metrics"); !strings.Contains(m, `datalab_model_info{alias="",app="matches",version="`+registry.Short(v.ID)+`"} 1`) {
		t.Errorf("a version id: /metrics lacks its datalab_model_info")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	for model, want := range map[string]string{
		"registry:matches@champion": "datalab models promote matches <version> --alias champion",
		"registry:Matches@champion": `model name "Matches"`,
	} {
		if base, stop := serveWith(model); base != "" {
			stop()
			t.Errorf("%s: served", model)
		} else if err := stop(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want it to say %q", model, err, want)
		}
	}

	base, stop = serveWith(modelDir)
	if base == "" {
		t.Fatal(stop())
	}
	if h := health(t, base); h.ModelVersion != "v1" || h.Alias != "" {
		t.Errorf("a directory: healthz %+v, want the model's own version v1", h)
	}
	if m := get(t, base+"/metrics"); !strings.Contains(m, `datalab_model_info{alias="",app="matches",version="v1"} 1`) {
		t.Errorf("a directory: /metrics lacks datalab_model_info of v1")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
