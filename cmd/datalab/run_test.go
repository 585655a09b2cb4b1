package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRunSetSave: `datalab run --set` runs with the value and leaves the
// pipeline file as it was; --save writes exactly that value into it.
func TestRunSetSave(t *testing.T) {
	bin := buildDatalab(t)
	dir := t.TempDir()
	const pipeline = `# Comment kept.
params:
  model:
    depth: 8    # how deep
    rate: 0.5
stages:
  fit:
    cmd: echo depth=${params.model.depth} rate=${params.model.rate} > fit.txt
    outs: [fit.txt]
`
	path := filepath.Join(dir, "datalab.yaml")
	if err := os.WriteFile(path, []byte(pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"DATALAB_RETRIES=0", "DATALAB_SET=", "DATALAB_REMOTE=", "DATALAB_CACHE_DIR="}
	out, code := datalabCmd(t, bin, dir, env, "run", "--set", "model.depth=12")
	if code != 0 {
		t.Fatalf("run --set: exit %d\n%s", code, out)
	}
	if got, _ := os.ReadFile(path); string(got) != pipeline {
		t.Fatalf("run --set changed the pipeline file:\n%s", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "fit.txt")); string(got) != "depth=12 rate=0.5\n" {
		t.Fatalf("fit.txt = %q", got)
	}
	id := regexp.MustCompile(`run (\S+): ok`).FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("no run id in\n%s", out)
	}
	var rec struct {
		Overrides map[string]any `json:"overrides"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "runs", id[1], "run.json"))
	if err != nil || json.Unmarshal(data, &rec) != nil || rec.Overrides["model.depth"] != float64(12) {
		t.Fatalf("run record overrides %v (%v)", rec.Overrides, err)
	}

	out, code = datalabCmd(t, bin, dir, env, "run", "--set", "model.dept=3")
	if code == 0 || !strings.Contains(out, "did you mean model.depth") {
		t.Fatalf("unknown key: exit %d\n%s", code, out)
	}
	out, code = datalabCmd(t, bin, dir, env, "run", "--set", "model.rate=fast")
	if code == 0 || !strings.Contains(out, "the file has a float") {
		t.Fatalf("wrong type: exit %d\n%s", code, out)
	}

	out, code = datalabCmd(t, bin, dir, env, "run", "--set", "model.rate=0.25", "--save")
	if code != 0 {
		t.Fatalf("run --set --save: exit %d\n%s", code, out)
	}
	want := strings.Replace(pipeline, "rate: 0.5", "rate: 0.25", 1)
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Fatalf("after --save the file is\n%s\nwant\n%s", got, want)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "fit.txt")); string(got) != "depth=8 rate=0.25\n" {
		t.Fatalf("fit.txt = %q", got)
	}
}
