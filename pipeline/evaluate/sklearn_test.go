package evaluate

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

const python = "/usr/bin/python3"

// sklearnFixture is one random problem; proba rows mimic a forest's averaged
// votes (multiples of 1/votes, many ties) or are continuous (votes = 0).
type sklearnFixture struct {
	YTrue []int       `json:"y_true"`
	Proba [][]float64 `json:"proba"`
}

func randomFixture(rng *rand.Rand, n, k, votes int) sklearnFixture {
	fx := sklearnFixture{YTrue: make([]int, n), Proba: make([][]float64, n)}
	for i := range n {
		y := rng.IntN(k)
		fx.YTrue[i] = y
		w := make([]float64, k)
		sum := 0.0
		for j := range k {
			if votes > 0 {
				continue
			}
			w[j] = rng.Float64()
			if j == y {
				w[j] += rng.Float64() // some signal, so AUC is not 0.5
			}
			sum += w[j]
		}
		if votes > 0 {
			for range votes {
				j := rng.IntN(k)
				if rng.Float64() < 0.3 {
					j = y
				}
				w[j]++
			}
			sum = float64(votes)
		}
		for j := range w {
			w[j] /= sum
		}
		fx.Proba[i] = w
	}
	return fx
}

// sklearnResult mirrors what testdata/sklearn_metrics.py prints.
type sklearnResult struct {
	Accuracy            float64   `json:"accuracy"`
	BalancedAccuracy    float64   `json:"balanced_accuracy"`
	WeightedPrecision   float64   `json:"weighted_precision"`
	WeightedRecall      float64   `json:"weighted_recall"`
	WeightedF1          float64   `json:"weighted_f1"`
	LogLoss             float64   `json:"log_loss"`
	Brier               float64   `json:"brier"`
	BrierBinary         float64   `json:"brier_binary"`
	AUC                 float64   `json:"auc"`
	Confusion           [][]int   `json:"confusion"`
	Precision           []float64 `json:"precision"`
	Recall              []float64 `json:"recall"`
	F1                  []float64 `json:"f1"`
	Support             []int     `json:"support"`
	ClassAUC            []float64 `json:"class_auc"`
	ROC                 []struct{ FPR, TPR []float64 }
	CalibrationObserved []float64 `json:"calibration_observed"`
	CalibrationMean     []float64 `json:"calibration_mean"`
}

// TestAgainstSklearn recomputes every metric with scikit-learn on random
// fixtures and requires agreement to 1e-9. It needs Debian's python3-sklearn
// (apt-get install python3-sklearn) and is skipped without it.
func TestAgainstSklearn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts python")
	}
	if err := exec.Command(python, "-c", "import sklearn").Run(); err != nil {
		t.Skipf("%s cannot import sklearn (apt-get install python3-sklearn): %v", python, err)
	}
	rng := rand.New(rand.NewPCG(4, 5))
	fixtures := []sklearnFixture{
		randomFixture(rng, 400, 2, 0),  // binary, continuous scores
		randomFixture(rng, 500, 2, 20), // binary, forest-like ties
		randomFixture(rng, 600, 3, 50), // home/draw/away-like
		randomFixture(rng, 700, 4, 0),  // 4 classes, continuous
		randomFixture(rng, 300, 4, 7),  // few votes: heavy ties, argmax ties
	}
	// A hard-prediction baseline: one-hot rows, as FromPredictions builds.
	hard := randomFixture(rng, 300, 3, 0)
	for i, p := range hard.Proba {
		top := argmax(p)
		hard.Proba[i] = make([]float64, 3)
		hard.Proba[i][top] = 1
	}
	fixtures = append(fixtures, hard)

	in, err := json.Marshal(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "testdata/sklearn_metrics.py")
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sklearn script: %v", err)
	}
	var want []sklearnResult
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("decode sklearn output: %v", err)
	}

	for f, fx := range fixtures {
		k := len(fx.Proba[0])
		classes := make([]string, k)
		for c := range classes {
			classes[c] = "c" + strconv.Itoa(c)
		}
		got, err := Classification(classes, fx.YTrue, fx.Proba)
		if err != nil {
			t.Fatal(err)
		}
		w := want[f]
		check := func(name string, g, w float64) {
			t.Helper()
			if math.Abs(g-w) > 1e-9 {
				t.Errorf("fixture %d (%d classes): %s = %.15g, sklearn %.15g", f, k, name, g, w)
			}
		}
		checkAll := func(name string, g, w []float64) {
			t.Helper()
			if len(g) != len(w) {
				t.Errorf("fixture %d: %s has %d points, sklearn %d", f, name, len(g), len(w))
				return
			}
			for i := range g {
				check(name+"["+strconv.Itoa(i)+"]", g[i], w[i])
			}
		}
		check("accuracy", got.Accuracy, w.Accuracy)
		check("balanced accuracy", got.BalancedAccuracy, w.BalancedAccuracy)
		check("weighted precision", got.WeightedPrecision, w.WeightedPrecision)
		check("weighted recall", got.WeightedRecall, w.WeightedRecall)
		check("weighted F1", got.WeightedF1, w.WeightedF1)
		check("log loss", got.LogLoss, w.LogLoss)
		check("brier", got.Brier, w.Brier)
		if k == 2 {
			check("brier = 2 × brier_score_loss", got.Brier, 2*w.BrierBinary)
		}
		check("auc", got.AUC, w.AUC)
		for c := range k {
			pc := got.PerClass[c]
			check(pc.Class+" precision", pc.Precision, w.Precision[c])
			check(pc.Class+" recall", pc.Recall, w.Recall[c])
			check(pc.Class+" F1", pc.F1, w.F1[c])
			check(pc.Class+" AUC", pc.AUC, w.ClassAUC[c])
			if pc.Support != w.Support[c] {
				t.Errorf("fixture %d: %s support %d, sklearn %d", f, pc.Class, pc.Support, w.Support[c])
			}
			for j := range k {
				if got.Confusion[c][j] != w.Confusion[c][j] {
					t.Errorf("fixture %d: confusion[%d][%d] = %d, sklearn %d", f, c, j, got.Confusion[c][j], w.Confusion[c][j])
				}
			}
		}
		if len(got.ROC) != len(w.ROC) {
			t.Fatalf("fixture %d: %d ROC curves, sklearn %d", f, len(got.ROC), len(w.ROC))
		}
		for c := range got.ROC {
			checkAll(got.ROC[c].Class+" FPR", got.ROC[c].FPR, w.ROC[c].FPR)
			checkAll(got.ROC[c].Class+" TPR", got.ROC[c].TPR, w.ROC[c].TPR)
		}
		var observed, mean []float64
		for _, b := range got.Calibration {
			if b.Count > 0 {
				observed = append(observed, b.Observed)
				mean = append(mean, b.MeanPredicted)
			}
		}
		checkAll("calibration observed", observed, w.CalibrationObserved)
		checkAll("calibration mean", mean, w.CalibrationMean)
	}
}
