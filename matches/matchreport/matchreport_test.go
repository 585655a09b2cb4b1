package matchreport

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/ingest"
	"github.com/datalabhq/datalab/pipeline/report"
)

func mustResult(t *testing.T, classes []string, y []int, proba [][]float64) *evaluate.Result {
	t.Helper()
	r, err := evaluate.Classification(classes, y, proba)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustHard(t *testing.T, classes []string, y, pred []int) *evaluate.Result {
	t.Helper()
	r, err := evaluate.FromPredictions(classes, y, pred)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fixtureEvaluation is a small evaluation with the shape of metrics.json:
// seed and form (binary), form3 (three-way), both baselines, two matches.
func fixtureEvaluation(t *testing.T) *matchmodel.Evaluation {
	bin := []string{"not_home_win", "home_win"}
	three := []string{"home_win", "draw", "away_win"}
	yb := []int{1, 0, 1, 0, 1, 1}
	y3 := []int{0, 1, 0, 2, 0, 0}
	pb := func(p ...float64) [][]float64 {
		out := make([][]float64, len(p))
		for i, v := range p {
			out[i] = []float64{1 - v, v}
		}
		return out
	}
	p3 := [][]float64{{.6, .2, .2}, {.3, .4, .3}, {.5, .3, .2}, {.2, .3, .5}, {.4, .3, .3}, {.7, .2, .1}}
	variant := func(name string, res, cup *evaluate.Result) matchmodel.VariantEvaluation {
		return matchmodel.VariantEvaluation{Name: name, Description: "d " + name, Version: "v-" + name, Columns: []string{"a", "b"},
			Forest: map[string]string{"numTrees": "5"}, Holdout: res, WorldCup: cup,
			Importances: []matchmodel.FeatureImportance{{Feature: "a", Importance: .7}, {Feature: "b", Importance: .3}}}
	}
	seedRes := mustResult(t, bin, yb, pb(.6, .4, .4, .6, .7, .8))
	formRes := mustResult(t, bin, yb, pb(.7, .3, .6, .4, .8, .9))
	f3 := mustResult(t, three, y3, p3)
	rank := mustHard(t, bin, yb, []int{1, 0, 0, 0, 1, 1})
	major := mustHard(t, bin, yb, []int{0, 0, 0, 0, 0, 0})
	elo := mustResult(t, bin, yb, pb(.6, .45, .55, .4, .6, .6))
	elo3 := mustResult(t, three, y3, [][]float64{{.5, .3, .2}, {.35, .35, .3}, {.45, .3, .25}, {.3, .3, .4}, {.45, .3, .25}, {.5, .3, .2}})
	rank3 := mustHard(t, three, y3, []int{0, 2, 0, 2, 0, 0})
	major3 := mustHard(t, three, y3, []int{0, 0, 0, 0, 0, 0})
	m := matchmodel.WorldCupMatch{Date: ingest.NewDate(2022, 12, 18), Home: "Argentina", Away: "France", HomeGoals: 3, AwayGoals: 3, Neutral: true}
	ev := &matchmodel.Evaluation{
		Schema: matchmodel.EvaluationSchema, TestYear: 2022, TrainRows: 100, TestRows: 6, WorldCupRows: 6,
		WorldCupAsOf: matchmodel.WorldCupStart,
		Variants:     []matchmodel.VariantEvaluation{variant("seed", seedRes, seedRes), variant("form", formRes, formRes), variant("form3", f3, f3)},
		Baselines: map[string][]matchmodel.Baseline{
			"binary": {{Name: "better FIFA rank wins", Holdout: rank, WorldCup: rank, Validation: map[string]float64{"accuracy": .61}},
				{Name: matchmodel.EloLogitName, Holdout: elo, WorldCup: elo, Validation: map[string]float64{"accuracy": .62, "rps": .17}},
				{Name: "majority class (not_home_win)", Holdout: major, WorldCup: major}},
			"three-way": {{Name: "better FIFA rank wins", Holdout: rank3, WorldCup: rank3},
				{Name: matchmodel.EloLogitName, Holdout: elo3, WorldCup: elo3, Validation: map[string]float64{"accuracy": .63, "rps": .1526}},
				{Name: "majority class (home_win)", Holdout: major3, WorldCup: major3}},
		},
		EloLogit:       &matchmodel.EloLogit{Beta: .52, Home: .5, Cut1: -.74, Cut2: .53, Rows: 100},
		ValidationYear: 2021,
		WorldCup: []matchmodel.WorldCupPrediction{{WorldCupMatch: m, Actual: matchwinner.Draw, RankFavourite: "Argentina",
			Predictions: map[string]matchmodel.VariantPrediction{
				"seed":  {Outcome: matchwinner.HomeWin, Probability: .6},
				"form":  {Outcome: matchwinner.NotHomeWin, Probability: .55, Correct: true},
				"form3": {Outcome: matchwinner.HomeWin, Probability: .45},
			}}},
		HoldoutClassCounts: []int{4, 1, 1}, WorldCupClassCounts: []int{4, 1, 1},
		SeedLabel: matchmodel.SeedLabelCheck{Disagreements: 0, Accuracy: map[string]float64{"seed": .5, "better FIFA rank wins": .8}},
	}
	f3v := &ev.Variants[2]
	f3v.HoldoutBinary, f3v.WorldCupBinary = formRes, formRes
	f3v.Decision = &matchmodel.DecisionRule{DrawMargin: .04}
	f3v.Validation = &matchmodel.Validation{Year: 2021, Rows: 1077, Metrics: map[string]float64{"accuracy": .6425, "rps": .1518},
		BinaryMetrics: map[string]float64{"accuracy": .7549}, DrawsPredicted: 24, DrawsActual: 246, Margins: []matchmodel.MarginScore{{Margin: 0}, {Margin: .04}}}
	var err error
	if ev.Served, err = matchmodel.ServedEvaluation(ev, "form3"); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestBuild checks the report's content and that it is deterministic.
func TestBuild(t *testing.T) {
	ev := fixtureEvaluation(t)
	lin := report.Lineage{RunID: "r1", Commit: "abc", DataOids: map[string]string{"matches/x.csv": "sha256:00"}, Params: map[string]any{"matches.test_year": 2022}}
	r, err := Build(ev, lin, "form3")
	if err != nil {
		t.Fatal(err)
	}
	a, err := r.Render()
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := Build(ev, lin, "form3")
	b, _ := r2.Render()
	if !bytes.Equal(a, b) {
		t.Fatal("same evaluation, different bytes")
	}
	html := string(a)
	for _, want := range []string{
		"Summary", "World Cup 2022 predictions", "Argentina – France", "3–3", "Feature importances",
		"Home win vs not: hold-out 2022", "Home win / draw / away win: World Cup 2022",
		"baseline: better FIFA rank wins", "served by the web app", "sha256:00", "Label definition check",
		"Best designed variant (form", "beats the seed model",
		"Served model vs baselines", "form3 against the baselines", "Draws predicted vs actual", "baseline: Elo ordered logit",
		"Validation year 2021", "24 / 246", "form3 as home win vs not", "0.1518", "draw when |p(home win) − p(away win)| &lt; 0.0400", "ordered logit on Elo difference",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Count(html, "<svg") < 4 {
		t.Errorf("expected ROC, calibration and bar plots, found %d svg", strings.Count(html, "<svg"))
	}
	// The fixture's form3 fails some checks (e.g. three-way RPS against the
	// rank rule): the summary says so and names each with its numbers.
	if !strings.Contains(html, "does NOT meet the target") {
		t.Error("the served verdict does not say the target is missed")
	}
	failed := 0
	for _, c := range ev.Served.Checks {
		if c.Pass {
			continue
		}
		failed++
		name := fmt.Sprintf("%s %s %s vs %s (%s vs %s)", map[string]string{"holdout": "hold-out", "world_cup": "World Cup"}[c.Set], c.Classes, c.Metric,
			c.Baseline, report.FormatFloat(c.Served), report.FormatFloat(c.Value))
		if !strings.Contains(html, name) {
			t.Errorf("the verdict does not name %q", name)
		}
	}
	if failed == 0 {
		t.Fatal("fixture: expected failed checks")
	}
	if strings.Count(html, ">NO<") == 0 || strings.Count(html, ">yes<") == 0 {
		t.Error("the served table marks no check passed or failed")
	}
	sc := r.Sidecar("matches.html")
	if sc.Metrics["accuracy"] != ev.Variants[1].Holdout.Accuracy || sc.RunID != "r1" || sc.Metrics["served_rps"] != ev.Served.Holdout.RPS {
		t.Errorf("sidecar %+v", sc)
	}
}

// TestBuildNeedsVariants: an empty evaluation is an error, not an empty page.
func TestBuildNeedsVariants(t *testing.T) {
	if _, err := Build(&matchmodel.Evaluation{}, report.Lineage{}, "form3"); err == nil {
		t.Fatal("no error for an evaluation without variants")
	}
}
