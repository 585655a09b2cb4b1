package matchmodel

import (
	"context"
	"fmt"

	"github.com/datalabhq/datalab/matches/matchfeat"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// EvaluationSchema identifies the metrics JSON layout.
const EvaluationSchema = "datalab.matches.metrics/v1"

// VariantEvaluation is one trained variant scored on both test sets.
type VariantEvaluation struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Version     string            `json:"version"`
	Columns     []string          `json:"columns"`
	Forest      map[string]string `json:"forest"`
	Holdout     *evaluate.Result  `json:"holdout"`
	WorldCup    *evaluate.Result  `json:"world_cup"`
	// HoldoutBinary and WorldCupBinary score a three-way variant's
	// probabilities as home win vs not (P(home win) against the rest), so
	// it can be compared with the binary models and baselines.
	HoldoutBinary  *evaluate.Result    `json:"holdout_binary,omitempty"`
	WorldCupBinary *evaluate.Result    `json:"world_cup_binary,omitempty"`
	Importances    []FeatureImportance `json:"importances"`
	// Decision is the three-way decision rule the predictions above use
	// (absent: argmax); Validation the variant's validation-year result.
	Decision   *DecisionRule `json:"decision,omitempty"`
	Validation *Validation   `json:"validation,omitempty"`
}

// Baseline is a rule scored on both test sets, for one class set.
type Baseline struct {
	Name     string           `json:"name"`
	Holdout  *evaluate.Result `json:"holdout"`
	WorldCup *evaluate.Result `json:"world_cup"`
	// Validation is the baseline's headline metrics on the validation year
	// (fitted on the years before it), when validation is on.
	Validation map[string]float64 `json:"validation,omitempty"`
}

// WorldCupPrediction is one World Cup 2022 match, its actual result and each
// variant's prediction.
type WorldCupPrediction struct {
	WorldCupMatch
	Actual      matchwinner.Outcome          `json:"actual"`
	Predictions map[string]VariantPrediction `json:"predictions"`
	// RankFavourite is the better-ranked team as of the tournament start.
	RankFavourite string `json:"rank_favourite"`
}

// VariantPrediction is one variant's answer for one match.
type VariantPrediction struct {
	Outcome     matchwinner.Outcome `json:"outcome"`
	Probability float64             `json:"probability"`
	Correct     bool                `json:"correct"`
}

// Evaluation is metrics.json: every variant and baseline on the held-out
// year and on the 64 World Cup 2022 matches.
type Evaluation struct {
	Schema       string      `json:"schema"`
	TestYear     int         `json:"test_year"`
	TrainRows    int         `json:"train_rows"`
	TestRows     int         `json:"test_rows"`
	WorldCupRows int         `json:"world_cup_rows"`
	WorldCupAsOf ingest.Date `json:"world_cup_as_of"`
	// Class sets: "binary" (not home win, home win) and "three-way".
	Variants  []VariantEvaluation   `json:"variants"`
	Baselines map[string][]Baseline `json:"baselines"`
	WorldCup  []WorldCupPrediction  `json:"world_cup"`
	// HoldoutClassCounts and WorldCupClassCounts count the true three-way
	// outcomes (home win, draw, away win).
	HoldoutClassCounts  []int `json:"holdout_class_counts"`
	WorldCupClassCounts []int `json:"world_cup_class_counts"`
	// EloLogit is the fitted Elo baseline (training years only).
	EloLogit *EloLogit `json:"elo_logit"`
	// ValidationYear is the year the variants were validated on (0: none).
	ValidationYear int `json:"validation_year,omitempty"`
	// Served is the variant the web app serves, with its checks against
	// the baselines (set by EvaluateStage).
	Served *Served `json:"served,omitempty"`
	// SeedLabel scores the binary models and the rank rule on the test year
	// against the seed's own label, home_team_result == "Win", which counts
	// a penalty shoot-out win as a win (the labels above use the score after
	// 90/120 minutes). It ties the figures to the reference measurements.
	SeedLabel SeedLabelCheck `json:"seed_label"`
}

