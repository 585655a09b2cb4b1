// Package evaluate scores a classifier's held-out predictions: accuracy,
// balanced accuracy, support-weighted precision/recall/F1, log loss, Brier
// score, ROC AUC, per-class metrics, the confusion matrix, ROC curves and a
// calibration (reliability) table.
//
// It sits between the model and the report in datalab's one-way flow:
// pipeline/forest scores rows → pipeline/evaluate turns (true class,
// probabilities) into a Result → pipeline/report renders Results as HTML.
// It knows nothing about any use case: classes are plain strings indexed
// 0..K-1.
//
// # Definitions and edge cases
//
// The metrics follow scikit-learn's definitions (the tests cross-check them
// against scikit-learn to 1e-9 when it is installed):
//
//   - Predicted class = argmax of the probability row; the first (lowest
//     index) class wins ties, like numpy.argmax.
//   - Precision of a class that is never predicted is 0, recall of a class
//     with no support is 0, and F1 is 0 when precision+recall is 0
//     (scikit-learn's zero_division=0 behaviour, without the warning).
//   - Weighted precision/recall/F1 average the per-class values weighted by
//     support, so classes absent from yTrue contribute nothing. Weighted
//     recall therefore equals accuracy.
//   - Balanced accuracy is the mean recall over the classes present in yTrue
//     (sklearn.metrics.balanced_accuracy_score).
//   - Log loss clips every probability to [1e-15, 1-1e-15], renormalises each
//     row and averages -log p(true class) — sklearn.metrics.log_loss with
//     eps=1e-15 (scikit-learn ≥1.2 defaults to machine epsilon instead). It is
//     always finite: at most -log(1e-15) ≈ 34.54 per row.
//   - Brier is the multiclass Brier score, mean over rows of
//     Σ_k (p_k - y_k)², in [0, 2]. For two classes it is exactly twice
//     sklearn.metrics.brier_score_loss(y, p1), which only scores the
//     positive class.
//   - RPS, the ranked probability score (Epstein 1969; the standard score
//     of three-way football forecasts, Constantinou & Fenton 2012), treats
//     the class order as the order of the outcomes: for a row with
//     cumulative predicted probabilities P_k = Σ_{j≤k} p_j and cumulative
//     truth Y_k, RPS = Σ_{k=1}^{K-1} (P_k - Y_k)² / (K-1), averaged over rows;
//     0 is perfect, 1 the worst, lower is better. It rewards probability
//     put near the true outcome (for home win < draw < away win, a draw
//     forecast is closer to a home win than an away win forecast is).
//     Reversing the class order gives the same value. For two classes it is
//     half the Brier score. Pass classes in outcome order; for unordered
//     classes the number has no meaning.
//   - ROC curves are one-vs-rest per class with thresholds at the distinct
//     scores (tied scores move FPR and TPR together, a diagonal segment) and
//     collinear intermediate points dropped, like sklearn.metrics.roc_curve
//     with drop_intermediate=True; each curve starts at (0, 0).
//   - AUC: binary, the ROC AUC of P(class 1) with class 1 positive;
//     multiclass, the macro one-vs-rest AUC (mean of the per-class AUCs),
//     sklearn.metrics.roc_auc_score(multi_class="ovr", average="macro").
//     A class's AUC is undefined when yTrue holds none or only that class;
//     it is then reported as Undefined (-1) and left out of the macro mean
//     (scikit-learn raises instead). NaN is never stored because it cannot be
//     encoded as JSON.
//   - Calibration uses 10 equal-width bins on [0, 1], closed on the right
//     like sklearn.calibration.calibration_curve(strategy="uniform"): a score
//     s goes to the bin (lo, hi] containing it, the first bin being [0, 0.1].
//     Binary results bin P(class 1) against the observed frequency of class 1;
//     multiclass results bin the top-class confidence against accuracy. Empty
//     bins are kept with Count 0 and Undefined means.
//
// FromPredictions scores hard predictions (baselines) by treating them as
// one-hot probabilities, so its log loss is 34.54 × error rate, its Brier
// score is 2 × error rate, and its AUC is that of a single-threshold ROC.
//
// Decided scores probabilities together with class decisions made by a rule
// other than argmax (e.g. "predict a draw when the two win probabilities are
// close"): accuracy, precision/recall/F1 and the confusion matrix come from
// the decisions; log loss, Brier, RPS, AUC, ROC and calibration from the
// probabilities (calibration still bins the top-class confidence against
// the argmax's accuracy, a property of the probabilities alone).
package evaluate

