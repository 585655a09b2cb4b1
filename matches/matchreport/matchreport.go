// Package matchreport assembles the match-winner HTML report from the
// evaluation the evaluate stage wrote (build/matches/metrics.json): lineage,
// data summary, metrics of every variant against the baselines on the 2022
// hold-out and on the 64 World Cup 2022 matches, confusion matrices, ROC and
// calibration plots, feature importances and the World Cup predictions next
// to the real results.
//
// It is the last step of the match flow (features → train → evaluate →
// report) and only composes blocks of pipeline/report; every number comes
// from the evaluation.
package matchreport

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/report"
)

// Kind is the report name: reports/runs/<run-id>/matches.html.
const Kind = "matches"

// Build composes the report for an evaluation. serveVariant is the variant
// the web app loads (named in the text).
func Build(ev *matchmodel.Evaluation, lin report.Lineage, serveVariant string) (*report.Report, error) {
	if len(ev.Variants) == 0 {
		return nil, fmt.Errorf("evaluation has no variants")
	}
	r := report.New("World Cup match winner: model variants vs baselines")
	r.Lineage(lin)

	bySet := map[string][]matchmodel.VariantEvaluation{}
	for _, v := range ev.Variants {
		set := classSet(v.Holdout)
		bySet[set] = append(bySet[set], v)
	}
	verdict, best := verdict(ev, bySet["binary"])

	if ev.Served != nil {
		verdict = append(verdict, servedVerdict(ev.Served))
	}
	r.Section("Summary", verdict...)

	r.Section("Data",
		fmt.Sprintf("Training: the %d matches of the Kaggle FIFA data set (international_matches.csv, ingested to build/parquet/matches.parquet) before %d. "+
			"Hold-out: the %d matches of %d. External check: the %d real matches of the 2022 World Cup from the martj42 results, "+
			"with features as of %s (before the first match) and the result after 90/120 minutes (a penalty shoot-out does not change it).",
			ev.TrainRows, ev.TestYear, ev.TestRows, ev.TestYear, ev.WorldCupRows, ev.WorldCupAsOf),
		"Every feature of a match is computed from the per-team lookup as of the match's date: FIFA rank, points and EA squad scores published for that day, "+
			"and results (Elo, form, head-to-head) strictly before it. The web app computes its features through the same function.")
	r.Table("Outcomes (home team's view)", []string{"set", "matches", "home win", "draw", "away win"}, [][]string{
		outcomeRow(fmt.Sprintf("hold-out %d", ev.TestYear), ev.HoldoutClassCounts),
		outcomeRow("World Cup 2022", ev.WorldCupClassCounts),
	})

	variantRows := [][]string{}
	for _, v := range ev.Variants {
		serve := ""
		if v.Name == serveVariant {
			serve = "served by the web app"
		}
		variantRows = append(variantRows, []string{v.Name, classSet(v.Holdout), v.Description, strings.Join(v.Columns, ", "), report.KeyValues(v.Forest), v.Version, serve})
	}
	r.Section("Variants")
	r.Table("Feature sets and forests", []string{"variant", "classes", "description", "feature columns", "forest", "model version", ""}, variantRows)
	if ev.ValidationYear > 0 {
		r.Paragraph(fmt.Sprintf("Validation: every variant is also fitted on the training years before %d and scored on %d; "+
			"the three-way draw margin is chosen there (best accuracy, smallest margin among equals), never on the %d hold-out. "+
			"The baselines are fitted the same way. Lower is better for log loss and RPS.", ev.ValidationYear, ev.ValidationYear, ev.TestYear))
		r.Table(fmt.Sprintf("Validation year %d", ev.ValidationYear), []string{"model", "classes", "matches", "accuracy", "log loss", "RPS",
			"binary accuracy", "binary RPS", "draw margin", "draws predicted / actual"}, validationRows(ev))
	}

	// Three-way variants also appear as home win vs not (P(home win)
	// against the rest) beside the binary models and baselines.
	tables := map[string][]matchmodel.VariantEvaluation{"binary": slices.Clone(bySet["binary"]), "three-way": bySet["three-way"]}
	for _, v := range bySet["three-way"] {
		if v.HoldoutBinary != nil && v.WorldCupBinary != nil {
			tables["binary"] = append(tables["binary"], matchmodel.VariantEvaluation{Name: v.Name + " as home win vs not", Holdout: v.HoldoutBinary, WorldCup: v.WorldCupBinary})
		}
	}
	for _, set := range []string{"binary", "three-way"} {
		vs := tables[set]
		if len(vs) == 0 {
			continue
		}
		hold, cup, probabilistic := comparisons(vs, ev.Baselines[set])
		r.Section(fmt.Sprintf("%s: hold-out %d", title(set), ev.TestYear),
			"RPS is the ranked probability score over the ordered outcomes (lower is better); the rules that give no probabilities are scored as one-hot forecasts.")
		r.MetricsTable(fmt.Sprintf("%d matches of %d, %s classes", ev.TestRows, ev.TestYear, set), hold)
		r.ROCPlot("ROC curves, hold-out", hold[:probabilistic])
		r.CalibrationPlot("Calibration (reliability), hold-out", hold[:probabilistic])
		for _, v := range vs {
			r.Confusion(fmt.Sprintf("Confusion matrix, %s, hold-out", v.Name), v.Holdout)
		}
		if set == "three-way" {
			for _, v := range vs {
				r.PerClass(fmt.Sprintf("Per class, %s, hold-out", v.Name), v.Holdout)
			}
		}
		r.Section(fmt.Sprintf("%s: World Cup 2022", title(set)))
		r.MetricsTable(fmt.Sprintf("the %d World Cup matches, %s classes", ev.WorldCupRows, set), cup)
		r.ROCPlot("ROC curves, World Cup 2022", cup[:probabilistic])
		for _, v := range vs {
			r.Confusion(fmt.Sprintf("Confusion matrix, %s, World Cup 2022", v.Name), v.WorldCup)
		}
	}

	if ev.Served != nil {
		servedSection(r, ev)
	}

	r.Section("Feature importances", "Spark's definition: gain × node count per feature, normalised per tree, summed over trees, normalised.")
	for _, v := range ev.Variants {
		r.Importances(fmt.Sprintf("Feature importances, %s", v.Name), v.Importances)
	}

	r.Section("World Cup 2022 predictions",
		fmt.Sprintf("Each variant's prediction with the probability of the predicted class, features as of %s. "+
			"Binary variants predict home win or not; the first-listed team is \"home\" (martj42's order; only Qatar's games are not neutral).", ev.WorldCupAsOf))
	names := make([]string, len(ev.Variants))
	for i, v := range ev.Variants {
		names[i] = v.Name
	}
	header := append([]string{"date", "match", "score", "actual", "rank favourite"}, names...)
	var rows [][]string
	for _, w := range ev.WorldCup {
		row := []string{w.Date.String(), w.Home + " – " + w.Away, fmt.Sprintf("%d–%d", w.HomeGoals, w.AwayGoals), string(w.Actual), w.RankFavourite}
		for _, n := range names {
			p := w.Predictions[n]
			mark := "✗"
			if p.Correct {
				mark = "✓"
			}
			row = append(row, fmt.Sprintf("%s %s %s", mark, p.Outcome, report.FormatPercent(p.Probability)))
		}
		rows = append(rows, row)
	}
	r.Table("The 64 matches", header, rows)

	seedRows := [][]string{}
	keys := make([]string, 0, len(ev.SeedLabel.Accuracy))
	for k := range ev.SeedLabel.Accuracy {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		seedRows = append(seedRows, []string{k, report.FormatFloat(ev.SeedLabel.Accuracy[k])})
	}
	r.Section("Label definition check",
		fmt.Sprintf("The seed labelled a match by home_team_result == \"Win\", which counts a penalty shoot-out win as a win; this report labels by the score after 90/120 minutes. "+
			"The two disagree on %d of the %d hold-out matches. Accuracies against the seed's label, for comparison with the reference figures "+
			"(an equivalent model 0.6725, \"better FIFA rank wins\" 0.6550):", ev.SeedLabel.Disagreements, ev.TestRows))
	r.Table(fmt.Sprintf("Accuracy on %d against home_team_result", ev.TestYear), []string{"model", "accuracy"}, seedRows)

	if best != nil {
		r.Headline(best.Holdout)
		r.HeadlineMetric("world_cup_accuracy", best.WorldCup.Accuracy)
		if bs := ev.Baselines["binary"]; len(bs) > 0 {
			r.HeadlineMetric("rank_baseline_accuracy", bs[0].Holdout.Accuracy)
		}
	}
	if sv := ev.Served; sv != nil {
		r.HeadlineMetric("served_accuracy", sv.Holdout.Accuracy)
		r.HeadlineMetric("served_rps", sv.Holdout.RPS)
		r.HeadlineMetric("served_binary_accuracy", sv.HoldoutBinary.Accuracy)
		r.HeadlineMetric("served_world_cup_accuracy", sv.WorldCup.Accuracy)
	}
	return r, r.Err()
}

