package matchmodel

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/matches/matchfeat"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// TestDecisionRule: draw when the win probabilities are within the margin,
// the forest's own class otherwise; no rule (or margin 0, or two classes)
// is argmax.
func TestDecisionRule(t *testing.T) {
	three := matchfeat.ThreeClasses // home win, draw, away win
	r := &DecisionRule{DrawMargin: 0.1}
	for _, c := range []struct {
		p      []float64
		argmax int
		want   int
	}{
		{[]float64{.40, .25, .35}, 0, 1}, // |.40−.35| = .05 < .1: draw
		{[]float64{.45, .20, .35}, 0, 0}, // .10 is not < .10: argmax
		{[]float64{.30, .28, .42}, 2, 2},
		{[]float64{.34, .33, .33}, 0, 1},
		{[]float64{.20, .50, .30}, 1, 1}, // argmax draw stays draw
	} {
		if got := r.Decide(three, c.p, c.argmax); got != c.want {
			t.Errorf("Decide(%v) = %d, want %d", c.p, got, c.want)
		}
	}
	var none *DecisionRule
	if got := none.Decide(three, []float64{.34, .33, .33}, 0); got != 0 {
		t.Errorf("nil rule: %d, want argmax 0", got)
	}
	if got := (&DecisionRule{}).Decide(three, []float64{.34, .33, .33}, 0); got != 0 {
		t.Errorf("margin 0: %d, want argmax", got)
	}
	if got := r.Decide(matchfeat.BinaryClasses, []float64{.5, .5}, 0); got != 0 {
		t.Errorf("binary: %d, want argmax", got)
	}
	// The class order comes from the classes, not the position.
	rev := []matchwinner.Outcome{matchwinner.AwayWin, matchwinner.HomeWin, matchwinner.Draw}
	if got := r.Decide(rev, []float64{.35, .40, .25}, 1); got != 2 {
		t.Errorf("reordered classes: %d, want draw (2)", got)
	}
}

// syntheticData draws n matches from a known ordered logit (Elo difference
// uniform in ±400, every other match at home).
func syntheticData(n int, th [4]float64, seed uint64) *Data {
	rng := rand.New(rand.NewPCG(seed, 0))
	d := &Data{Matches: make([]ingest.MatchRow, n), Rows: make([]matchfeat.Row, n)}
	for i := range n {
		diff := rng.Float64()*800 - 400
		neutral := i%2 == 0
		h := 0.0
		if !neutral {
			h = 1
		}
		p := eloProba(th, diff/100, h)
		u := rng.Float64()
		m := &d.Matches[i]
		switch {
		case u < p[0]:
			m.AwayTeamScore = 1
		case u < p[0]+p[1]:
		default:
			m.HomeTeamScore = 1
		}
		m.Date = ingest.NewDate(2000+i%20, 1, 1)
		d.Rows[i] = matchfeat.Row{Match: m, Features: matchfeat.Features{Neutral: neutral,
			Home: matchfeat.TeamState{Form: matchfeat.Form{Elo: 1500 + diff}}, Away: matchfeat.TeamState{Form: matchfeat.Form{Elo: 1500}}}}
		d.Train = append(d.Train, i)
	}
	return d
}

// TestEloLogitRecoversParameters: fitted on 40,000 matches drawn from a
// known model, the estimates are within a few standard errors, the
// probabilities sum to 1 and are ordered by strength, and the gradient
// vanishes at the optimum.
func TestEloLogitRecoversParameters(t *testing.T) {
	truth := [4]float64{0.6, 0.35, -0.5, 0.7}
	d := syntheticData(40000, truth, 7)
	e, err := FitEloLogit(d, d.Train)
	if err != nil {
		t.Fatal(err)
	}
	got := [4]float64{e.Beta, e.Home, e.Cut1, e.Cut2}
	for j, name := range []string{"beta", "home", "cut1", "cut2"} {
		if math.Abs(got[j]-truth[j]) > 0.06 {
			t.Errorf("%s = %.4f, true %.4f", name, got[j], truth[j])
		}
	}
	rows := make([]eloRow, len(d.Rows))
	for i := range d.Rows {
		x, h := eloInputs(&d.Rows[i].Features)
		y := 1
		if d.Matches[i].HomeTeamScore > 0 {
			y = 2
		} else if d.Matches[i].AwayTeamScore > 0 {
			y = 0
		}
		rows[i] = eloRow{x, h, y}
	}
	for j, g := range eloGradient(rows, got) {
		if math.Abs(g)/float64(len(rows)) > 1e-6 {
			t.Errorf("gradient[%d] = %v at the optimum", j, g)
		}
	}
	if math.Abs(e.LogLik-eloLogLik(rows, got)) > 1e-9 || e.Rows != 40000 {
		t.Errorf("log-likelihood %v, rows %d", e.LogLik, e.Rows)
	}
	// A much stronger home side: home win most likely; the same teams on
	// neutral ground: less likely.
	strong := matchfeat.Features{Neutral: true, Home: matchfeat.TeamState{Form: matchfeat.Form{Elo: 1800}}, Away: matchfeat.TeamState{Form: matchfeat.Form{Elo: 1500}}}
	pn := e.Proba(&strong)
	strong.Neutral = false
	ph := e.Proba(&strong)
	if s := pn[0] + pn[1] + pn[2]; math.Abs(s-1) > 1e-12 || !(pn[0] > pn[1] && pn[1] > pn[2]) {
		t.Errorf("neutral probabilities %v", pn)
	}
	if !(ph[0] > pn[0]) {
		t.Errorf("home advantage: at home %v, neutral %v", ph, pn)
	}
}

