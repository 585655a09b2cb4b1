// Package flightreport assembles the flight-delay HTML report from the
// evaluation written by `datalab evaluate flights`
// (build/metrics/flights/metrics.json): lineage, data and split, held-out
// metrics of every variant against its baselines, confusion matrices,
// per-class metrics, ROC and calibration plots, feature importances.
//
// Every figure is a held-out figure: the models are scored on the 20 % of
// rows they were not trained on (the seed printed training accuracy only).
// It is the last step of the flight flow (flightfeat → flightmodel train →
// evaluate → report) and only composes blocks of pipeline/report.
package flightreport

import (
	"fmt"
	"sort"
	"strings"

	"github.com/datalabhq/datalab/flights/flightmodel"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/report"
)

// Kind is the report name: reports/runs/<run-id>/flights.html.
const Kind = "flights"

// SklearnReference is scikit-learn's held-out accuracy on BTS 2008 with the
// seed's features (20 trees, depth 5, 80/20 split) quoted by the seed notes;
// the target is to stay within 0.5 points of it. docs/flights.md has the
// figure re-measured on this split (bench/flightmodel).
const SklearnReference = 0.683

// Build composes the report for an evaluation.
func Build(ev *flightmodel.Evaluation, lin report.Lineage) (*report.Report, error) {
	if len(ev.Variants) == 0 {
		return nil, fmt.Errorf("evaluation has no variants")
	}
	r := report.New("Flight arrival delay: held-out evaluation")
	r.Lineage(lin)

	serve := &ev.Variants[0]
	for i := range ev.Variants {
		if ev.Variants[i].Name == ev.ServeVariant {
			serve = &ev.Variants[i]
		}
	}
	r.Section("Summary", summary(ev, serve)...)

	buckets := make([]string, len(ev.Classes))
	for k, c := range ev.Classes {
		buckets[k] = fmt.Sprintf("%d %s = ArrDelay in %s", k, c, ev.ClassBuckets[k])
	}
	r.Section("Data and split",
		fmt.Sprintf("Each variant's data set is split at random, 80/20 (test fraction %s), by a permutation seeded with %d "+
			"(math/rand/v2 PCG(seed, 0)); StringIndexers are fitted on the training rows only, so a test row whose carrier, airport or route "+
			"the training rows lack gets the unseen index (handleInvalid keep). Every metric below is measured on the test rows, which no model saw.",
			report.FormatFloat(ev.TestFraction), ev.SplitSeed),
		"Label: the seed's Bucketizer on ArrDelay with splits [-inf, -15, 0, 30, +inf]: "+strings.Join(buckets, "; ")+".")
	var rows [][]string
	for _, v := range ev.Variants {
		row := []string{v.Name, v.Data, fmt.Sprint(v.TrainRows), fmt.Sprint(v.TestRows)}
		for k := range ev.Classes {
			row = append(row, fmt.Sprintf("%d (%s)", v.TestClassCounts[k], report.FormatPercent(float64(v.TestClassCounts[k])/float64(max(v.TestRows, 1)))))
		}
		rows = append(rows, row)
	}
	r.Table("Rows per variant, and the test rows' delay buckets", append([]string{"variant", "data", "train rows", "test rows"}, ev.Classes...), rows)

	rows = nil
	for _, v := range ev.Variants {
		kind := "continuous (ordered numbers)"
		if v.Categorical {
			kind = "categorical: " + arityText(v.Arity)
		}
		rows = append(rows, []string{v.Name, v.Description, strings.Join(v.Features, ", "), kind, report.KeyValues(v.Forest), fmt.Sprint(v.NumNodes), unseenText(v.UnseenTest)})
	}
	r.Section("Variants",
		"Spark's StringIndexer attaches nominal metadata to its output, so Spark's RandomForest treats the index features as categorical with arity = labels (+1 with keep); "+
			"that is why the seed set maxBins = 4657. The categorical variants mirror that; bts-continuous treats the indexes as ordered numbers, as scikit-learn does. "+
			"Categorical splits on a many-valued feature (Route) are searched by ordering its categories by impurity per node, which costs more binning and histogram work than 32 continuous bins (docs/flights.md has the timings).")
	r.Table("Feature sets and forests", []string{"variant", "description", "features (vector order)", "index features", "forest", "nodes", "test rows with unseen values"}, rows)

	byData := map[string][]*flightmodel.VariantEvaluation{}
	var dataOrder []string
	for i := range ev.Variants {
		v := &ev.Variants[i]
		if _, ok := byData[v.Data]; !ok {
			dataOrder = append(dataOrder, v.Data)
		}
		byData[v.Data] = append(byData[v.Data], v)
	}
	for _, data := range dataOrder {
		vs := byData[data]
		comps := comparisons(vs)
		r.Section(fmt.Sprintf("Held-out metrics: %s", data),
			fmt.Sprintf("%d test rows. Baselines: %s.", vs[0].TestRows, baselineText(vs[0].Baselines)))
		r.MetricsTable(fmt.Sprintf("%s, %d held-out rows", data, vs[0].TestRows), comps)
		r.ROCPlot(fmt.Sprintf("One-vs-rest ROC curves, %s", data), comps[:len(vs)])
		r.CalibrationPlot(fmt.Sprintf("Calibration (top-class confidence vs accuracy), %s", data), comps[:len(vs)])
		for _, v := range vs {
			r.Confusion(fmt.Sprintf("Confusion matrix, %s (rows: true bucket)", v.Name), v.Holdout)
			r.PerClass(fmt.Sprintf("Per-class metrics, %s", v.Name), v.Holdout)
		}
	}

	r.Section("Feature importances", "Spark's definition: gain × node count per feature, normalised per tree, summed over trees, normalised.")
	for _, v := range ev.Variants {
		r.Importances(fmt.Sprintf("Feature importances, %s", v.Name), v.Importances)
	}

	r.Headline(serve.Holdout)
	for _, b := range serve.Baselines {
		r.HeadlineMetric(baselineKey(b.Name), b.Holdout.Accuracy)
	}
	return r, r.Err()
}

