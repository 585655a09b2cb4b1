package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// TestRenamedBinaryRunsItsOwnStages is issue 12 finding 11 through the real
// CLI: built as dl, with no datalab anywhere on PATH, `dl run` runs its
// stages' `datalab …` commands with itself; and the notebooks stage without
// its kernel fails at its first attempt, with the default retry policy and
// a message naming what to run, instead of being retried for minutes.
func TestRenamedBinaryRunsItsOwnStages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI")
	}
	bin := buildDatalabAs(t, "dl")
	dir := t.TempDir()
	files := map[string]string{
		"datalab.yaml": `stages:
  hello:
    cmd: datalab healthcheck --help > hello.txt
    outs: [hello.txt]
  notebooks:
    cmd: datalab notebooks run --tools-dir empty-tools --reports-dir "" hello
    deps: [hello.txt]
    outs: [reports/notebooks/hello.html]
`,
		"notebooks/hello.ipynb": "{}",
		"empty-tools/.keep":     "",
	}
	for name, content := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Default retry policy (no DATALAB_RETRIES / DATALAB_RETRY_DELAY), and
	// a PATH with the shell's tools but no datalab.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATALAB_") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(bin, "run")
	cmd.Dir = dir
	cmd.Env = append(env, "PATH=/usr/bin:/bin", "DATALAB_NO_PROGRESS=1")
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if err == nil {
		t.Fatalf("dl run passed without a notebook kernel:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "hello.txt")); err != nil || !strings.Contains(string(b), "healthcheck") {
		t.Errorf("stage hello did not run dl healthcheck --help (%v):\n%s", err, out)
	}
	if !strings.Contains(out, "bash .ci/setup notebooks") || !strings.Contains(out, "gonb") {
		t.Errorf("output does not say the kernel is missing and what to run:\n%s", out)
	}
	records, _ := filepath.Glob(filepath.Join(dir, "runs", "*", "run.json"))
	if len(records) != 1 {
		t.Fatalf("run records: %v", records)
	}
	b, err := os.ReadFile(records[0])
	if err != nil {
		t.Fatal(err)
	}
	var rec stagerun.RunRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if s := rec.Stage("hello"); s == nil || s.Status != stagerun.StatusRan {
		t.Errorf("hello: %+v", s)
	}
	if s := rec.Stage("notebooks"); s == nil || s.Status != stagerun.StatusFailed || len(s.Attempts) != 1 {
		t.Errorf("notebooks: %+v, want failed after 1 attempt", s)
	}
}
