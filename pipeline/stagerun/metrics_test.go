package stagerun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlattenMetrics(t *testing.T) {
	tests := []struct {
		name string
		json string
		want map[string]float64
		err  string
	}{
		{name: "nested", json: `{"holdout": {"accuracy": 0.5, "n": 64}, "label": "x", "ok": true}`,
			want: map[string]float64{"m.holdout.accuracy": 0.5, "m.holdout.n": 64}},
		{name: "named array", json: `{"variants": [{"name": "form3", "holdout": {"accuracy": 0.53}}, {"name": "elo", "auc": 0.7}]}`,
			want: map[string]float64{"m.variants.form3.holdout.accuracy": 0.53, "m.variants.elo.auc": 0.7}},
		{name: "curves skipped", json: `{"roc": [[0, 0], [1, 1]], "rows": [{"p": 0.1}, {"p": 0.2}], "auc": 0.9}`,
			want: map[string]float64{"m.auc": 0.9}},
		{name: "names made words", json: `{"baselines": [{"name": "better FIFA rank wins", "acc": 0.6}], "seed label": {"majority (home.win)": 1}}`,
			want: map[string]float64{"m.baselines.better-FIFA-rank-wins.acc": 0.6, "m.seed-label.majority-home-win": 1}},
		{name: "duplicate names skipped", json: `{"v": [{"name": "a", "x": 1}, {"name": "a", "x": 2}]}`,
			want: map[string]float64{}},
		{name: "not json", json: `{`, err: "not JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FlattenMetrics("m", []byte(tc.json))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestParseMetricsSection(t *testing.T) {
	for _, tc := range []struct{ yaml, err string }{
		{"metrics: {m: ../out.json}\nstages: {}\n", "inside the pipeline"},
		{"metrics: [a]\n", "want a mapping"},
		{"metrics: {a.b: x.json}\n", "name"},
	} {
		if _, err := Parse([]byte(tc.yaml), "."); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: err %v, want %q", tc.yaml, err, tc.err)
		}
	}
}

func TestRunRecordsMetrics(t *testing.T) {
	p := writePipeline(t, `metrics:
  model: build/metrics.json
  other: build/missing.json
params:
  acc: 0.5
stages:
  eval:
    cmd: >-
      mkdir -p build && echo '{"holdout": {"accuracy": ${params.acc}}, "variants": [{"name": "a", "auc": 0.75}]}' > build/metrics.json
    outs: [build/metrics.json]
`)
	rec := mustRun(t, p, nil, testOptions())
	want := map[string]float64{"model.holdout.accuracy": 0.5, "model.variants.a.auc": 0.75}
	if len(rec.Metrics) != len(want) || rec.Metrics["model.holdout.accuracy"] != 0.5 || rec.Metrics["model.variants.a.auc"] != 0.75 {
		t.Fatalf("metrics %v, want %v", rec.Metrics, want)
	}
	raw, _ := os.ReadFile(filepath.Join(p.Root, "runs", rec.ID, "run.json"))
	if !strings.Contains(string(raw), `"model.holdout.accuracy": 0.5`) {
		t.Fatalf("run.json lacks the metrics:\n%s", raw)
	}
	// A no-op run reads them from the memo; a changed file is read again.
	if rec := mustRun(t, p, nil, testOptions()); rec.Metrics["model.holdout.accuracy"] != 0.5 {
		t.Fatalf("no-op run metrics %v", rec.Metrics)
	}
	if err := p.Override(map[string]any{"acc": 0.25}); err != nil {
		t.Fatal(err)
	}
	if rec := mustRun(t, p, nil, testOptions()); rec.Metrics["model.holdout.accuracy"] != 0.25 {
		t.Fatalf("metrics after the file changed %v", rec.Metrics)
	}
}