import (
	"fmt"
	"math"
)

// Undefined marks a metric that has no value for the data, e.g. the AUC of
// a class that never (or always) occurs, or the mean of an empty calibration
// bin. Every defined value is ≥ 0, so a negative value is unambiguous.
const Undefined = -1.0

// Defined reports whether v holds a value rather than Undefined.
func Defined(v float64) bool { return v >= 0 }

// logLossEps is the probability clip for log loss (scikit-learn's historical
// default eps).
const logLossEps = 1e-15

// probaSumTolerance is how far a probability row may sum from 1 — forests
// average leaf frequencies, so rows are off by rounding only.
const probaSumTolerance = 1e-6

// CalibrationBins is the number of equal-width calibration bins.
const CalibrationBins = 10

// Result holds every metric for one set of predictions against the truth.
type Result struct {
	Classes           []string `json:"classes"`
	N                 int      `json:"n"`
	Accuracy          float64  `json:"accuracy"`
	BalancedAccuracy  float64  `json:"balanced_accuracy"`
	WeightedPrecision float64  `json:"weighted_precision"`
	WeightedRecall    float64  `json:"weighted_recall"`
	WeightedF1        float64  `json:"weighted_f1"`
	// LogLoss is the mean negative log probability of the true class, with
	// probabilities clipped to [1e-15, 1-1e-15] and renormalised, so it is
	// never infinite. For FromPredictions it uses one-hot probabilities.
	LogLoss float64 `json:"log_loss"`
	// Brier is the multiclass Brier score, mean over rows of Σ_k (p_k-y_k)²;
	// for two classes it is 2 × sklearn's brier_score_loss.
	Brier float64 `json:"brier"`
	// RPS is the mean ranked probability score over the ordered classes
	// (class order = outcome order); lower is better, in [0, 1].
	RPS float64 `json:"rps"`
	// AUC is the binary ROC AUC (class 1 positive) or the macro one-vs-rest
	// AUC over classes whose AUC is defined; Undefined if none is.
	AUC         float64          `json:"auc"`
	PerClass    []ClassMetrics   `json:"per_class"`
	Confusion   [][]int          `json:"confusion"`   // [true][predicted]
	Calibration []CalibrationBin `json:"calibration"` // CalibrationBins equal-width bins
	// ROC is one curve for class 1 in the binary case, one one-vs-rest
	// curve per class otherwise.
	ROC []ROCCurve `json:"roc"`
}

// ClassMetrics are the one-vs-rest metrics of one class.
type ClassMetrics struct {
	Class     string  `json:"class"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"` // rows whose true class is Class
	Predicted int     `json:"predicted"`
	// AUC is the one-vs-rest ROC AUC of this class's probability, Undefined
	// when the class has no support or is the only class present.
	AUC float64 `json:"auc"`
}

// CalibrationBin is one bin of a reliability diagram.
type CalibrationBin struct {
	Lo            float64 `json:"lo"`
	Hi            float64 `json:"hi"`
	Count         int     `json:"count"`
	MeanPredicted float64 `json:"mean_predicted"` // Undefined when Count is 0
	Observed      float64 `json:"observed"`       // observed frequency / accuracy; Undefined when Count is 0
}

// ROCCurve is a one-vs-rest ROC curve; FPR and TPR are empty and AUC is
// Undefined when the class never or always occurs.
type ROCCurve struct {
	Class string    `json:"class"`
	FPR   []float64 `json:"fpr"`
	TPR   []float64 `json:"tpr"`
	AUC   float64   `json:"auc"`
}

