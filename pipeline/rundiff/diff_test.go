package rundiff

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// flightVariants is flights.variants as the pipeline loads it from YAML
// (ints, not float64s), so comparisons with JSON-read records are tested.
func flightVariants(maxDepth int) []any {
	return []any{
		map[string]any{"name": "bts", "features": []any{"DepDelay", "Distance"}, "categorical": true,
			"forest": map[string]any{"num_trees": 20, "max_depth": maxDepth, "max_bins": 4657}},
		map[string]any{"name": "flights3m", "features": []any{"Distance"}, "categorical": true,
			"forest": map[string]any{"num_trees": 20, "max_depth": 5, "max_bins": 4657}},
	}
}

// baseRecord and headRecord are two runs of the real pipeline's shape: the
// head raised the match forest's depth and the bts variant's depth, a data
// set changed, the code moved on and three stages got new keys.
func baseRecord() *stagerun.RunRecord {
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	return &stagerun.RunRecord{
		ID: "20261207T100000Z-aaaaaa", Pipeline: "datalab.yaml", Status: "ok",
		Start: start, End: start.Add(183 * time.Second), DurationSec: 183,
		Git:       stagerun.GitState{Commit: "1111111111111111111111111111111111111111", Branch: "main"},
		GoVersion: "go1.26.8", DatalabVersion: "dev",
		Datasets: map[string]string{
			"matches/international_matches.csv": "sha256:aaaa000000000000000000000000000000000000000000000000000000000000",
			"bts2008/flights_2008_4_1.csv":      "sha256:bbbb000000000000000000000000000000000000000000000000000000000000",
		},
		Params: map[string]any{
			"ingest.max_bad_ratio":              0.01,
			"matches.variants":                  []any{"seed", "elo", "form", "form3"},
			"matches.serve_variant":             "form3",
			"matches.forests.default.max_depth": 8,
			"matches.test_year":                 2022,
			"flights.serve_variant":             "bts",
			"flights.variants":                  flightVariants(5),
		},
		Metrics: map[string]float64{
			"matches.served.holdout.accuracy":          0.5312,
			"matches.served.holdout.log_loss":          0.9871,
			"matches.served.holdout.auc":               0.6702,
			"matches.served.holdout.n":                 571,
			"matches.variants.form3.holdout.accuracy":  0.5312,
			"flights.variants.bts.holdout.accuracy":    0.8123,
			"flights.variants.bts.holdout.brier":       0.3001,
			"flights.variants.bts.holdout.weighted_f1": 0.79,
			"flights.variants.flights3m.holdout.auc":   0.6,
		},
		Stages: []stagerun.StageRecord{
			{Name: "ingest-matches", Status: stagerun.StatusSkipped, Key: "k-ingest"},
			{Name: "train-matches", Status: stagerun.StatusRan, Key: "k-train-a", DurationSec: 41.2},
			{Name: "evaluate-matches", Status: stagerun.StatusRan, Key: "k-eval-a"},
			{Name: "train-flights", Status: stagerun.StatusSkipped, Key: "k-tf-a"},
		},
	}
}

func headRecord() *stagerun.RunRecord {
	r := baseRecord()
	r.ID = "20261207T110000Z-bbbbbb"
	r.Experiment = "max_depth-12"
	r.Start = r.Start.Add(time.Hour)
	r.End = r.Start.Add(95 * time.Second)
	r.DurationSec = 95
	r.Git = stagerun.GitState{Commit: "2222222222222222222222222222222222222222", Branch: "deeper-trees", Dirty: true}
	r.Overrides = map[string]any{"matches.forests.default.max_depth": 12, "flights.variants.0.forest.max_depth": 7}
	r.Datasets = map[string]string{
		"matches/international_matches.csv": "sha256:cccc000000000000000000000000000000000000000000000000000000000000",
		"bts2008/flights_2008_4_1.csv":      "sha256:bbbb000000000000000000000000000000000000000000000000000000000000",
	}
	r.Params = map[string]any{}
	for k, v := range baseRecord().Params {
		r.Params[k] = v
	}
	r.Params["matches.forests.default.max_depth"] = 12
	r.Params["flights.variants"] = flightVariants(7)
	r.Metrics = map[string]float64{
		"matches.served.holdout.accuracy":          0.5469,
		"matches.served.holdout.log_loss":          1.0123,
		"matches.served.holdout.auc":               0.6702,
		"matches.served.holdout.n":                 571,
		"matches.variants.form3.holdout.accuracy":  0.5469,
		"flights.variants.bts.holdout.accuracy":    0.8101,
		"flights.variants.bts.holdout.brier":       0.2999,
		"flights.variants.bts.holdout.weighted_f1": 0.79,
		"flights.variants.bts.holdout.rows":        120,
	}
	r.Stages = []stagerun.StageRecord{
		{Name: "ingest-matches", Status: stagerun.StatusRan, Key: "k-ingest-2"},
		{Name: "train-matches", Status: stagerun.StatusRan, Key: "k-train-b"},
		{Name: "evaluate-matches", Status: stagerun.StatusRan, Key: "k-eval-b"},
		{Name: "train-flights", Status: stagerun.StatusSkipped, Key: "k-tf-a"},
	}
	return r
}

