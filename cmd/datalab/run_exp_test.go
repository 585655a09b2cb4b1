package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// expPipeline is a two-stage pipeline whose fit stage writes a metrics
// file with a served hold-out accuracy of 0.<depth>.
const expPipeline = `params:
  model:
    # Tree depth.
    depth: 4
metrics:
  m: build/metrics.json
stages:
  base:
    cmd: mkdir -p build && echo base > build/base.txt
    deps: [input.txt]
    outs: [build/base.txt]
  fit:
    cmd: >-
      echo '{"served": {"holdout": {"accuracy": 0.${params.model.depth}, "log_loss": 0.5}}}' > build/metrics.json
    deps: [build/base.txt]
    params: [model]
    outs: [build/metrics.json]
`

// TestExpRunShowApply drives the CLI as a user would: a sweep of two
// experiments in parallel, the table sorted by the served accuracy, apply
// of the best one, then a run with nothing to do; remove and gc.
func TestExpRunShowApply(t *testing.T) {
	bin := buildDatalab(t)
	dir := t.TempDir()
	for name, content := range map[string]string{"datalab.yaml": expPipeline, "input.txt": "x\n", ".gitignore": "/build/\n/runs/\n/.datalab/\n/reports/\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "lab"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	dl := func(args ...string) string {
		t.Helper()
		out, code := datalabCmd(t, bin, dir, nil, args...)
		if code != 0 {
			t.Fatalf("datalab %v: exit %d\n%s", args, code, out)
		}
		return out
	}
	dl("run")
	lockBefore, _ := os.ReadFile(filepath.Join(dir, "datalab.lock"))

	out := dl("exp", "run", "--sweep", "model.depth=6,8", "-j", "2")
	for _, want := range []string{"depth-6", "depth-8", "done"} {
		if !strings.Contains(out, want) {
			t.Errorf("exp run output lacks %q:\n%s", want, out)
		}
	}
	if lock, _ := os.ReadFile(filepath.Join(dir, "datalab.lock")); string(lock) != string(lockBefore) {
		t.Error("exp run changed the workspace's datalab.lock")
	}

	out = dl("exp", "show", "--sort-by", "served.holdout.accuracy")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "model.depth") || !strings.Contains(lines[0], "m.served.holdout.accuracy") ||
		!strings.HasPrefix(lines[1], "workspace") || !strings.HasPrefix(lines[2], "depth-8") || !strings.HasPrefix(lines[3], "depth-6") {
		t.Errorf("exp show --sort-by: want header, workspace, depth-8, depth-6:\n%s", out)
	}
	if !strings.Contains(lines[2], "0.8000") || !strings.Contains(lines[1], "0.4000") {
		t.Errorf("exp show metrics:\n%s", out)
	}
	var table struct {
		Rows []struct {
			Name    string
			Metrics map[string]float64
		}
	}
	if err := json.Unmarshal([]byte(dl("exp", "show", "--json")), &table); err != nil || len(table.Rows) != 3 {
		t.Errorf("exp show --json: %v %+v", err, table)
	}
	if md := dl("exp", "show", "--md"); !strings.Contains(md, "| *workspace* |") || !strings.Contains(md, "|---|") {
		t.Errorf("exp show --md:\n%s", md)
	}

	out = dl("exp", "apply", "depth-8")
	if !strings.Contains(out, "fit") {
		t.Errorf("exp apply output:\n%s", out)
	}
	yaml, _ := os.ReadFile(filepath.Join(dir, "datalab.yaml"))
	if !strings.Contains(string(yaml), "    # Tree depth.\n    depth: 8\n") {
		t.Errorf("datalab.yaml after apply:\n%s", yaml)
	}
	out = dl("run")
	if strings.Contains(out, "  ran ") {
		t.Errorf("datalab run after apply ran a stage:\n%s", out)
	}

	if out := dl("exp", "remove", "depth-6"); !strings.Contains(out, "freed") {
		t.Errorf("exp remove output:\n%s", out)
	}
	if out := dl("exp", "gc"); !strings.Contains(out, "freed") {
		t.Errorf("exp gc output:\n%s", out)
	}
	if out, code := datalabCmd(t, bin, dir, nil, "exp", "run", "--sweep", "nosuch.key=1"); code == 0 || !strings.Contains(out, "nosuch.key") {
		t.Errorf("exp run with an unknown key: exit %d\n%s", code, out)
	}
	for _, sub := range []string{"run", "show", "apply", "remove", "gc"} {
		if out := dl("exp", sub, "--help"); !strings.Contains(out, "Examples:") {
			t.Errorf("datalab exp %s --help has no examples:\n%s", sub, out)
		}
	}
}
