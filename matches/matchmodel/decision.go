package matchmodel

import (
	"context"
	"fmt"
	"math"

	"github.com/datalabhq/datalab/matches/matchfeat"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/forest"
)

// DecisionRule turns a three-way model's probabilities into a predicted
// outcome. A forest on these features almost never makes a draw the most
// probable outcome (draws are about a quarter of matches, but never the
// likeliest one), so argmax never predicts one; the rule predicts a draw
// when the two teams' win probabilities are within DrawMargin of each other:
//
//	draw              if |p(home win) − p(away win)| < DrawMargin
//	argmax otherwise
//
// DrawMargin 0 is argmax. The margin is chosen on the validation year (see
// ValidateVariant), never on the test year.
type DecisionRule struct {
	DrawMargin float64 `json:"draw_margin"`
}

// DrawMarginOrZero is the draw margin, 0 for argmax (a nil rule).
func (r *DecisionRule) DrawMarginOrZero() float64 {
	if r == nil {
		return 0
	}
	return r.DrawMargin
}

// Decide returns the predicted class of a probability row. argmax is the
// forest's own prediction (the class index the scorer returned), used
// unless the rule says draw.
func (r *DecisionRule) Decide(classes []matchwinner.Outcome, p []float64, argmax int) int {
	if r == nil || r.DrawMargin <= 0 || len(classes) != 3 {
		return argmax
	}
	h, d, a := indexOf(classes, matchwinner.HomeWin), indexOf(classes, matchwinner.Draw), indexOf(classes, matchwinner.AwayWin)
	if h < 0 || d < 0 || a < 0 {
		return argmax
	}
	if math.Abs(p[h]-p[a]) < r.DrawMargin {
		return d
	}
	return argmax
}

// Validation is how a variant did on the validation year when fitted on the
// years before it, and, for a three-way variant, how its draw margin was
// chosen. Metrics are evaluate's headline metrics (keys of
// evaluate.Result.Metrics).
type Validation struct {
	Year      int `json:"year"`
	TrainRows int `json:"train_rows"`
	Rows      int `json:"rows"`
	// Metrics are the variant's own classes, with its decision rule.
	Metrics map[string]float64 `json:"metrics"`
	// BinaryMetrics are a three-way variant's probabilities collapsed to
	// home win vs not (absent for binary variants: Metrics are those).
	BinaryMetrics map[string]float64 `json:"binary_metrics,omitempty"`
	// DrawsPredicted and DrawsActual count draws on the validation year.
	DrawsPredicted int `json:"draws_predicted"`
	DrawsActual    int `json:"draws_actual"`
	// Margins are the draw margins tried, best accuracy chosen (the
	// smallest margin among equals).
	Margins []MarginScore `json:"margins,omitempty"`
}

// MarginScore is one draw margin's result on the validation year.
type MarginScore struct {
	Margin   float64 `json:"margin"`
	Accuracy float64 `json:"accuracy"`
	Draws    int     `json:"draws"`
}

// headline maps a Result's headline metrics by key (undefined ones left
// out).
func headline(r *evaluate.Result) map[string]float64 {
	out := map[string]float64{}
	for _, m := range r.Metrics() {
		if evaluate.Defined(m.Value) {
			out[m.Key] = m.Value
		}
	}
	return out
}

// splitValidation returns d restricted to the training years: training
// rows before year, test rows in year.
func splitValidation(d *Data, year int) (*Data, error) {
	vd := *d
	vd.Train, vd.Test, vd.TestYear = nil, nil, year
	for _, i := range d.Train {
		switch y := d.Matches[i].Date.Time().Year(); {
		case y < year:
			vd.Train = append(vd.Train, i)
		case y == year:
			vd.Test = append(vd.Test, i)
		}
	}
	if len(vd.Train) == 0 || len(vd.Test) == 0 {
		return nil, fmt.Errorf("validation year %d: %d training and %d validation matches inside the training years", year, len(vd.Train), len(vd.Test))
	}
	return &vd, nil
}

