package report

import (
	"fmt"
	"math"
	"strconv"

	"github.com/datalabhq/datalab/pipeline/evaluate"
)

// FormatFloat formats v with 4 decimals, or "n/a" for evaluate.Undefined
// and non-finite values.
func FormatFloat(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) || v == evaluate.Undefined {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

// FormatPercent formats a fraction as a percentage with 1 decimal.
func FormatPercent(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
}

// MetricsTable appends one row per comparison (model variant or baseline)
// with n and the headline metrics of evaluate.Result.Metrics; the best value
// of each column (highest, or lowest for log loss and Brier) is
// highlighted, ties included. Undefined values show as n/a.
func (r *Report) MetricsTable(caption string, comps []evaluate.Comparison) {
	if !r.checkComparisons("metrics table", caption, comps) {
		return
	}
	first := comps[0].Result.Metrics()
	t := table{Caption: caption, Header: []string{"Variant", "n"}, Class: "metrics"}
	for _, m := range first {
		t.Header = append(t.Header, m.Label)
	}
	best := make([]float64, len(first))
	for j, m := range first {
		best[j] = math.NaN()
		for _, c := range comps {
			v := c.Result.Metrics()[j].Value
			if !evaluate.Defined(v) {
				continue
			}
			if math.IsNaN(best[j]) || (m.HigherIsBetter && v > best[j]) || (!m.HigherIsBetter && v < best[j]) {
				best[j] = v
			}
		}
	}
	for _, c := range comps {
		row := []cell{{Text: c.Name}, {Text: strconv.Itoa(c.Result.N), Class: "num"}}
		for j, m := range c.Result.Metrics() {
			cl := cell{Text: FormatFloat(m.Value), Class: "num"}
			if len(comps) > 1 && m.Value == best[j] {
				cl.Class = "num best"
				cl.Title = "best " + m.Label
			}
			row = append(row, cl)
		}
		t.Rows = append(t.Rows, row)
	}
	r.add("table", t)
}

// checkComparisons records an error unless comps is non-empty and every
// result is present and has the same classes.
func (r *Report) checkComparisons(what, caption string, comps []evaluate.Comparison) bool {
	if len(comps) == 0 {
		r.fail(fmt.Errorf("report %q: %s %q: no comparisons", r.title, what, caption))
		return false
	}
	for _, c := range comps {
		if c.Result == nil {
			r.fail(fmt.Errorf("report %q: %s %q: comparison %q has no result", r.title, what, caption, c.Name))
			return false
		}
		if len(c.Result.Classes) != len(comps[0].Result.Classes) {
			r.fail(fmt.Errorf("report %q: %s %q: %q has %d classes, %q has %d; compare results of the same task",
				r.title, what, caption, c.Name, len(c.Result.Classes), comps[0].Name, len(comps[0].Result.Classes)))
			return false
		}
	}
	return true
}

// Confusion appends the confusion matrix of res as a table (rows: true
// class, columns: predicted class). Cells are shaded by their share of the
// row, so the diagonal reads as per-class recall; the tooltip gives the
// share.
func (r *Report) Confusion(caption string, res *evaluate.Result) {
	if res == nil {
		r.fail(fmt.Errorf("report %q: confusion %q: no result", r.title, caption))
		return
	}
	r.add("table", confusionTable(caption, res.Classes, res.Confusion))
}

// confusionTable is the shaded confusion-matrix table of Confusion.
func confusionTable(caption string, classes []string, confusion [][]int) table {
	t := table{Caption: caption, Header: []string{"true \\ predicted"}, Class: "confusion"}
	t.Header = append(t.Header, classes...)
	t.Header = append(t.Header, "total")
	for i, row := range confusion {
		total := 0
		for _, n := range row {
			total += n
		}
		cells := []cell{{Text: classes[i], Class: "rowhead"}}
		for _, n := range row {
			share := 0.0
			if total > 0 {
				share = float64(n) / float64(total)
			}
			level := min(int(share*10), 9)
			cells = append(cells, cell{
				Text:  strconv.Itoa(n),
				Class: fmt.Sprintf("num h%d", level),
				Title: FormatPercent(share) + " of true " + classes[i],
			})
		}
		cells = append(cells, cell{Text: strconv.Itoa(total), Class: "num"})
		t.Rows = append(t.Rows, cells)
	}
	return t
}

// PerClass appends a table of res's per-class precision, recall, F1,
// support, predicted count and one-vs-rest AUC.
func (r *Report) PerClass(caption string, res *evaluate.Result) {
	if res == nil {
		r.fail(fmt.Errorf("report %q: per-class table %q: no result", r.title, caption))
		return
	}
	rows := make([][]string, len(res.PerClass))
	for i, m := range res.PerClass {
		rows[i] = []string{m.Class, FormatFloat(m.Precision), FormatFloat(m.Recall), FormatFloat(m.F1),
			strconv.Itoa(m.Support), strconv.Itoa(m.Predicted), FormatFloat(m.AUC)}
	}
	r.Table(caption, []string{"Class", "Precision", "Recall", "F1", "Support", "Predicted", "AUC (one-vs-rest)"}, rows)
}
