package evaluate

import (
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const tol = 1e-12

func binaryProba(p1 ...float64) [][]float64 {
	out := make([][]float64, len(p1))
	for i, p := range p1 {
		out[i] = []float64{1 - p, p}
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) <= tol }

func nearAll(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !near(a[i], b[i]) {
			return false
		}
	}
	return true
}

// want lists hand-computed values; fields left nil are not checked.
type want struct {
	accuracy, balanced, wP, wR, wF1, logLoss, brier, auc float64
	confusion                                            [][]int
	perClass                                             [][4]float64 // precision, recall, f1, auc
	rocFPR, rocTPR                                       [][]float64
	calib                                                map[int][3]float64 // bin → count, mean, observed
}

func TestClassificationHandComputed(t *testing.T) {
	const eps = 1e-15
	tests := []struct {
		name    string
		classes []string
		yTrue   []int
		proba   [][]float64
		yPred   []int // FromPredictions when set
		want    want
	}{
		{
			// sklearn's roc_curve docstring example.
			name:    "binary",
			classes: []string{"lose", "win"},
			yTrue:   []int{0, 0, 1, 1},
			proba:   binaryProba(0.1, 0.4, 0.35, 0.8),
			want: want{
				accuracy: 0.75, balanced: 0.75, wP: 5.0 / 6, wR: 0.75, wF1: 11.0 / 15,
				logLoss:   -(math.Log(0.9) + math.Log(0.6) + math.Log(0.35) + math.Log(0.8)) / 4,
				brier:     (0.02 + 0.32 + 0.845 + 0.08) / 4,
				auc:       0.75,
				confusion: [][]int{{2, 0}, {1, 1}},
				perClass:  [][4]float64{{2.0 / 3, 1, 0.8, 0.75}, {1, 0.5, 2.0 / 3, 0.75}},
				rocFPR:    [][]float64{{0, 0, 0.5, 0.5, 1}},
				rocTPR:    [][]float64{{0, 0.5, 0.5, 1, 1}},
				calib:     map[int][3]float64{0: {1, 0.1, 0}, 3: {2, 0.375, 0.5}, 7: {1, 0.8, 1}},
			},
		},
		{
			// Tied scores: argmax takes the first class; the ROC moves
			// diagonally through ties and drops the collinear middle point.
			name:    "binary ties",
			classes: []string{"no", "yes"},
			yTrue:   []int{0, 1, 0, 1, 1},
			proba:   binaryProba(0.5, 0.5, 0.2, 0.9, 0.2),
			want: want{
				accuracy: 0.6, balanced: (1 + 1.0/3) / 2,
				confusion: [][]int{{2, 0}, {2, 1}},
				auc:       2.0 / 3, // Mann-Whitney: 4 of 6 pairs, ties count ½
				rocFPR:    [][]float64{{0, 0, 1}},
				rocTPR:    [][]float64{{0, 1.0 / 3, 1}},
				// 0.5 is the right edge of bin 4 (0.4, 0.5].
				calib: map[int][3]float64{1: {2, 0.2, 0.5}, 4: {2, 0.5, 0.5}, 8: {1, 0.9, 1}},
			},
		},
		{
			// Class c never occurs but is predicted once: precision 0,
			// recall 0, left out of balanced accuracy and the macro AUC.
			name:    "multiclass hard predictions",
			classes: []string{"a", "b", "c"},
			yTrue:   []int{0, 0, 1, 1, 0},
			yPred:   []int{0, 1, 1, 0, 2},
			want: want{
				accuracy: 0.4, balanced: (1.0/3 + 0.5) / 2, wP: 0.5, wR: 0.4, wF1: 0.44,
				logLoss: (3*-math.Log(eps/(1+eps)) + 2*-math.Log((1-eps)/(1+eps))) / 5,
				brier:   6.0 / 5,
				auc:     (5.0/12 + 7.0/12) / 2,
				confusion: [][]int{
					{1, 1, 1},
					{1, 1, 0},
					{0, 0, 0},
				},
				perClass: [][4]float64{{0.5, 1.0 / 3, 0.4, 5.0 / 12}, {0.5, 0.5, 0.5, 7.0 / 12}, {0, 0, 0, Undefined}},
				rocFPR:   [][]float64{{0, 0.5, 1}, {0, 1.0 / 3, 1}, {}},
				rocTPR:   [][]float64{{0, 1.0 / 3, 1}, {0, 0.5, 1}, {}},
				calib:    map[int][3]float64{9: {5, 1, 0.4}},
			},
		},
		{
			// Only one class present: AUC is undefined, not NaN.
			name:    "binary single class",
			classes: []string{"0", "1"},
			yTrue:   []int{1, 1, 1},
			proba:   binaryProba(0.9, 0.2, 0.6),
			want: want{
				accuracy: 2.0 / 3, balanced: 2.0 / 3, wP: 1, wR: 2.0 / 3, wF1: 0.8,
				logLoss:   -(math.Log(0.9) + math.Log(0.2) + math.Log(0.6)) / 3,
				brier:     2 * (0.01 + 0.64 + 0.16) / 3,
				auc:       Undefined,
				confusion: [][]int{{0, 0}, {1, 2}},
				perClass:  [][4]float64{{0, 0, 0, Undefined}, {1, 2.0 / 3, 0.8, Undefined}},
				rocFPR:    [][]float64{{}},
				rocTPR:    [][]float64{{}},
			},
		},
		{
			// Certain and wrong: log loss is clipped, not infinite.
			name:    "clipped log loss",
			classes: []string{"x", "y"},
			yTrue:   []int{0, 1},
			proba:   [][]float64{{0, 1}, {0, 1}},
			want: want{
				accuracy: 0.5,
				logLoss:  (-math.Log(eps/(1)) + -math.Log(1-eps)) / 2,
				brier:    1,
				auc:      0.5,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *Result
			var err error
			if tt.yPred != nil {
				r, err = FromPredictions(tt.classes, tt.yTrue, tt.yPred)
			} else {
				r, err = Classification(tt.classes, tt.yTrue, tt.proba)
			}
			if err != nil {
				t.Fatal(err)
			}
			w := tt.want
			check := func(name string, got, want float64) {
				t.Helper()
				if !near(got, want) {
					t.Errorf("%s = %.15g, want %.15g", name, got, want)
				}
			}
			check("accuracy", r.Accuracy, w.accuracy)
			check("auc", r.AUC, w.auc)
			if w.balanced != 0 {
				check("balanced accuracy", r.BalancedAccuracy, w.balanced)
			}
			if w.wP != 0 {
				check("weighted precision", r.WeightedPrecision, w.wP)
				check("weighted recall", r.WeightedRecall, w.wR)
				check("weighted F1", r.WeightedF1, w.wF1)
			}
			if !near(r.WeightedRecall, r.Accuracy) {
				t.Errorf("weighted recall %v != accuracy %v", r.WeightedRecall, r.Accuracy)
			}
			if w.logLoss != 0 {
				check("log loss", r.LogLoss, w.logLoss)
				check("brier", r.Brier, w.brier)
			}
			if w.confusion != nil && !reflect.DeepEqual(r.Confusion, w.confusion) {
				t.Errorf("confusion = %v, want %v", r.Confusion, w.confusion)
			}
			for c, pc := range w.perClass {
				got := r.PerClass[c]
				check(got.Class+" precision", got.Precision, pc[0])
				check(got.Class+" recall", got.Recall, pc[1])
				check(got.Class+" F1", got.F1, pc[2])
				check(got.Class+" AUC", got.AUC, pc[3])
			}
			if w.rocFPR != nil {
				if len(r.ROC) != len(w.rocFPR) {
					t.Fatalf("%d ROC curves, want %d", len(r.ROC), len(w.rocFPR))
				}
				for c := range w.rocFPR {
					if !nearAll(r.ROC[c].FPR, w.rocFPR[c]) || !nearAll(r.ROC[c].TPR, w.rocTPR[c]) {
						t.Errorf("ROC %s = FPR %v TPR %v, want %v %v", r.ROC[c].Class, r.ROC[c].FPR, r.ROC[c].TPR, w.rocFPR[c], w.rocTPR[c])
					}
				}
			}
			if len(r.Calibration) != CalibrationBins {
				t.Fatalf("%d calibration bins", len(r.Calibration))
			}
			for b, bin := range r.Calibration {
				if !near(bin.Lo, float64(b)/10) || !near(bin.Hi, float64(b+1)/10) {
					t.Errorf("bin %d spans [%v, %v]", b, bin.Lo, bin.Hi)
				}
				if w.calib == nil {
					continue
				}
				wb, ok := w.calib[b]
				if !ok {
					if bin.Count != 0 || bin.MeanPredicted != Undefined || bin.Observed != Undefined {
						t.Errorf("bin %d = %+v, want empty", b, bin)
					}
					continue
				}
				if bin.Count != int(wb[0]) || !near(bin.MeanPredicted, wb[1]) || !near(bin.Observed, wb[2]) {
					t.Errorf("bin %d = %+v, want count %v mean %v observed %v", b, bin, wb[0], wb[1], wb[2])
				}
			}
			// Undefined values must survive JSON (NaN would not).
			if _, err := json.Marshal(r); err != nil {
				t.Fatalf("JSON: %v", err)
			}
		})
	}
}