// ValidateVariant fits a variant on the training years before year, scores
// year, and for a three-way variant chooses the draw margin (0, 0.01, …,
// maxMargin) with the best accuracy there. Nothing of d's test year is
// read.
func ValidateVariant(ctx context.Context, d *Data, name string, fc ForestConfig, year int, maxMargin float64) (*DecisionRule, *Validation, error) {
	vd, err := splitValidation(d, year)
	if err != nil {
		return nil, nil, err
	}
	t, err := Train(ctx, vd, name, fc)
	if err != nil {
		return nil, nil, fmt.Errorf("validation fit: %w", err)
	}
	enc, err := matchfeat.NewEncoder(t.Variant, t.Labels)
	if err != nil {
		return nil, nil, err
	}
	x, y, err := vd.Matrix(enc, vd.Test)
	if err != nil {
		return nil, nil, err
	}
	pred, proba, err := scoreForest(t.Model, x, len(y), len(t.Variant.Classes))
	if err != nil {
		return nil, nil, err
	}
	classes := t.Variant.Classes
	val := &Validation{Year: year, TrainRows: len(vd.Train), Rows: len(vd.Test)}
	var rule *DecisionRule
	if len(classes) == 3 && maxMargin > 0 {
		best := -1.0
		for k := 0; float64(k) <= math.Round(maxMargin*100); k++ {
			r := &DecisionRule{DrawMargin: float64(k) / 100}
			ms := MarginScore{Margin: r.DrawMargin}
			for i := range y {
				c := r.Decide(classes, proba[i], int(pred[i]))
				if c == y[i] {
					ms.Accuracy++
				}
				if classes[c] == matchwinner.Draw {
					ms.Draws++
				}
			}
			ms.Accuracy /= float64(len(y))
			val.Margins = append(val.Margins, ms)
			if ms.Accuracy > best {
				best, rule = ms.Accuracy, r
			}
		}
		if rule.DrawMargin == 0 {
			rule = nil
		}
	}
	res, bin, err := decidedResults(classes, y, proba, pred, rule)
	if err != nil {
		return nil, nil, err
	}
	val.Metrics = headline(res)
	if bin != nil {
		val.BinaryMetrics = headline(bin)
	}
	val.DrawsPredicted, val.DrawsActual = drawCounts(res)
	return rule, val, nil
}

// scoreForest scores row-major x with an in-memory forest.
func scoreForest(m *forest.Model, x []float64, rows, k int) ([]int32, [][]float64, error) {
	sc, err := m.Compile()
	if err != nil {
		return nil, nil, err
	}
	pred := make([]int32, rows)
	flat := make([]float64, rows*k)
	if err := sc.PredictBatch(x, pred, flat); err != nil {
		return nil, nil, err
	}
	proba := make([][]float64, rows)
	for i := range proba {
		proba[i] = flat[i*k : (i+1)*k]
	}
	return pred, proba, nil
}

// decidedResults evaluates probabilities with the rule's decisions in the
// variant's classes and, for three classes, collapsed to home win vs not
// (argmax of the two).
func decidedResults(classes []matchwinner.Outcome, y []int, proba [][]float64, pred []int32, rule *DecisionRule) (res, binary *evaluate.Result, err error) {
	dec := make([]int, len(y))
	for i := range y {
		dec[i] = rule.Decide(classes, proba[i], int(pred[i]))
	}
	if res, err = evaluate.Decided(classNames(classes), y, proba, dec); err != nil {
		return nil, nil, err
	}
	if len(classes) != 3 {
		return res, nil, nil
	}
	h := indexOf(classes, matchwinner.HomeWin)
	yb := make([]int, len(y))
	pb := make([][]float64, len(y))
	for i := range y {
		if y[i] == h {
			yb[i] = 1
		}
		pb[i] = []float64{1 - proba[i][h], proba[i][h]}
	}
	binary, err = evaluate.Classification(classNames(matchfeat.BinaryClasses), yb, pb)
	return res, binary, err
}

// drawCounts returns the predicted and true draws of a three-way result (0,
// 0 for other class sets).
func drawCounts(r *evaluate.Result) (predicted, actual int) {
	for _, c := range r.PerClass {
		if c.Class == string(matchwinner.Draw) {
			return c.Predicted, c.Support
		}
	}
	return 0, 0
}
