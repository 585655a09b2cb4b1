package notebook

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

const labPipeline = `params:
  notebooks:
    sample: 300000
    ratio: 0.25
    sweep: form
    nested:
      k: 1.0
stages:
  ingest:
    cmd: datalab ingest
    deps: [data/raw.csv.pointer]
    outs: [build/parquet/m.parquet]
  train:
    cmd: datalab train
    deps: [build/parquet/m.parquet]
    outs: [build/models/m]
  notebooks:
    cmd: datalab notebooks run --param sample=${params.notebooks.sample}
    deps: [notebooks/a.ipynb, build/parquet/m.parquet, build/models/m/forest.json, data/raw.csv.pointer]
    params: [notebooks]
    outs: [build/notebooks/a.html]
`

// TestLabPipeline: the lab's parameters are params.notebooks as the stage
// passes them, and the notebooks stage's missing deps are named with the
// stage that makes each (a file inside a stage's out directory included),
// in the file's order; present deps are not.
func TestLabPipeline(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"notebooks/a.ipynb", "build/parquet/m.parquet"} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := stagerun.Parse([]byte(labPipeline), root)
	if err != nil {
		t.Fatal(err)
	}

	params, err := StageParams(p, "notebooks")
	if err != nil {
		t.Fatal(err)
	}
	wantParams := map[string]string{"sample": "300000", "ratio": "0.25", "sweep": "form", "nested_k": "1"}
	if !reflect.DeepEqual(params, wantParams) {
		t.Errorf("StageParams = %v, want %v", params, wantParams)
	}
	if _, err := StageParams(p, "train"); err == nil || !strings.Contains(err.Error(), "no params.train") {
		t.Errorf("StageParams of a missing key: %v", err)
	}

	missing, err := MissingInputs(p, "notebooks")
	if err != nil {
		t.Fatal(err)
	}
	want := []MissingInput{
		{Path: "build/models/m/forest.json", Stages: []string{"train"}},
		{Path: "data/raw.csv.pointer"},
	}
	if !reflect.DeepEqual(missing, want) {
		t.Fatalf("MissingInputs = %+v, want %+v", missing, want)
	}
	if h := missing[0].Hint(); h != "datalab run train" {
		t.Errorf("hint %q, want datalab run train", h)
	}
	if h := missing[1].Hint(); !strings.Contains(h, "git checkout -- data/raw.csv.pointer") {
		t.Errorf("hint for a source file %q", h)
	}
	if _, err := MissingInputs(p, "lab"); err == nil || !strings.Contains(err.Error(), `no stage "lab"`) {
		t.Errorf("MissingInputs of an unknown stage: %v", err)
	}
}

// TestLabEnv: the server gets the runner's environment without the two
// headless-only variables (even when the caller's environment has them),
// and exactly one token and runtime directory, the lab's.
func TestLabEnv(t *testing.T) {
	t.Setenv("DATALAB_GONB_RAW_ERROR", "1")
	t.Setenv(ModeEnv, "headless")
	t.Setenv("JUPYTER_TOKEN", "the-callers")
	root := t.TempDir()
	l := Lab{Runner: Runner{Root: root, Params: map[string]string{"sample": "5"}}}
	env := l.env(root, "tok", "/run/lab")
	count := func(key string) int {
		n := 0
		for _, kv := range env {
			if strings.HasPrefix(kv, key+"=") {
				n++
			}
		}
		return n
	}
	for _, k := range []string{"DATALAB_GONB_RAW_ERROR", ModeEnv} {
		if n := count(k); n != 0 {
			t.Errorf("lab environment sets %s (%d times); it is for headless runs only", k, n)
		}
	}
	for _, kv := range []string{"JUPYTER_TOKEN=tok", "JUPYTER_RUNTIME_DIR=/run/lab", "DATALAB_NB_SAMPLE=5",
		"DATALAB_ROOT=" + root, "GOTOOLCHAIN=local", "JUPYTER_PATH=" + filepath.Join(root, "jupyter")} {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(env, kv) || count(k) != 1 {
			t.Errorf("lab environment lacks %s exactly once", kv)
		}
	}
	// gopls is in .bin/lab, on the lab's PATH only, before the kernel's tools.
	sep := string(os.PathListSeparator)
	if path := envValue(env, "PATH"); !strings.HasPrefix(path, filepath.Join(root, ".bin", "lab")+sep+filepath.Join(root, ".bin")+sep) {
		t.Errorf("PATH %q does not start with .bin/lab, then .bin", path)
	}
}
