package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/registry"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// writeModelsFixture lays out what `datalab models register matches` reads
// after a run: two variants' model directories, metrics.json with their
// test-year results, and a run record for the lineage.
func writeModelsFixture(t *testing.T, dir string) {
	t.Helper()
	write := func(rel string, data []byte) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustJSON := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	repo := testmirror.RepoRoot()
	yaml, err := os.ReadFile(filepath.Join(repo, "datalab.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	write("datalab.yaml", yaml)
	classes := []string{"home win", "draw", "away win"}
	ev := matchmodel.Evaluation{Schema: matchmodel.EvaluationSchema, TestYear: 2022, TestRows: 571, HoldoutClassCounts: []int{270, 120, 181}}
	for _, v := range []struct {
		name      string
		acc, loss float64
	}{{"form3", 0.55, 0.95}, {"seed", 0.50, 1.05}, {"elo", 0.56, 0.94}} {
		ev.Variants = append(ev.Variants, matchmodel.VariantEvaluation{Name: v.name,
			Holdout: &evaluate.Result{Classes: classes, N: 571, Accuracy: v.acc, LogLoss: v.loss, RPS: 0.2, AUC: -1}})
		write(filepath.Join("build/models/matches", v.name, "manifest.json"), []byte(`{"variant":"`+v.name+`"}`))
		write(filepath.Join("build/models/matches", v.name, "spark/metadata/part-00000"),
			[]byte(`{"class":"org.apache.spark.ml.PipelineModel","timestamp":1,"sparkVersion":"3.5.3","uid":"p_`+v.name+`","paramMap":{"stageUids":[]},"defaultParamMap":{}}`+"\n"))
	}
	write("build/matches/metrics.json", mustJSON(ev))
	// The data pointers the pipeline declares, and their oids as a run
	// records them (keyed by path).
	datasets := map[string]string{"data/pointers/bts2008/x.csv.pointer": strings.Repeat("b", 64)}
	for _, rel := range []string{"matches/international_matches.csv.pointer", "martj42/results.csv.pointer", "worldcup2022/2022_world_cup_groups.csv.pointer"} {
		b, err := os.ReadFile(filepath.Join(repo, "data/pointers", rel))
		if err != nil {
			t.Fatal(err)
		}
		write(filepath.Join("data/pointers", rel), b)
		oids, err := stagerun.PointerOids([]string{filepath.Join(dir, "data/pointers", rel)})
		if err != nil {
			t.Fatal(err)
		}
		for _, oid := range oids {
			datasets["data/pointers/"+rel] = strings.TrimPrefix(oid, "sha256:")
		}
	}
	// A file of a data set that no stage reads: not in a run's record, so
	// not in the lineage either way.
	shootouts, err := os.ReadFile(filepath.Join(repo, "data/pointers/martj42/shootouts.csv.pointer"))
	if err != nil {
		t.Fatal(err)
	}
	write("data/pointers/martj42/shootouts.csv.pointer", shootouts)
	rec := stagerun.RunRecord{ID: "20261207T100000Z-aaaaaa", Status: "ok", Start: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC),
		Git:      stagerun.GitState{Commit: strings.Repeat("1", 40)},
		Datasets: datasets,
		Params:   map[string]any{"matches.serve_variant": "form3", "flights.serve_variant": "bts"}}
	write("runs/"+rec.ID+"/run.json", mustJSON(rec))
}

// TestModelsCommands: register → promote past the gate → a refused
// regression → forced → rollback → history, through the real CLI on a
// directory registry.
func TestModelsCommands(t *testing.T) {
	t.Parallel()
	bin := buildDatalab(t)
	dir := t.TempDir()
	writeModelsFixture(t, dir)
	env := []string{"DATALAB_REGISTRY=" + filepath.Join(dir, "reg"), "DATALAB_RUNS_DIR="}
	run := func(wantCode int, args ...string) string {
		t.Helper()
		out, code := datalabCmd(t, bin, dir, env, args...)
		if code != wantCode {
			t.Fatalf("datalab %s: exit %d, want %d\n%s", strings.Join(args, " "), code, wantCode, out)
		}
		return out
	}
	versionOf := func(out string) string {
		t.Helper()
		for _, f := range strings.Fields(out) {
			if len(f) == 64 {
				return f
			}
		}
		t.Fatalf("no version id in %q", out)
		return ""
	}
	out := run(0, "models", "register", "matches", "--alias", "champion")
	form3 := versionOf(out)
	if !strings.Contains(out, "matches@champion → "+registry.Short(form3)) {
		t.Fatalf("register --alias did not set the unset champion:\n%s", out)
	}
	// The same files again: the same version, nothing new.
	if out := run(0, "models", "register", "matches"); !strings.Contains(out, "already registered") || versionOf(out) != form3 {
		t.Fatalf("re-register:\n%s", out)
	}
	seed := versionOf(run(0, "models", "register", "matches", "--variant", "seed"))
	elo := versionOf(run(0, "models", "register", "matches", "--variant", "elo"))

	show := run(0, "models", "show", "matches", "@champion")
	for _, want := range []string{form3, "run  ", "20261207T100000Z-aaaaaa", "variant", "form3", "datalab", "Spark 3.5.3 format", "metric accuracy", "0.55",
		"data matches/international_matches.csv", "param matches.serve_variant"} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	if strings.Contains(show, "bts2008") || strings.Contains(show, "flights.serve_variant") {
		t.Errorf("show lists the other use case's data or params:\n%s", show)
	}

	// A regression is refused with the diff and a non-zero exit; nothing moves.
	out = run(1, "models", "promote", "matches", seed[:8])
	for _, want := range []string{"refused", "accuracy", "regression", "--force"} {
		if !strings.Contains(out, want) {
			t.Errorf("refusal lacks %q:\n%s", want, out)
		}
	}
	out = run(0, "models", "promote", "matches", elo[:10], "--reason", "better on 2022")
	if !strings.Contains(out, "gate passed") || !strings.Contains(out, registry.Short(form3)+" → "+registry.Short(elo)) {
		t.Fatalf("promote elo:\n%s", out)
	}
	out = run(0, "models", "promote", "matches", seed, "--force")
	if !strings.Contains(out, "forced") {
		t.Fatalf("forced promote:\n%s", out)
	}
	if out := run(0, "models", "rollback", "matches"); !strings.Contains(out, registry.Short(seed)+" → "+registry.Short(elo)) {
		t.Fatalf("rollback:\n%s", out)
	}
	list := run(0, "models", "list", "matches")
	if !strings.Contains(list, registry.Short(elo)) || !strings.Contains(list, "champion") || strings.Count(list, "\n") != 4 {
		t.Fatalf("list:\n%s", list)
	}
	hist := run(0, "models", "history", "matches")
	for _, want := range []string{"register", "promote", "FORCED past the gate", "rollback", "better on 2022"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	// Errors say what to do.
	if out := run(1, "models", "promote", "matches", "abc"); !strings.Contains(out, "at least 6 hex digits") {
		t.Errorf("short prefix:\n%s", out)
	}
	if out := run(1, "models", "register", "nosuch"); !strings.Contains(out, "--dir") {
		t.Errorf("unknown model without --dir:\n%s", out)
	}

	// Without a run record the lineage comes from the pipeline's pointer
	// files: the same data, so the same evaluation data as with one.
	evalData := func(out string) string {
		t.Helper()
		var v registry.Version
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return v.EvalData
	}
	withRun := evalData(run(0, "models", "show", "matches", form3, "--json"))
	env = []string{"DATALAB_REGISTRY=" + filepath.Join(dir, "reg2"), "DATALAB_RUNS_DIR=" + filepath.Join(dir, "no-runs")}
	run(0, "models", "register", "matches")
	show2 := run(0, "models", "show", "matches", form3, "--json")
	if got := evalData(show2); got != withRun || !strings.Contains(show2, "worldcup2022/2022_world_cup_groups.csv") || strings.Contains(show2, "20261207T100000Z") || strings.Contains(show2, "shootouts") {
		t.Errorf("registered without a run record: evaluation data %s, want %s (the same pointers)\n%s", got, withRun, show2)
	}
}