func summary(ev *flightmodel.Evaluation, serve *flightmodel.VariantEvaluation) []string {
	out := []string{fmt.Sprintf("Served variant %s (%s): held-out accuracy %s on %d test rows, weighted precision %s, weighted recall %s, weighted F1 %s, log loss %s.",
		serve.Name, serve.Data, report.FormatFloat(serve.Holdout.Accuracy), serve.TestRows, report.FormatFloat(serve.Holdout.WeightedPrecision),
		report.FormatFloat(serve.Holdout.WeightedRecall), report.FormatFloat(serve.Holdout.WeightedF1), report.FormatFloat(serve.Holdout.LogLoss))}
	for _, b := range serve.Baselines {
		out = append(out, fmt.Sprintf("Baseline %s: accuracy %s (the forest is %+.1f points above it).", b.Name,
			report.FormatFloat(b.Holdout.Accuracy), 100*(serve.Holdout.Accuracy-b.Holdout.Accuracy)))
	}
	for _, v := range ev.Variants {
		if strings.Contains(v.Data, "bts2008") {
			target := SklearnReference - 0.005
			met := "met"
			if v.Holdout.Accuracy < target {
				met = "not met"
			}
			out = append(out, fmt.Sprintf("%s: held-out accuracy %s against scikit-learn's reference %s with the same features (target ≥ %s: %s).",
				v.Name, report.FormatFloat(v.Holdout.Accuracy), report.FormatFloat(SklearnReference), report.FormatFloat(target), met))
		}
	}
	out = append(out, "The seed's job reported training accuracy only; no figure in this report is measured on training rows.")
	return out
}

func comparisons(vs []*flightmodel.VariantEvaluation) []evaluate.Comparison {
	var comps []evaluate.Comparison
	for _, v := range vs {
		comps = append(comps, evaluate.Comparison{Name: v.Name, Result: v.Holdout})
	}
	// The baselines depend only on the data set and the split (and the
	// forest parameters for DepDelay-only, equal across these variants):
	// list the first variant's.
	for _, b := range vs[0].Baselines {
		comps = append(comps, evaluate.Comparison{Name: "baseline: " + b.Name, Result: b.Holdout})
	}
	return comps
}

func baselineText(bs []flightmodel.Baseline) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = b.Name + " — " + b.Description
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

func baselineKey(name string) string {
	if strings.HasPrefix(name, "majority") {
		return "majority_baseline_accuracy"
	}
	if strings.HasPrefix(name, "DepDelay") {
		return "depdelay_baseline_accuracy"
	}
	return strings.ReplaceAll(strings.ToLower(name), " ", "_") + "_accuracy"
}

func arityText(a map[string]int) string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, a[k])
	}
	return strings.Join(parts, ", ")
}

func unseenText(u map[string]flightmodel.UnseenRate) string {
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, u[k].Rows)
	}
	return strings.Join(parts, ", ")
}