func classSet(res *evaluate.Result) string {
	if len(res.Classes) == 2 {
		return "binary"
	}
	return "three-way"
}

func title(set string) string {
	if set == "binary" {
		return "Home win vs not"
	}
	return "Home win / draw / away win"
}

func outcomeRow(name string, counts []int) []string {
	n := 0
	for _, c := range counts {
		n += c
	}
	row := []string{name, fmt.Sprint(n)}
	for _, c := range counts {
		row = append(row, fmt.Sprintf("%d (%s)", c, report.FormatPercent(float64(c)/float64(max(n, 1)))))
	}
	return row
}

// comparisons lists the variants, the Elo logit (a probabilistic
// baseline), then the other baselines, for the hold-out and the World Cup;
// the first probabilistic entries have probabilities worth plotting.
func comparisons(vs []matchmodel.VariantEvaluation, bs []matchmodel.Baseline) (hold, cup []evaluate.Comparison, probabilistic int) {
	for _, v := range vs {
		hold = append(hold, evaluate.Comparison{Name: v.Name, Result: v.Holdout})
		cup = append(cup, evaluate.Comparison{Name: v.Name, Result: v.WorldCup})
	}
	ordered := make([]matchmodel.Baseline, 0, len(bs))
	for _, b := range bs {
		if b.Name == matchmodel.EloLogitName {
			ordered = append(ordered, b)
		}
	}
	probabilistic = len(vs) + len(ordered)
	for _, b := range bs {
		if b.Name != matchmodel.EloLogitName {
			ordered = append(ordered, b)
		}
	}
	for _, b := range ordered {
		hold = append(hold, evaluate.Comparison{Name: "baseline: " + b.Name, Result: b.Holdout})
		cup = append(cup, evaluate.Comparison{Name: "baseline: " + b.Name, Result: b.WorldCup})
	}
	return hold, cup, probabilistic
}