func TestClassificationRejectsBadInput(t *testing.T) {
	two := []string{"a", "b"}
	tests := []struct {
		name    string
		classes []string
		yTrue   []int
		proba   [][]float64
		msg     string
	}{
		{"one class", []string{"a"}, []int{0}, [][]float64{{1}}, "need at least 2"},
		{"duplicate class", []string{"a", "a"}, []int{0}, binaryProba(0.5), "listed twice"},
		{"no rows", two, nil, nil, "no rows"},
		{"length mismatch", two, []int{0, 1}, binaryProba(0.5), "2 true labels but 1"},
		{"label range", two, []int{2}, binaryProba(0.5), "outside 0..1"},
		{"negative label", two, []int{-1}, binaryProba(0.5), "outside 0..1"},
		{"row width", two, []int{0}, [][]float64{{0.2, 0.3, 0.5}}, "3 probabilities for 2 classes"},
		{"NaN", two, []int{0}, [][]float64{{math.NaN(), 1}}, "want a value in [0, 1]"},
		{"negative", two, []int{0}, [][]float64{{-0.5, 1.5}}, "want a value in [0, 1]"},
		{"not normalised", two, []int{0}, [][]float64{{0.5, 0.6}}, "sum to 1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Classification(tt.classes, tt.yTrue, tt.proba)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error = %v, want one containing %q", err, tt.msg)
			}
		})
	}
	if _, err := FromPredictions(two, []int{0}, []int{5}); err == nil || !strings.Contains(err.Error(), "predicted class 5") {
		t.Errorf("FromPredictions out-of-range prediction: %v", err)
	}
	if _, err := FromPredictions(two, []int{0}, nil); err == nil {
		t.Errorf("FromPredictions length mismatch accepted")
	}
}