func TestCompareParams(t *testing.T) {
	tests := []struct {
		name     string
		old, new map[string]any
		all      bool
		want     []ParamChange
	}{
		{"same values, YAML ints vs JSON floats",
			map[string]any{"a": 8, "l": []any{1, 2}}, map[string]any{"a": 8.0, "l": []any{1.0, 2.0}}, false, nil},
		{"scalar changed",
			map[string]any{"a": 8}, map[string]any{"a": 12}, false,
			[]ParamChange{{Key: "a", Old: 8.0, New: 12.0, HasOld: true, HasNew: true, Changed: true}}},
		{"added and removed",
			map[string]any{"gone": "x"}, map[string]any{"added": true}, false,
			[]ParamChange{
				{Key: "added", New: true, HasNew: true, Changed: true},
				{Key: "gone", Old: "x", HasOld: true, Changed: true},
			}},
		{"list of scalars is one value",
			map[string]any{"v": []any{"seed", "elo"}}, map[string]any{"v": []any{"seed", "form"}}, false,
			[]ParamChange{{Key: "v", Old: []any{"seed", "elo"}, New: []any{"seed", "form"}, HasOld: true, HasNew: true, Changed: true}}},
		{"nested list of mappings broken down to the changed leaf",
			map[string]any{"flights.variants": flightVariants(5)}, map[string]any{"flights.variants": flightVariants(7)}, false,
			[]ParamChange{{Key: "flights.variants.0.forest.max_depth", Old: 5.0, New: 7.0, HasOld: true, HasNew: true, Changed: true}}},
		{"list length changed is one value",
			map[string]any{"v": []any{map[string]any{"n": 1}}}, map[string]any{"v": []any{map[string]any{"n": 1}, map[string]any{"n": 2}}}, false,
			[]ParamChange{{Key: "v", Old: []any{map[string]any{"n": 1.0}}, New: []any{map[string]any{"n": 1.0}, map[string]any{"n": 2.0}}, HasOld: true, HasNew: true, Changed: true}}},
		{"key added inside a mapping",
			map[string]any{"m": map[string]any{"a": 1}}, map[string]any{"m": map[string]any{"a": 1, "b": "x"}}, false,
			[]ParamChange{{Key: "m.b", New: "x", HasNew: true, Changed: true}}},
		{"type changed",
			map[string]any{"m": map[string]any{"a": 1}}, map[string]any{"m": "flat"}, false,
			[]ParamChange{{Key: "m", Old: map[string]any{"a": 1.0}, New: "flat", HasOld: true, HasNew: true, Changed: true}}},
		{"all lists unchanged params too",
			map[string]any{"a": 1, "b": 2}, map[string]any{"a": 1, "b": 3}, true,
			[]ParamChange{
				{Key: "a", Old: 1.0, New: 1.0, HasOld: true, HasNew: true},
				{Key: "b", Old: 2.0, New: 3.0, HasOld: true, HasNew: true, Changed: true},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CompareParams(tt.old, tt.new, tt.all)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CompareParams =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}

func TestCompareMetrics(t *testing.T) {
	old := map[string]float64{"x.holdout.accuracy": 0.5, "x.holdout.log_loss": 1, "x.count": 0, "x.zero": 0, "x.auc": evaluate.Undefined, "x.gone": 3}
	new := map[string]float64{"x.holdout.accuracy": 0.55, "x.holdout.log_loss": 1.1, "x.count": 4, "x.zero": 0, "x.auc": 0.7, "x.new": 1}
	got := map[string]MetricChange{}
	for _, m := range CompareMetrics(old, new) {
		got[m.Key] = m
	}
	acc := got["x.holdout.accuracy"]
	if !acc.HasOld || !acc.HasNew || math.Abs(acc.Abs-0.05) > 1e-12 || math.Abs(acc.Rel-0.1) > 1e-12 || !acc.HasRel || acc.Verdict != "better" || !*acc.HigherIsBetter {
		t.Errorf("accuracy: %+v", acc)
	}
	if ll := got["x.holdout.log_loss"]; ll.Verdict != "worse" || *ll.HigherIsBetter {
		t.Errorf("log loss up must be worse: %+v", ll)
	}
	if c := got["x.count"]; c.HasRel || c.Abs != 4 || c.HigherIsBetter != nil || c.Verdict != "" || !c.Changed() {
		t.Errorf("zero base: relative change must be undefined, absolute 4, no direction: %+v", c)
	}
	if z := got["x.zero"]; !z.HasRel || z.Rel != 0 || z.Changed() {
		t.Errorf("0 → 0 is no change with relative change 0: %+v", z)
	}
	if a := got["x.auc"]; a.HasOld || !a.HasNew || !a.Changed() {
		t.Errorf("an undefined AUC counts as absent: %+v", a)
	}
	if g := got["x.gone"]; !g.HasOld || g.HasNew || !g.Changed() {
		t.Errorf("gone: %+v", g)
	}
	if n := got["x.new"]; n.HasOld || !n.HasNew {
		t.Errorf("new: %+v", n)
	}
	keys := []string{}
	for _, m := range CompareMetrics(old, new) {
		keys = append(keys, m.Key)
	}
	if strings.Join(keys, ",") != "x.auc,x.count,x.gone,x.holdout.accuracy,x.holdout.log_loss,x.new,x.zero" {
		t.Errorf("metrics not sorted: %v", keys)
	}
}

func TestHigherIsBetter(t *testing.T) {
	for key, want := range map[string]string{
		"matches.served.holdout.accuracy": "true", "flights.variants.bts.holdout.auc": "true",
		"matches.served.holdout.log_loss": "false", "x.brier": "false", "matches.served.holdout_binary.rps": "false", "matches.served.holdout.n": "nil", "accuracy_gap": "nil",
	} {
		got := "nil"
		if h := HigherIsBetter(key); h != nil {
			got = map[bool]string{true: "true", false: "false"}[*h]
		}
		if got != want {
			t.Errorf("HigherIsBetter(%q) = %s, want %s", key, got, want)
		}
	}
}

// TestCompareSameRun: a run diffed against itself shows no change, in every
// rendering.
func TestCompareSameRun(t *testing.T) {
	a := headRecord()
	a.Git.Dirty = false
	d := Compare(a, a, Options{})
	if !d.Empty() || len(d.Params) != 0 || len(d.ChangedMetrics()) != 0 || len(d.Data) != 0 || len(d.Stages) != 0 || d.Code.Changed() {
		t.Fatalf("A vs A must be empty: %+v", d)
	}
	for name, out := range map[string][]byte{"text": d.Text(), "markdown": d.Markdown()} {
		if !bytes.Contains(out, []byte("no change: same params, metrics, data, code and stage keys")) {
			t.Errorf("%s of A vs A does not say no change:\n%s", name, out)
		}
		if bytes.Contains(out, []byte("Params")) || bytes.Contains(out, []byte("Metrics")) {
			t.Errorf("%s of A vs A lists changes:\n%s", name, out)
		}
	}
	// A dirty tree means the code may differ even from itself: say so.
	a.Git.Dirty = true
	if d := Compare(a, a, Options{}); d.Empty() || !strings.Contains(d.Summary(), "uncommitted changes") {
		t.Errorf("a dirty run vs itself must say its code is unknown: %s", d.Summary())
	}
	// --all lists every param, all unchanged.
	a.Git.Dirty = false
	d = Compare(a, a, Options{All: true})
	if len(d.Params) != len(a.Params) || d.ChangedParams() != 0 {
		t.Errorf("--all of A vs A: %d params, %d changed; want %d, 0", len(d.Params), d.ChangedParams(), len(a.Params))
	}
}

func TestCompareRecords(t *testing.T) {
	d := Compare(baseRecord(), headRecord(), Options{})
	var keys []string
	for _, p := range d.Params {
		keys = append(keys, p.Key)
	}
	if got := strings.Join(keys, ","); got != "flights.variants.0.forest.max_depth,matches.forests.default.max_depth" {
		t.Errorf("changed params: %s", got)
	}
	if len(d.Data) != 1 || d.Data[0].Key != "matches/international_matches.csv" {
		t.Errorf("data: %+v", d.Data)
	}
	var stages []string
	for _, s := range d.Stages {
		stages = append(stages, s.Name)
	}
	if got := strings.Join(stages, ","); got != "ingest-matches,train-matches,evaluate-matches" {
		t.Errorf("stages with another key: %s", got)
	}
	if want := []string{"matches.served.holdout.accuracy", "flights.variants.bts.holdout.accuracy"}; !reflect.DeepEqual(d.Headline, []string{"flights.variants.bts.holdout.accuracy", "matches.served.holdout.accuracy"}) {
		t.Errorf("headline %v, want %v in use-case order", d.Headline, want)
	}
	if !d.Code.Changed() || d.B.Experiment != "max_depth-12" || d.B.Overrides["matches.forests.default.max_depth"] != 12.0 {
		t.Errorf("run info/code: %+v %+v", d.B, d.Code)
	}
}

func TestDiffJSONRoundTrip(t *testing.T) {
	for _, opt := range []Options{{}, {All: true}} {
		d := Compare(baseRecord(), headRecord(), opt)
		data, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var back Diff
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, d) {
			t.Errorf("JSON round trip (All=%v) changed the diff:\n%#v\n%#v", opt.All, back, d)
		}
		again, _ := back.JSON()
		if !bytes.Equal(again, data) {
			t.Errorf("JSON not byte-stable")
		}
	}
}

func TestMarkdownGolden(t *testing.T) {
	d := Compare(baseRecord(), headRecord(), Options{})
	rules := []Rule{}
	for _, s := range []string{"matches.served.holdout.accuracy < -0.005", "flights.variants.*.holdout.accuracy < -1%", "matches.served.holdout.log_loss > 0.02"} {
		r, err := ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, r)
	}
	got := append(d.Markdown(), d.Check(rules).Markdown()...)
	checkGolden(t, "diff.md", got)
	checkGolden(t, "diff.txt", append(d.Text(), d.Check(rules).Text()...))
	all := Compare(baseRecord(), headRecord(), Options{All: true}).Markdown()
	checkGolden(t, "diff-all.md", all)
	for name, out := range map[string][]byte{"diff.md": got, "diff-all.md": all} {
		if bytes.Contains(out, []byte("map[")) {
			t.Errorf("%s renders a value in Go's map syntax", name)
		}
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./pipeline/rundiff -run %s -update writes it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (rerun with -update if the change is intended):\n%s", path, got)
	}
}

func TestFormatNumbers(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{FormatNumber(571), "571"}, {FormatNumber(0.53125), "0.5312"}, {FormatNumber(0.00012), "0.00012"},
		{FormatChange(0.0157), "+0.0157"}, {FormatChange(-3), "-3"}, {FormatChange(0), "0"},
		{FormatPercent(0.0294), "+2.94%"}, {FormatPercent(-0.5), "-50.00%"}, {FormatPercent(0.00001), "+0.001%"},
		{FormatNumber(math.NaN()), "n/a"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

func TestHeadlineKeys(t *testing.T) {
	if got := HeadlineKeys(baseRecord(), 3); !reflect.DeepEqual(got, []string{"flights.variants.bts.holdout.accuracy", "matches.served.holdout.accuracy"}) {
		t.Errorf("HeadlineKeys = %v", got)
	}
	r := &stagerun.RunRecord{Metrics: map[string]float64{"m.a.accuracy": 1, "m.b.accuracy": 1, "m.c": 1}}
	if got := HeadlineKeys(r, 3); !reflect.DeepEqual(got, []string{"m.a.accuracy", "m.b.accuracy"}) {
		t.Errorf("fallback to accuracies: %v", got)
	}
	r.Metrics = map[string]float64{"z": 1, "y": 2, "x": 3, "w": 4}
	if got := HeadlineKeys(r, 2); !reflect.DeepEqual(got, []string{"w", "x"}) {
		t.Errorf("fallback to first keys: %v", got)
	}
	if got := HeadlineKeys(&stagerun.RunRecord{}, 3); got != nil {
		t.Errorf("no metrics: %v", got)
	}
}