// Classification scores probabilistic predictions. classes names the K ≥ 2
// classes; yTrue[i] is the true class index of row i and proba[i] its K class
// probabilities (each in [0, 1], summing to 1 within 1e-6). The predicted
// class is the argmax, the first class winning ties.
func Classification(classes []string, yTrue []int, proba [][]float64) (*Result, error) {
	if err := checkProba(classes, yTrue, proba); err != nil {
		return nil, err
	}
	return classify(classes, yTrue, proba, nil), nil
}

// Decided scores probabilities with decisions yPred made by some rule
// other than argmax (see the package documentation). proba is checked as
// for Classification, yPred must hold one class index per row.
func Decided(classes []string, yTrue []int, proba [][]float64, yPred []int) (*Result, error) {
	if err := checkProba(classes, yTrue, proba); err != nil {
		return nil, err
	}
	if err := checkPred(len(classes), yTrue, yPred); err != nil {
		return nil, err
	}
	return classify(classes, yTrue, proba, yPred), nil
}

func checkPred(k int, yTrue, yPred []int) error {
	if len(yPred) != len(yTrue) {
		return fmt.Errorf("evaluate: %d true labels but %d predictions; pass one prediction per label", len(yTrue), len(yPred))
	}
	for i, p := range yPred {
		if p < 0 || p >= k {
			return fmt.Errorf("evaluate: row %d: predicted class %d outside 0..%d (%d classes)", i, p, k-1, k)
		}
	}
	return nil
}

// checkProba validates the input of Classification and Decided.
func checkProba(classes []string, yTrue []int, proba [][]float64) error {
	if err := checkClasses(classes); err != nil {
		return err
	}
	k := len(classes)
	if len(yTrue) == 0 {
		return fmt.Errorf("evaluate: no rows to score")
	}
	if len(proba) != len(yTrue) {
		return fmt.Errorf("evaluate: %d true labels but %d probability rows; pass one row per label", len(yTrue), len(proba))
	}
	for i, y := range yTrue {
		if y < 0 || y >= k {
			return fmt.Errorf("evaluate: row %d: true class %d outside 0..%d (%d classes)", i, y, k-1, k)
		}
		p := proba[i]
		if len(p) != k {
			return fmt.Errorf("evaluate: row %d: %d probabilities for %d classes", i, len(p), k)
		}
		sum := 0.0
		for j, v := range p {
			if !(v >= 0 && v <= 1) { // also rejects NaN
				return fmt.Errorf("evaluate: row %d: probability of class %q is %v, want a value in [0, 1]", i, classes[j], v)
			}
			sum += v
		}
		if math.Abs(sum-1) > probaSumTolerance {
			return fmt.Errorf("evaluate: row %d: probabilities sum to %v, want 1 (normalise the scores first)", i, sum)
		}
	}
	return nil
}

// FromPredictions scores hard predictions, e.g. a baseline rule, as one-hot
// probabilities (see the package documentation for what that means for log
// loss, Brier and AUC).
func FromPredictions(classes []string, yTrue, yPred []int) (*Result, error) {
	if err := checkClasses(classes); err != nil {
		return nil, err
	}
	k := len(classes)
	if err := checkPred(k, yTrue, yPred); err != nil {
		return nil, err
	}
	// One backing array keeps the one-hot matrix to a single allocation.
	flat := make([]float64, len(yPred)*k)
	proba := make([][]float64, len(yPred))
	for i, p := range yPred {
		proba[i] = flat[i*k : (i+1)*k : (i+1)*k]
		proba[i][p] = 1
	}
	return Classification(classes, yTrue, proba)
}

func checkClasses(classes []string) error {
	if len(classes) < 2 {
		return fmt.Errorf("evaluate: %d classes, need at least 2", len(classes))
	}
	seen := make(map[string]bool, len(classes))
	for _, c := range classes {
		if seen[c] {
			return fmt.Errorf("evaluate: class %q listed twice; class names must be unique", c)
		}
		seen[c] = true
	}
	return nil
}

