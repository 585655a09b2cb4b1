package flightreport

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/datalabhq/datalab/flights/flightfeat"
	"github.com/datalabhq/datalab/flights/flightmodel"
	"github.com/datalabhq/datalab/internal/browsertest"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/report"
)

// fixtureEvaluation has the shape of metrics.json: two variants on one data
// set with both baselines, one on another with the majority baseline only.
func fixtureEvaluation(t *testing.T) *flightmodel.Evaluation {
	t.Helper()
	y := []int{0, 1, 1, 2, 3, 2, 1, 0, 3, 1, 2, 2}
	proba := func(shift float64) [][]float64 {
		out := make([][]float64, len(y))
		for i, c := range y {
			p := []float64{0.1, 0.1, 0.1, 0.1}
			p[c] += 0.3 + shift*float64(i%3)
			p[(c+1)%4] += 0.3 - shift*float64(i%3)
			out[i] = p
		}
		return out
	}
	res := func(p [][]float64) *evaluate.Result {
		r, err := evaluate.Classification(flightfeat.ClassNames, y, p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	hard := func(pred int) *evaluate.Result {
		ps := make([]int, len(y))
		for i := range ps {
			ps[i] = pred
		}
		r, err := evaluate.FromPredictions(flightfeat.ClassNames, y, ps)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	major := flightmodel.Baseline{Name: "majority class (early_0-15)", Description: "most frequent", Holdout: hard(1)}
	dep := flightmodel.Baseline{Name: "DepDelay-only forest", Description: "one feature", Holdout: res(proba(0.05))}
	variant := func(name, data string, p [][]float64, bs ...flightmodel.Baseline) flightmodel.VariantEvaluation {
		return flightmodel.VariantEvaluation{Name: name, Description: "d " + name, Data: data, Features: []string{"DepDelay", "Route_index"},
			Categorical: true, Arity: map[string]int{"Route_index": 7}, Forest: map[string]string{"numTrees": "20"}, NumNodes: 30,
			TrainRows: 48, TestRows: len(y), TrainClassCounts: []int{8, 16, 16, 8}, TestClassCounts: []int{2, 4, 4, 2},
			Holdout: res(p), Importances: []flightmodel.FeatureImportance{{Feature: "DepDelay", Importance: 0.8}, {Feature: "Route_index", Importance: 0.2}},
			Baselines: bs, UnseenTest: map[string]flightmodel.UnseenRate{"Route": {Rows: 1, Share: 1.0 / 12}}}
	}
	return &flightmodel.Evaluation{Schema: flightmodel.EvaluationSchema, TestFraction: 0.2, SplitSeed: 2008, ServeVariant: "bts",
		Classes: flightfeat.ClassNames, ClassBuckets: []string{"[-Inf, -15.0)", "[-15.0, 0.0)", "[0.0, 30.0)", "[30.0, Inf]"},
		Variants: []flightmodel.VariantEvaluation{
			variant("bts", "build/parquet/bts2008.parquet", proba(0.1), major, dep),
			variant("bts-continuous", "build/parquet/bts2008.parquet", proba(0), major, dep),
			variant("flights3m", "build/parquet/flights3m.parquet", proba(0.02), major),
		}}
}

func TestBuild(t *testing.T) {
	ev := fixtureEvaluation(t)
	r, err := Build(ev, report.Lineage{Commit: "abc", RunID: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := r.Render()
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := Build(ev, report.Lineage{Commit: "abc", RunID: "run-1"})
	b, _ := r2.Render()
	if !bytes.Equal(a, b) {
		t.Error("same evaluation, different bytes")
	}
	html := string(a)
	for _, want := range []string{"Held-out metrics: build/parquet/bts2008.parquet", "baseline: DepDelay-only forest", "baseline: majority class",
		"Confusion matrix, flights3m", "Feature importances, bts-continuous", "no figure in this report is measured on training rows", "target ≥ 0.678"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	sc := r.Sidecar(Kind + ".html")
	if sc.Metrics["accuracy"] != ev.Variants[0].Holdout.Accuracy || sc.Metrics["majority_baseline_accuracy"] == 0 || sc.Metrics["depdelay_baseline_accuracy"] == 0 {
		t.Errorf("headline metrics %v", sc.Metrics)
	}
}

// TestReportInBrowser opens the report in headless Chromium: no console
// errors, every plot (2 data sets × ROC + calibration, 3 importance
// charts) laid out with a real size and visible text, metrics tables
// filled. The screenshot goes to FLIGHTS_REPORT_SCREENSHOT if set.
func TestReportInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	dir := t.TempDir()
	r, err := Build(fixtureEvaluation(t), report.Lineage{Commit: "abc", RunID: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Write(report.RunPath(dir, "run-1", Kind)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	b := browsertest.New(t, 90*time.Second)
	b.Do(t, chromedp.Navigate(srv.URL+"/runs/run-1/"+Kind+".html"))

	type box struct{ W, H float64 }
	svgs := browsertest.Get(t, b, chromedp.Evaluate[[]box](
		`Array.from(document.querySelectorAll("svg")).map(s => { const r = s.getBoundingClientRect(); return {W: r.width, H: r.height}; })`))
	if len(svgs) != 7 {
		t.Fatalf("%d SVGs, want 7", len(svgs))
	}
	for i, s := range svgs {
		if s.W < 100 || s.H < 100 {
			t.Errorf("SVG %d laid out at %.0f×%.0f px", i, s.W, s.H)
		}
	}
	texts := browsertest.Get(t, b, chromedp.Evaluate[[]int](
		`Array.from(document.querySelectorAll("svg")).map(s => Array.from(s.querySelectorAll("text")).filter(e => e.getBBox().width > 0).length)`))
	for i, n := range texts {
		if n < 3 {
			t.Errorf("SVG %d has %d visible text elements", i, n)
		}
	}
	if cells := browsertest.Get(t, b, chromedp.Evaluate[int](`document.querySelectorAll("table.metrics td").length`)); cells < 30 {
		t.Errorf("metrics tables have %d cells", cells)
	}
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	shot := filepath.Join(t.TempDir(), "flights.png")
	if p := os.Getenv("FLIGHTS_REPORT_SCREENSHOT"); p != "" {
		shot = p
	}
	if png := b.Screenshot(t, shot); len(png) < 10_000 {
		t.Errorf("screenshot is %d bytes", len(png))
	}
}
