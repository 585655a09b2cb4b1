package matchmodel

import (
	"fmt"

	"github.com/datalabhq/datalab/pipeline/evaluate"
)

// Served is metrics.json's "served" block: the variant the web app loads,
// in its own classes and as home win vs not, with the checks against the
// baselines. Run records flatten it to keys like
// matches.served.holdout.accuracy and matches.served.holdout_binary.rps.
type Served struct {
	Variant  string        `json:"variant"`
	Classes  string        `json:"classes"`
	Decision *DecisionRule `json:"decision,omitempty"`
	// Holdout and WorldCup are in the variant's classes, with its
	// decision rule.
	Holdout  *evaluate.Result `json:"holdout"`
	WorldCup *evaluate.Result `json:"world_cup"`
	// HoldoutBinary and WorldCupBinary are home win vs not (the same as
	// Holdout and WorldCup for a binary variant).
	HoldoutBinary  *evaluate.Result `json:"holdout_binary"`
	WorldCupBinary *evaluate.Result `json:"world_cup_binary"`
	// Validation is the variant's validation-year headline metrics in its
	// own classes and as home win vs not (absent without validation).
	Validation       map[string]float64 `json:"validation,omitempty"`
	ValidationBinary map[string]float64 `json:"validation_binary,omitempty"`
	// Draws counts predicted and actual draws (three-way only).
	Draws *DrawCounts `json:"draws,omitempty"`
	// Checks compare the served variant with "better FIFA rank wins" and
	// the Elo ordered logit; BeatsBaselines is true when every check
	// passes, ChecksFailed counts the others (a number, so run records and
	// diffs carry it: matches.served.checks_failed).
	Checks         []ServedCheck `json:"checks"`
	BeatsBaselines bool          `json:"beats_baselines"`
	ChecksFailed   int           `json:"checks_failed"`
}

// DrawCounts are predicted vs actual draws per test set.
type DrawCounts struct {
	HoldoutPredicted  int `json:"holdout_predicted"`
	HoldoutActual     int `json:"holdout_actual"`
	WorldCupPredicted int `json:"world_cup_predicted"`
	WorldCupActual    int `json:"world_cup_actual"`
}

// ServedCheck is one comparison of the served variant with a baseline. On
// the hold-out the served variant must be strictly better; on the 64 World
// Cup matches it must not be worse.
type ServedCheck struct {
	// Name is "<set>-<classes>-<metric>-vs-<baseline>" (run records key
	// the checks by it: matches.served.checks.<name>.advantage).
	Name     string  `json:"name"`
	Set      string  `json:"set"`     // "holdout" or "world_cup"
	Classes  string  `json:"classes"` // "binary" or "three-way"
	Metric   string  `json:"metric"`  // "accuracy" or "rps"
	Baseline string  `json:"baseline"`
	Served   float64 `json:"served"`
	Value    float64 `json:"value"` // the baseline's
	// Advantage is how much better the served variant is, in the metric's
	// units: served − baseline for accuracy, baseline − served for RPS.
	Advantage float64 `json:"advantage"`
	Pass      bool    `json:"pass"`
}

// ServedBaselines are the baselines the served variant is checked against.
var ServedBaselines = []string{"better FIFA rank wins", EloLogitName}

// ServedEvaluation builds the served block for variant name of ev.
func ServedEvaluation(ev *Evaluation, name string) (*Served, error) {
	var v *VariantEvaluation
	for i := range ev.Variants {
		if ev.Variants[i].Name == name {
			v = &ev.Variants[i]
		}
	}
	if v == nil {
		return nil, fmt.Errorf("served variant %q was not evaluated (add it to params.matches.variants)", name)
	}
	s := &Served{Variant: name, Classes: classSetOf(v.Holdout), Decision: v.Decision,
		Holdout: v.Holdout, WorldCup: v.WorldCup, HoldoutBinary: v.HoldoutBinary, WorldCupBinary: v.WorldCupBinary}
	if s.Classes == "binary" {
		s.HoldoutBinary, s.WorldCupBinary = v.Holdout, v.WorldCup
	} else {
		s.Draws = &DrawCounts{}
		s.Draws.HoldoutPredicted, s.Draws.HoldoutActual = drawCounts(v.Holdout)
		s.Draws.WorldCupPredicted, s.Draws.WorldCupActual = drawCounts(v.WorldCup)
	}
	if v.Validation != nil {
		s.Validation, s.ValidationBinary = v.Validation.Metrics, v.Validation.BinaryMetrics
		if s.Classes == "binary" {
			s.ValidationBinary = v.Validation.Metrics
		}
	}
	results := map[string][2]*evaluate.Result{
		"binary":    {s.HoldoutBinary, s.WorldCupBinary},
		"three-way": {s.Holdout, s.WorldCup},
	}
	s.BeatsBaselines = true
	for _, classes := range []string{"binary", "three-way"} {
		if classes == "three-way" && s.Classes == "binary" {
			continue
		}
		for _, bname := range ServedBaselines {
			var b *Baseline
			for i := range ev.Baselines[classes] {
				if ev.Baselines[classes][i].Name == bname {
					b = &ev.Baselines[classes][i]
				}
			}
			if b == nil {
				return nil, fmt.Errorf("evaluation has no %s baseline %q", classes, bname)
			}
			for k, set := range []string{"holdout", "world_cup"} {
				mine, theirs := results[classes][k], [2]*evaluate.Result{b.Holdout, b.WorldCup}[k]
				for _, metric := range []string{"accuracy", "rps"} {
					c := ServedCheck{Name: fmt.Sprintf("%s-%s-%s-vs-%s", set, classes, metric, bname),
						Set: set, Classes: classes, Metric: metric, Baseline: bname}
					c.Served, c.Value = metricValue(mine, metric), metricValue(theirs, metric)
					c.Advantage = c.Served - c.Value
					if metric == "rps" {
						c.Advantage = -c.Advantage
					}
					c.Pass = c.Advantage > 0 || (set == "world_cup" && c.Advantage == 0)
					s.BeatsBaselines = s.BeatsBaselines && c.Pass
					if !c.Pass {
						s.ChecksFailed++
					}
					s.Checks = append(s.Checks, c)
				}
			}
		}
	}
	return s, nil
}

func metricValue(r *evaluate.Result, key string) float64 {
	for _, m := range r.Metrics() {
		if m.Key == key {
			return m.Value
		}
	}
	panic("matchmodel: unknown metric " + key)
}

func classSetOf(r *evaluate.Result) string {
	if len(r.Classes) == 2 {
		return "binary"
	}
	return "three-way"
}
