package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/pipeline/rundiff"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// TestRunsCommands runs the real CLI on a temporary runs directory with two
// records: list, show, diff in its three formats, A vs A, and the gate's
// exit codes — 0 passed, 1 a rule failed, 2 a rule that cannot be
// evaluated or a run that does not exist.
func TestRunsCommands(t *testing.T) {
	bin := buildDatalab(t)
	dir := t.TempDir()
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	base := &stagerun.RunRecord{
		ID: "20261207T100000Z-aaaaaa", Pipeline: "datalab.yaml", Status: "ok", Start: start, End: start.Add(time.Minute), DurationSec: 60,
		Git:      stagerun.GitState{Commit: strings.Repeat("1", 40), Branch: "main"},
		Datasets: map[string]string{"matches/international_matches.csv": "sha256:" + strings.Repeat("a", 64)},
		Params: map[string]any{"matches.forests.default.max_depth": 8, "matches.serve_variant": "form3",
			"flights.variants": []any{map[string]any{"name": "bts", "forest": map[string]any{"max_depth": 5}}}},
		Metrics: map[string]float64{"matches.served.holdout.accuracy": 0.5312, "matches.served.holdout.rps": 0.2101, "matches.served.holdout.n": 571},
		Stages:  []stagerun.StageRecord{{Name: "train-matches", Status: stagerun.StatusRan, Key: "k8", DurationSec: 40}},
	}
	head := *base
	head.ID, head.Experiment, head.Start = "20261207T110000Z-bbbbbb", "max_depth-12", start.Add(time.Hour)
	head.Overrides = map[string]any{"matches.forests.default.max_depth": 12}
	head.Params = map[string]any{"matches.forests.default.max_depth": 12, "matches.serve_variant": "form3",
		"flights.variants": []any{map[string]any{"name": "bts", "forest": map[string]any{"max_depth": 5}}}}
	head.Metrics = map[string]float64{"matches.served.holdout.accuracy": 0.5469, "matches.served.holdout.rps": 0.2152, "matches.served.holdout.n": 571}
	head.Stages = []stagerun.StageRecord{{Name: "train-matches", Status: stagerun.StatusRan, Key: "k12", DurationSec: 41}}
	for _, r := range []*stagerun.RunRecord{base, &head} {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "runs", r.ID), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "runs", r.ID, "run.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A run still going: a directory without run.json is skipped.
	if err := os.MkdirAll(filepath.Join(dir, "runs", "20261207T120000Z-cccccc"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"DATALAB_RUNS_DIR="}

	expect := func(wantCode int, wantOut []string, args ...string) string {
		t.Helper()
		out, code := datalabCmd(t, bin, dir, env, args...)
		if code != wantCode {
			t.Errorf("datalab %s: exit %d, want %d\n%s", strings.Join(args, " "), code, wantCode, out)
		}
		for _, w := range wantOut {
			if !strings.Contains(out, w) {
				t.Errorf("datalab %s: output lacks %q:\n%s", strings.Join(args, " "), w, out)
			}
		}
		return out
	}
	out := expect(0, []string{head.ID, base.ID, "max_depth-12", "matches.forests.default.max_depth=12", "0.5469"}, "runs", "list")
	if strings.Index(out, head.ID) > strings.Index(out, base.ID) || strings.Contains(out, "cccccc") {
		t.Errorf("runs list: newest first, the unfinished run skipped:\n%s", out)
	}
	expect(0, []string{"run " + head.ID + ": ok (experiment max_depth-12)", "* matches.forests.default.max_depth  12", "[{forest: {max_depth: 5}, name: bts}]"}, "runs", "show", "max_depth-12")
	expect(0, []string{"1 param changed", "matches.served.holdout.accuracy", "+0.0157 (+2.96%)", "better", "worse"}, "runs", "diff", "latest~1", "latest")
	expect(0, []string{"no change: same params, metrics, data, code and stage keys"}, "runs", "diff", "latest", head.ID)
	expect(0, []string{"### Run diff: `" + base.ID + "` → `" + head.ID + "`", "| `matches.forests.default.max_depth` | 8 | 12 |"}, "runs", "diff", "20261207T10", "latest", "--md")

	// --json on stdout decodes into a Diff.
	cmd := exec.Command(bin, "runs", "diff", "latest~1", "latest", "--json", "--runs-dir", filepath.Join(dir, "runs"))
	cmd.Dir = t.TempDir() // --runs-dir, not the working directory
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("runs diff --json: %v", err)
	}
	var d rundiff.Diff
	if err := json.Unmarshal(stdout, &d); err != nil || d.A.ID != base.ID || d.B.ID != head.ID || d.ChangedParams() != 1 {
		t.Errorf("runs diff --json: %v %+v", err, d)
	}

	// The gate.
	pass := "matches.served.holdout.accuracy < -0.005"
	fail := "matches.served.holdout.rps > 2%"
	expect(0, []string{"pass  " + pass, "gate: passed — 1 check"}, "runs", "diff", "latest~1", "latest", "--fail-on", pass)
	out = expect(1, []string{"pass  " + pass, "FAIL  " + fail, "base 0.2101, head 0.2152, change +0.0051 (+2.43%)", "datalab: gate failed"},
		"runs", "diff", "latest~1", "latest", "--fail-on", pass, "--fail-on", fail)
	expect(1, []string{"❌ | `" + fail + "`"}, "runs", "diff", "latest~1", "latest", "--md", "--fail-on", fail)
	expect(2, []string{"unknown metric matches.served.holdout.acc", "did you mean"}, "runs", "diff", "latest~1", "latest", "--fail-on", fail, "--fail-on", "matches.served.holdout.acc < 0")
	expect(2, []string{"the glob nope.* matches no metric"}, "runs", "diff", "latest~1", "latest", "--fail-on", "nope.* < 0")
	expect(2, []string{`gate rule "accuracy = 0"`, "want METRIC OP NUMBER"}, "runs", "diff", "latest~1", "latest", "--fail-on", "accuracy = 0")
	expect(2, []string{`run "nope" not found`}, "runs", "diff", "nope", "latest")
	expect(2, []string{"give two runs"}, "runs", "diff", "latest")
	expect(2, []string{"unknown flag: --bogus"}, "runs", "diff", "latest~1", "latest", "--bogus")
	expect(1, []string{`run "nope" not found`}, "runs", "show", "nope")
	expect(1, []string{"read runs directory", "/no/such/dir"}, "runs", "list", "--runs-dir", "/no/such/dir")
	_ = out
}