// validationRows are the validation-year rows of the variants and the
// baselines.
func validationRows(ev *matchmodel.Evaluation) [][]string {
	var rows [][]string
	f := func(m map[string]float64, k string) string {
		if v, ok := m[k]; ok {
			return report.FormatFloat(v)
		}
		return "—"
	}
	for _, v := range ev.Variants {
		val := v.Validation
		if val == nil {
			continue
		}
		bin := val.BinaryMetrics
		if bin == nil {
			bin = val.Metrics
		}
		margin, draws := "—", "—"
		if len(val.Margins) > 0 || classSet(v.Holdout) == "three-way" {
			margin = report.FormatFloat(v.Decision.DrawMarginOrZero())
			draws = fmt.Sprintf("%d / %d", val.DrawsPredicted, val.DrawsActual)
		}
		rows = append(rows, []string{v.Name, classSet(v.Holdout), fmt.Sprint(val.Rows), f(val.Metrics, "accuracy"), f(val.Metrics, "log_loss"), f(val.Metrics, "rps"),
			f(bin, "accuracy"), f(bin, "rps"), margin, draws})
	}
	for _, set := range []string{"binary", "three-way"} {
		for _, b := range ev.Baselines[set] {
			if b.Validation == nil {
				continue
			}
			acc3, ll, rps3, accB, rpsB := f(b.Validation, "accuracy"), f(b.Validation, "log_loss"), f(b.Validation, "rps"), "—", "—"
			if set == "binary" {
				acc3, ll, rps3, accB, rpsB = "—", "—", "—", acc3, rps3
			}
			rows = append(rows, []string{"baseline: " + b.Name, set, "", acc3, ll, rps3, accB, rpsB, "", ""})
		}
	}
	return rows
}

// servedVerdict states whether the served variant beats both baselines.
func servedVerdict(sv *matchmodel.Served) string {
	var failed []string
	for _, c := range sv.Checks {
		if !c.Pass {
			failed = append(failed, fmt.Sprintf("%s %s %s vs %s (%s vs %s)", setName(c.Set), c.Classes, c.Metric, c.Baseline,
				report.FormatFloat(c.Served), report.FormatFloat(c.Value)))
		}
	}
	head := fmt.Sprintf("Served variant %s (%s, %s): hold-out accuracy %s, RPS %s; as home win vs not %s, RPS %s.",
		sv.Variant, sv.Classes, ruleText(sv.Decision), report.FormatFloat(sv.Holdout.Accuracy), report.FormatFloat(sv.Holdout.RPS),
		report.FormatFloat(sv.HoldoutBinary.Accuracy), report.FormatFloat(sv.HoldoutBinary.RPS))
	if len(failed) == 0 {
		return head + fmt.Sprintf(" It beats \"%s\" on the hold-out in accuracy and RPS, binary and three-way, and does not lose to either on the World Cup (%d checks, table \"Served model vs baselines\").",
			strings.Join(matchmodel.ServedBaselines, "\" and \""), len(sv.Checks))
	}
	return head + fmt.Sprintf(" It does NOT meet the target (beat \"%s\" on the hold-out, not lose on the World Cup) in %d of %d checks: %s.",
		strings.Join(matchmodel.ServedBaselines, "\" and \""), len(failed), len(sv.Checks), strings.Join(failed, "; "))
}

func setName(set string) string {
	if set == "holdout" {
		return "hold-out"
	}
	return "World Cup"
}