// TestEloLogitNeedsAllOutcomes: a training set without draws is a clear
// error, not a degenerate fit.
func TestEloLogitNeedsAllOutcomes(t *testing.T) {
	d := syntheticData(200, [4]float64{0.6, 0.3, -0.5, 0.7}, 1)
	var idx []int
	for i := range d.Matches {
		if d.Matches[i].HomeTeamScore != d.Matches[i].AwayTeamScore {
			idx = append(idx, i)
		}
	}
	if _, err := FitEloLogit(d, idx); err == nil {
		t.Fatal("fitted without draws")
	}
	if _, err := FitEloLogit(d, nil); err == nil {
		t.Fatal("fitted on nothing")
	}
}

// TestServedChecks: the served block compares with both baselines, strictly
// better on the hold-out, not worse on the World Cup, in both class sets.
func TestServedChecks(t *testing.T) {
	three := []string{"home_win", "draw", "away_win"}
	bin := []string{"not_home_win", "home_win"}
	y3 := []int{0, 1, 2, 0}
	yb := []int{1, 0, 0, 1}
	res := func(classes []string, y []int, p [][]float64) *evaluate.Result {
		r, err := evaluate.Classification(classes, y, p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	good3 := res(three, y3, [][]float64{{.6, .3, .1}, {.3, .4, .3}, {.1, .3, .6}, {.5, .3, .2}})
	goodB := res(bin, yb, [][]float64{{.4, .6}, {.7, .3}, {.9, .1}, {.5, .5}})
	weak3 := res(three, y3, [][]float64{{.4, .3, .3}, {.4, .3, .3}, {.4, .3, .3}, {.4, .3, .3}})
	weakB := res(bin, yb, [][]float64{{.4, .6}, {.4, .6}, {.4, .6}, {.4, .6}})
	ev := &Evaluation{
		Variants: []VariantEvaluation{{Name: "m3", Holdout: good3, WorldCup: weak3, HoldoutBinary: goodB, WorldCupBinary: weakB,
			Validation: &Validation{Year: 2021, Metrics: map[string]float64{"accuracy": .5}, BinaryMetrics: map[string]float64{"accuracy": .6}}}},
		Baselines: map[string][]Baseline{
			"binary":    {{Name: "better FIFA rank wins", Holdout: weakB, WorldCup: weakB}, {Name: EloLogitName, Holdout: weakB, WorldCup: goodB}},
			"three-way": {{Name: "better FIFA rank wins", Holdout: weak3, WorldCup: weak3}, {Name: EloLogitName, Holdout: weak3, WorldCup: weak3}},
		},
	}
	s, err := ServedEvaluation(ev, "m3")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Checks) != 2*2*2*2 || s.Classes != "three-way" || s.Validation["accuracy"] != .5 || s.ValidationBinary["accuracy"] != .6 {
		t.Fatalf("served %+v", s)
	}
	failed := 0
	for _, c := range s.Checks {
		if !c.Pass {
			failed++
			// Only the binary World Cup against the Elo logit (which got
			// the good probabilities there) may fail.
			if c.Set != "world_cup" || c.Classes != "binary" || c.Baseline != EloLogitName {
				t.Errorf("unexpected failure %+v", c)
			}
		}
	}
	if failed != 2 || s.BeatsBaselines || s.ChecksFailed != 2 {
		t.Errorf("%d failed checks (%d counted), beats %v", failed, s.ChecksFailed, s.BeatsBaselines)
	}
	// Checks are named uniquely, and the advantage has the metric's
	// direction: positive is better for the served variant.
	names := map[string]bool{}
	for _, c := range s.Checks {
		names[c.Name] = true
		want := c.Served - c.Value
		if c.Metric == "rps" {
			want = c.Value - c.Served
		}
		if c.Advantage != want || c.Pass != (want > 0 || (c.Set == "world_cup" && want == 0)) {
			t.Errorf("check %+v: advantage want %v", c, want)
		}
	}
	if len(names) != len(s.Checks) || !names["holdout-three-way-rps-vs-Elo ordered logit"] {
		t.Errorf("check names %v", names)
	}
	// Equal on the World Cup passes ("not worse").
	ev.Baselines["binary"][1].WorldCup = weakB
	if s, _ = ServedEvaluation(ev, "m3"); !s.BeatsBaselines {
		t.Errorf("ties on the World Cup should pass: %+v", s.Checks)
	}
	if _, err := ServedEvaluation(ev, "nope"); err == nil {
		t.Error("unknown served variant accepted")
	}
	delete(ev.Baselines, "three-way")
	if _, err := ServedEvaluation(ev, "m3"); err == nil {
		t.Error("missing baselines accepted")
	}
}

// TestConfigValidation: the validation year must lie inside the training
// years and the draw margin bound be a probability difference.
func TestConfigValidation(t *testing.T) {
	base := Config{Variants: []string{"form3"}, TestYear: 2022, ServeVariant: "form3",
		Forests: map[string]ForestConfig{"default": {NumTrees: 5}}, ValidationYear: 2021, MaxDrawMargin: 0.3}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	off := base
	off.ValidationYear, off.MaxDrawMargin = 0, 0
	if err := off.Validate(); err != nil {
		t.Fatalf("validation off: %v", err)
	}
	for _, c := range []struct {
		year   int
		margin float64
		want   string
	}{
		{2022, 0.3, "validation_year 2022"},
		{2030, 0.3, "validation_year 2030"},
		{1990, 0.3, "validation_year 1990"},
		{2021, -0.1, "max_draw_margin -0.1"},
		{2021, 1.5, "max_draw_margin 1.5"},
		{2021, math.NaN(), "max_draw_margin NaN"},
	} {
		bad := base
		bad.ValidationYear, bad.MaxDrawMargin = c.year, c.margin
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("year %d margin %v: err %v, want %q", c.year, c.margin, err, c.want)
		}
	}
}