// SeedLabelCheck holds test-year accuracies against home_team_result.
type SeedLabelCheck struct {
	// Disagreements counts test matches whose home_team_result differs from
	// the 90/120-minute result (shoot-outs).
	Disagreements int `json:"disagreements"`
	// Accuracy maps a binary variant name, or "better FIFA rank wins", to
	// its accuracy against home_team_result == "Win".
	Accuracy map[string]float64 `json:"accuracy"`
}

// ClassSet names the class set of a variant: "binary" or "three-way".
func ClassSet(classes []matchwinner.Outcome) string {
	if len(classes) == 2 {
		return "binary"
	}
	return "three-way"
}

func classNames(classes []matchwinner.Outcome) []string {
	s := make([]string, len(classes))
	for i, c := range classes {
		s[i] = string(c)
	}
	return s
}

// testCase is one match to score: who, where, when the features are taken,
// and the result.
type testCase struct {
	home, away          string
	neutral             bool
	asOf                ingest.Date
	homeGoals, awayGoal int32
}

// Evaluate scores the loaded models on d's test year and on the World Cup
// matches (features as of WorldCupStart), computes the baselines, and lists
// every World Cup prediction. Features go through Model.Features — the path
// the web app uses.
func Evaluate(ctx context.Context, models []*Model, d *Data, wc []WorldCupMatch) (*Evaluation, error) {
	holdout := make([]testCase, len(d.Test))
	for k, i := range d.Test {
		m := &d.Matches[i]
		holdout[k] = testCase{m.HomeTeam, m.AwayTeam, m.NeutralLocation, m.Date, m.HomeTeamScore, m.AwayTeamScore}
	}
	cup := make([]testCase, len(wc))
	for k, m := range wc {
		cup[k] = testCase{m.Home, m.Away, m.Neutral, WorldCupStart, m.HomeGoals, m.AwayGoals}
	}
	ev := &Evaluation{
		Schema: EvaluationSchema, TestYear: d.TestYear, TrainRows: len(d.Train), TestRows: len(d.Test),
		WorldCupRows: len(wc), WorldCupAsOf: WorldCupStart, Baselines: map[string][]Baseline{},
		HoldoutClassCounts: classCounts(holdout), WorldCupClassCounts: classCounts(cup),
		SeedLabel: SeedLabelCheck{Accuracy: map[string]float64{}},
	}
	seedLabel := make([]int, len(d.Test))
	rankRight := 0
	for k, i := range d.Test {
		m := &d.Matches[i]
		if m.HomeTeamResult == "Win" {
			seedLabel[k] = 1
		}
		if (m.HomeTeamScore > m.AwayTeamScore) != (seedLabel[k] == 1) {
			ev.SeedLabel.Disagreements++
		}
		h, _ := d.Lookup.Team(m.HomeTeam, m.Date)
		a, _ := d.Lookup.Team(m.AwayTeam, m.Date)
		if (h.Rank < a.Rank) == (seedLabel[k] == 1) {
			rankRight++
		}
	}
	ev.SeedLabel.Accuracy["better FIFA rank wins"] = float64(rankRight) / float64(len(d.Test))
	three := matchfeat.Variants["form3"]
	for k, m := range wc {
		actual, _ := three.Label(m.HomeGoals, m.AwayGoals)
		ev.WorldCup = append(ev.WorldCup, WorldCupPrediction{WorldCupMatch: m, Actual: matchfeat.ThreeClasses[actual],
			Predictions: map[string]VariantPrediction{}, RankFavourite: rankFavourite(d.Lookup, cup[k])})
	}

	for _, mdl := range models {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		man := mdl.Manifest()
		ve := VariantEvaluation{Name: man.Variant.Name, Description: man.Variant.Description, Version: man.Version,
			Columns: man.Columns, Forest: man.SparkParams, Importances: man.Importances,
			Decision: man.Decision, Validation: man.Validation}
		if man.Validation != nil {
			ev.ValidationYear = man.Validation.Year
		}
		var err error
		var cupPred []int
		var cupProba [][]float64
		var holdPred []int
		if ve.Holdout, ve.HoldoutBinary, holdPred, _, err = scoreCases(mdl, holdout); err != nil {
			return nil, fmt.Errorf("variant %s, %d matches: %w", ve.Name, d.TestYear, err)
		}
		if len(man.Classes) == 2 {
			right := 0
			for k, p := range holdPred {
				if int(p) == seedLabel[k] {
					right++
				}
			}
			ev.SeedLabel.Accuracy[ve.Name] = float64(right) / float64(len(holdPred))
		}
		if ve.WorldCup, ve.WorldCupBinary, cupPred, cupProba, err = scoreCases(mdl, cup); err != nil {
			return nil, fmt.Errorf("variant %s, World Cup: %w", ve.Name, err)
		}
		for k := range ev.WorldCup {
			w := &ev.WorldCup[k]
			y, _ := man.Variant.Label(w.HomeGoals, w.AwayGoals)
			c := cupPred[k]
			w.Predictions[ve.Name] = VariantPrediction{Outcome: man.Classes[c], Probability: cupProba[k][c], Correct: c == y}
		}
		ev.Variants = append(ev.Variants, ve)
	}

	var err error
	if ev.EloLogit, err = FitEloLogit(d, d.Train); err != nil {
		return nil, err
	}
	for _, classes := range [][]matchwinner.Outcome{matchfeat.BinaryClasses, matchfeat.ThreeClasses} {
		rank, elo, major, err := baselines(d, ev.EloLogit, classes, holdout, cup)
		if err != nil {
			return nil, err
		}
		ev.Baselines[ClassSet(classes)] = []Baseline{rank, elo, major}
	}
	if ev.ValidationYear > 0 {
		if err := validateBaselines(ev, d); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

// baselines scores "better FIFA rank wins", the Elo ordered logit and the
// majority class of d's training years on the hold-out and the World Cup
// (World Cup nil: not scored).
func baselines(d *Data, elo *EloLogit, classes []matchwinner.Outcome, holdout, cup []testCase) (rank, eloB, major Baseline, err error) {
	v := matchfeat.Variant{Name: ClassSet(classes), Classes: classes}
	majority, err := majorityClass(d, v)
	if err != nil {
		return rank, eloB, major, err
	}
	rank = Baseline{Name: "better FIFA rank wins"}
	eloB = Baseline{Name: EloLogitName}
	major = Baseline{Name: fmt.Sprintf("majority class (%s)", classes[majority])}
	for _, set := range []struct {
		cases []testCase
		rank  **evaluate.Result
		elo   **evaluate.Result
		major **evaluate.Result
	}{{holdout, &rank.Holdout, &eloB.Holdout, &major.Holdout}, {cup, &rank.WorldCup, &eloB.WorldCup, &major.WorldCup}} {
		if set.cases == nil {
			continue
		}
		yTrue := make([]int, len(set.cases))
		yRank := make([]int, len(set.cases))
		yMajor := make([]int, len(set.cases))
		pElo := make([][]float64, len(set.cases))
		for i, c := range set.cases {
			if yTrue[i], err = v.Label(c.homeGoals, c.awayGoal); err != nil {
				return rank, eloB, major, err
			}
			f, err := d.Lookup.Features(c.home, c.away, c.neutral, c.asOf)
			if err != nil {
				return rank, eloB, major, err
			}
			win := matchwinner.AwayWin
			if f.Home.Rank < f.Away.Rank {
				win = matchwinner.HomeWin
			} else if len(classes) == 2 {
				win = matchwinner.NotHomeWin
			}
			yRank[i] = indexOf(classes, win)
			yMajor[i] = majority
			p3 := elo.Proba(&f) // home win, draw, away win
			if len(classes) == 2 {
				pElo[i] = []float64{1 - p3[0], p3[0]}
			} else {
				pElo[i] = p3
			}
		}
		if *set.rank, err = evaluate.FromPredictions(classNames(classes), yTrue, yRank); err != nil {
			return rank, eloB, major, err
		}
		if *set.elo, err = evaluate.Classification(classNames(classes), yTrue, pElo); err != nil {
			return rank, eloB, major, err
		}
		if *set.major, err = evaluate.FromPredictions(classNames(classes), yTrue, yMajor); err != nil {
			return rank, eloB, major, err
		}
	}
	return rank, eloB, major, nil
}

// validateBaselines scores the baselines on the validation year, fitted on
// (and the majority class taken from) the years before it, so the
// candidates of a sweep can be compared with them without the test year.
func validateBaselines(ev *Evaluation, d *Data) error {
	vd, err := splitValidation(d, ev.ValidationYear)
	if err != nil {
		return err
	}
	cases := make([]testCase, len(vd.Test))
	for k, i := range vd.Test {
		m := &vd.Matches[i]
		cases[k] = testCase{m.HomeTeam, m.AwayTeam, m.NeutralLocation, m.Date, m.HomeTeamScore, m.AwayTeamScore}
	}
	elo, err := FitEloLogit(vd, vd.Train)
	if err != nil {
		return err
	}
	for _, classes := range [][]matchwinner.Outcome{matchfeat.BinaryClasses, matchfeat.ThreeClasses} {
		rank, eloB, major, err := baselines(vd, elo, classes, cases, nil)
		if err != nil {
			return err
		}
		bs := ev.Baselines[ClassSet(classes)]
		for i, b := range []Baseline{rank, eloB, major} {
			if i < len(bs) && bs[i].Name == b.Name {
				bs[i].Validation = headline(b.Holdout)
			}
		}
	}
	return nil
}

func indexOf(classes []matchwinner.Outcome, o matchwinner.Outcome) int {
	for i, c := range classes {
		if c == o {
			return i
		}
	}
	return -1
}

// rankFavourite is the team with the better (lower) FIFA rank as of c.asOf.
func rankFavourite(lk *matchfeat.Lookup, c testCase) string {
	h, _ := lk.Team(c.home, c.asOf)
	a, _ := lk.Team(c.away, c.asOf)
	if h.Rank < a.Rank {
		return c.home
	}
	return c.away
}

func classCounts(cases []testCase) []int {
	n := make([]int, 3)
	three := matchfeat.Variants["form3"]
	for _, c := range cases {
		k, _ := three.Label(c.homeGoals, c.awayGoal)
		n[k]++
	}
	return n
}

// majorityClass is the most frequent class of d's training rows (first on
// ties).
func majorityClass(d *Data, v matchfeat.Variant) (int, error) {
	n := make([]int, len(v.Classes))
	for _, i := range d.Train {
		k, err := v.Label(d.Matches[i].HomeTeamScore, d.Matches[i].AwayTeamScore)
		if err != nil {
			return 0, err
		}
		n[k]++
	}
	best := 0
	for k := range n {
		if n[k] > n[best] {
			best = k
		}
	}
	return best, nil
}

// scoreCases computes the features of every case through mdl.Features,
// scores them in one batch, decides with the model's decision rule and
// evaluates: in the model's classes and, for three classes, as home win vs
// not. pred are the decided classes.
func scoreCases(mdl *Model, cases []testCase) (res, binary *evaluate.Result, pred []int, proba [][]float64, err error) {
	man := mdl.Manifest()
	var x []float64
	yTrue := make([]int, len(cases))
	for i, c := range cases {
		row, _, err := mdl.Features(c.home, c.away, c.neutral, c.asOf)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		x = append(x, row...)
		if yTrue[i], err = man.Variant.Label(c.homeGoals, c.awayGoal); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	argmax, flat, err := mdl.ScoreBatch(x)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	k := len(man.Classes)
	proba = make([][]float64, len(cases))
	pred = make([]int, len(cases))
	for i := range proba {
		proba[i] = flat[i*k : (i+1)*k]
		pred[i] = mdl.Decide(proba[i], int(argmax[i]))
	}
	res, binary, err = decidedResults(man.Classes, yTrue, proba, argmax, man.Decision)
	return res, binary, pred, proba, err
}