func ruleText(d *matchmodel.DecisionRule) string {
	if m := d.DrawMarginOrZero(); m > 0 {
		return fmt.Sprintf("draw when |p(home win) − p(away win)| < %s", report.FormatFloat(m))
	}
	return "argmax"
}

// servedSection is the comparison table of the served variant against the
// baselines, and its draws.
func servedSection(r *report.Report, ev *matchmodel.Evaluation) {
	sv := ev.Served
	r.Section("Served model vs baselines",
		fmt.Sprintf("The web app serves %s. The target: beat \"%s\" on the %d hold-out (strictly, in accuracy and RPS, as home win vs not and three-way) "+
			"and not lose to either on the %d World Cup matches (one match there is %.1f accuracy points). Lower RPS is better.",
			sv.Variant, strings.Join(matchmodel.ServedBaselines, "\" and \""), ev.TestYear, ev.WorldCupRows, 100/float64(max(ev.WorldCupRows, 1))),
		servedVerdict(sv))
	var rows [][]string
	for _, c := range sv.Checks {
		rows = append(rows, []string{setName(c.Set), c.Classes, c.Metric, c.Baseline, report.FormatFloat(c.Served), report.FormatFloat(c.Value), yesNo(c.Pass, "yes", "NO")})
	}
	r.Table(fmt.Sprintf("%s against the baselines", sv.Variant), []string{"test set", "classes", "metric", "baseline", sv.Variant, "baseline value", "target met"}, rows)
	if sv.Draws != nil {
		r.Table("Draws predicted vs actual", []string{"test set", "predicted draws", "actual draws", "rule"}, [][]string{
			{fmt.Sprintf("hold-out %d", ev.TestYear), fmt.Sprint(sv.Draws.HoldoutPredicted), fmt.Sprint(sv.Draws.HoldoutActual), ruleText(sv.Decision)},
			{"World Cup 2022", fmt.Sprint(sv.Draws.WorldCupPredicted), fmt.Sprint(sv.Draws.WorldCupActual), ruleText(sv.Decision)},
		})
	}
	if ev.EloLogit != nil {
		r.Paragraph("Elo baseline: " + ev.EloLogit.Describe() + ".")
	}
}

// verdict states, from the numbers, whether the best designed binary
// variant (highest hold-out accuracy other than the seed) beats the seed
// model and the rank rule on the hold-out and on the World Cup.
func verdict(ev *matchmodel.Evaluation, binary []matchmodel.VariantEvaluation) ([]string, *matchmodel.VariantEvaluation) {
	var seed, best *matchmodel.VariantEvaluation
	for i := range binary {
		v := &binary[i]
		if v.Name == "seed" {
			seed = v
			continue
		}
		if best == nil || v.Holdout.Accuracy > best.Holdout.Accuracy {
			best = v
		}
	}
	bs := ev.Baselines["binary"]
	if best == nil || seed == nil || len(bs) == 0 {
		return []string{"The seed variant and at least one designed binary variant are needed for a verdict."}, best
	}
	rank := bs[0]
	out := []string{fmt.Sprintf("Seed-equivalent model (variant seed): accuracy %s on the %d matches of %d (target ≥ 0.66: %s), %s on the World Cup.",
		report.FormatFloat(seed.Holdout.Accuracy), ev.TestRows, ev.TestYear, yesNo(seed.Holdout.Accuracy >= 0.66, "met", "not met"),
		report.FormatFloat(seed.WorldCup.Accuracy))}
	beats := func(a, b float64) string { return yesNo(a > b, "beats", "does not beat") }
	out = append(out, fmt.Sprintf("Best designed variant (%s, by %d accuracy): %s on %d — %s the seed model (%s) and %s \"%s\" (%s); "+
		"%s on the World Cup — %s the seed model (%s) and %s the rank rule (%s).",
		best.Name, ev.TestYear, report.FormatFloat(best.Holdout.Accuracy), ev.TestYear,
		beats(best.Holdout.Accuracy, seed.Holdout.Accuracy), report.FormatFloat(seed.Holdout.Accuracy),
		beats(best.Holdout.Accuracy, rank.Holdout.Accuracy), rank.Name, report.FormatFloat(rank.Holdout.Accuracy),
		report.FormatFloat(best.WorldCup.Accuracy),
		beats(best.WorldCup.Accuracy, seed.WorldCup.Accuracy), report.FormatFloat(seed.WorldCup.Accuracy),
		beats(best.WorldCup.Accuracy, rank.WorldCup.Accuracy), report.FormatFloat(rank.WorldCup.Accuracy)))
	out = append(out, fmt.Sprintf("With %d World Cup matches one match is %.1f accuracy points: differences of a match or two there are noise, not evidence.",
		ev.WorldCupRows, 100/float64(max(ev.WorldCupRows, 1))))
	return out, best
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}