// argmax returns the index of the largest entry, the first on ties.
func argmax(p []float64) int {
	best := 0
	for j := 1; j < len(p); j++ {
		if p[j] > p[best] {
			best = j
		}
	}
	return best
}

// RankedProbabilityScore is the RPS of one forecast p over ordered classes
// whose true class is y: Σ_{k<K-1} (Σ_{j≤k} p_j − [y ≤ k])² / (K−1).
// p must have at least two entries and 0 ≤ y < len(p).
func RankedProbabilityScore(y int, p []float64) float64 {
	var cum, sum float64
	for k := 0; k < len(p)-1; k++ {
		cum += p[k]
		d := cum
		if y <= k {
			d = cum - 1
		}
		sum += d * d
	}
	return sum / float64(len(p)-1)
}

// classify computes the Result of validated input; yPred, when not nil,
// holds the decisions (else argmax of proba).
func classify(classes []string, yTrue []int, proba [][]float64, yPred []int) *Result {
	k, n := len(classes), len(yTrue)
	r := &Result{Classes: append([]string(nil), classes...), N: n}
	r.Confusion = make([][]int, k)
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, k)
	}

	var logLoss, brier, rps float64
	for i, y := range yTrue {
		p := proba[i]
		if yPred != nil {
			r.Confusion[y][yPred[i]]++
		} else {
			r.Confusion[y][argmax(p)]++
		}
		rps += RankedProbabilityScore(y, p)

		// Clip and renormalise like sklearn.metrics.log_loss.
		clipSum := 0.0
		for _, v := range p {
			clipSum += clip(v)
		}
		logLoss -= math.Log(clip(p[y]) / clipSum)

		for j, v := range p {
			d := v
			if j == y {
				d = v - 1
			}
			brier += d * d
		}
	}
	r.LogLoss = logLoss / float64(n)
	r.Brier = brier / float64(n)
	r.RPS = rps / float64(n)

	r.PerClass = make([]ClassMetrics, k)
	correct, present := 0, 0
	recallSum := 0.0
	for c := range k {
		m := ClassMetrics{Class: classes[c]}
		tp := r.Confusion[c][c]
		correct += tp
		for j := range k {
			m.Support += r.Confusion[c][j]
			m.Predicted += r.Confusion[j][c]
		}
		if m.Predicted > 0 {
			m.Precision = float64(tp) / float64(m.Predicted)
		}
		if m.Support > 0 {
			m.Recall = float64(tp) / float64(m.Support)
			recallSum += m.Recall
			present++
		}
		if m.Precision+m.Recall > 0 {
			m.F1 = 2 * m.Precision * m.Recall / (m.Precision + m.Recall)
		}
		w := float64(m.Support)
		r.WeightedPrecision += w * m.Precision
		r.WeightedRecall += w * m.Recall
		r.WeightedF1 += w * m.F1
		r.PerClass[c] = m
	}
	r.Accuracy = float64(correct) / float64(n)
	r.BalancedAccuracy = recallSum / float64(present)
	r.WeightedPrecision /= float64(n)
	r.WeightedRecall /= float64(n)
	r.WeightedF1 /= float64(n)

	curves := rocCurves(classes, yTrue, proba)
	for c := range k {
		r.PerClass[c].AUC = curves[c].AUC
	}
	if k == 2 {
		r.ROC = []ROCCurve{curves[1]}
		r.AUC = curves[1].AUC
	} else {
		r.ROC = curves
		sum, defined := 0.0, 0
		for _, cv := range curves {
			if Defined(cv.AUC) {
				sum += cv.AUC
				defined++
			}
		}
		r.AUC = Undefined
		if defined > 0 {
			r.AUC = sum / float64(defined)
		}
	}
	r.Calibration = calibration(yTrue, proba)
	return r
}

func clip(v float64) float64 {
	return min(max(v, logLossEps), 1-logLossEps)
}