func TestWriteJSONDeterministic(t *testing.T) {
	r, err := Classification([]string{"h", "d", "a"}, []int{0, 1, 2, 2}, [][]float64{
		{0.5, 0.3, 0.2}, {0.2, 0.5, 0.3}, {0.1, 0.1, 0.8}, {0.4, 0.4, 0.2},
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "sub", "b.json")
	if err := WriteJSON(a, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(b, r); err != nil {
		t.Fatal(err)
	}
	ra, err := ReadResult(a)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ra, r) {
		t.Errorf("round trip changed the result:\n%+v\n%+v", ra, r)
	}
	da, _ := MarshalDeterministic(r)
	db, _ := MarshalDeterministic(ra)
	if string(da) != string(db) {
		t.Error("re-encoding the decoded result changed its bytes")
	}
	for _, key := range []string{`"balanced_accuracy"`, `"per_class"`, `"mean_predicted"`, `"fpr"`, `"support"`} {
		if !strings.Contains(string(da), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
	if _, err := ReadResult(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("ReadResult of a missing file succeeded")
	}
}

func TestMetricsOrderAndDirection(t *testing.T) {
	r := &Result{Accuracy: 1, BalancedAccuracy: 2, WeightedPrecision: 3, WeightedRecall: 4, WeightedF1: 5, LogLoss: 6, Brier: 7, RPS: 8, AUC: 9}
	for i, m := range r.Metrics() {
		if m.Value != float64(i+1) {
			t.Errorf("metric %d %s = %v", i, m.Key, m.Value)
		}
		if m.HigherIsBetter == (m.Key == "log_loss" || m.Key == "brier" || m.Key == "rps") {
			t.Errorf("%s higher-is-better = %v", m.Key, m.HigherIsBetter)
		}
	}
}

// TestRPSTextbook checks the ranked probability score against the worked
// example of Constantinou & Fenton (2012), table 2: five matches, two
// forecasts each, outcomes ordered home win, draw, away win.
func TestRPSTextbook(t *testing.T) {
	three := []string{"home_win", "draw", "away_win"}
	for _, c := range []struct {
		match int
		y     int
		p     []float64
		want  float64
	}{
		{1, 0, []float64{1, 0, 0}, 0},
		{1, 0, []float64{0.9, 0.1, 0}, 0.005},
		{2, 0, []float64{0.8, 0.1, 0.1}, 0.025},
		{2, 0, []float64{0.5, 0.25, 0.25}, 0.15625},
		{3, 1, []float64{0.35, 0.3, 0.35}, 0.1225},
		{3, 1, []float64{0.6, 0.3, 0.1}, 0.185},
		{4, 1, []float64{0.6, 0.25, 0.15}, 0.19125},
		{4, 1, []float64{0.6, 0.15, 0.25}, 0.21125},
		{5, 0, []float64{0.57, 0.33, 0.1}, 0.09745},
		{5, 0, []float64{0.6, 0.2, 0.2}, 0.1},
	} {
		got := RankedProbabilityScore(c.y, c.p)
		if math.Abs(got-c.want) > 1e-12 {
			t.Errorf("match %d %v: RPS %v, want %v", c.match, c.p, got, c.want)
		}
		// Reversing the outcome order (away win, draw, home win) gives
		// the same score.
		rev := []float64{c.p[2], c.p[1], c.p[0]}
		if back := RankedProbabilityScore(2-c.y, rev); math.Abs(back-got) > 1e-12 {
			t.Errorf("match %d: reversed order %v, forward %v", c.match, back, got)
		}
		r, err := Classification(three, []int{c.y}, [][]float64{c.p})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r.RPS-c.want) > 1e-12 {
			t.Errorf("match %d: Result.RPS %v, want %v", c.match, r.RPS, c.want)
		}
	}
	// The point of RPS: with a home win observed, (0.5, 0.3, 0.2) beats
	// (0.5, 0.2, 0.3) though log loss and accuracy cannot tell them apart.
	near := RankedProbabilityScore(0, []float64{0.5, 0.3, 0.2})
	far := RankedProbabilityScore(0, []float64{0.5, 0.2, 0.3})
	if !(near < far) || math.Abs(near-(0.25+0.04)/2) > 1e-12 || math.Abs(far-(0.25+0.09)/2) > 1e-12 {
		t.Errorf("RPS near %v far %v", near, far)
	}
}

// TestRPSHandComputed: the mean over rows, binary RPS = Brier / 2, and a
// hard prediction's RPS.
func TestRPSHandComputed(t *testing.T) {
	r, err := Classification([]string{"lose", "win"}, []int{0, 0, 1, 1}, binaryProba(0.1, 0.4, 0.35, 0.8))
	if err != nil {
		t.Fatal(err)
	}
	want := (0.01 + 0.16 + 0.4225 + 0.04) / 4
	if !near(r.RPS, want) || !near(r.RPS, r.Brier/2) {
		t.Errorf("binary RPS %v, want %v (Brier/2 = %v)", r.RPS, want, r.Brier/2)
	}
	// Three classes, hard predictions: predicting away win for a home win
	// is the worst case (1), predicting a draw half as bad (0.5).
	h, err := FromPredictions([]string{"home_win", "draw", "away_win"}, []int{0, 0, 1}, []int{2, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if !near(h.RPS, (1+0.5+0)/3.0) {
		t.Errorf("hard three-way RPS %v, want 0.5", h.RPS)
	}
}

// TestDecided: decisions other than argmax set accuracy and the confusion
// matrix; the probability metrics are those of Classification.
func TestDecided(t *testing.T) {
	three := []string{"home_win", "draw", "away_win"}
	y := []int{0, 1, 2, 1}
	proba := [][]float64{{.5, .3, .2}, {.4, .3, .3}, {.2, .3, .5}, {.35, .3, .35}}
	// argmax: home, home, away, home → 2 right. Rule: the last two rows
	// close → draw for row 1 and row 3.
	pred := []int{0, 1, 2, 1}
	arg, err := Classification(three, y, proba)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decided(three, y, proba, pred)
	if err != nil {
		t.Fatal(err)
	}
	if arg.Accuracy != 0.5 || d.Accuracy != 1 || d.PerClass[1].Predicted != 2 || arg.PerClass[1].Predicted != 0 {
		t.Errorf("argmax accuracy %v, decided %v, draws predicted %d / %d", arg.Accuracy, d.Accuracy, d.PerClass[1].Predicted, arg.PerClass[1].Predicted)
	}
	if d.LogLoss != arg.LogLoss || d.Brier != arg.Brier || d.RPS != arg.RPS || d.AUC != arg.AUC || !reflect.DeepEqual(d.Calibration, arg.Calibration) {
		t.Errorf("probability metrics differ: %+v vs %+v", d, arg)
	}
	for _, bad := range [][]int{{0, 1, 2}, {0, 1, 2, 3}, {0, -1, 2, 1}} {
		if _, err := Decided(three, y, proba, bad); err == nil || !strings.Contains(err.Error(), "predict") {
			t.Errorf("decisions %v: err %v", bad, err)
		}
	}
	if _, err := Decided(three, y, [][]float64{{.5, .5, .5}, {1, 0, 0}, {1, 0, 0}, {1, 0, 0}}, pred); err == nil {
		t.Error("bad probabilities accepted")
	}
}
