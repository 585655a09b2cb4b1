package report

import (
	"math"

	"github.com/datalabhq/datalab/pipeline/evaluate"
)

// MaxSidecarROCPoints bounds the points kept per ROC curve in a sidecar:
// enough to draw the curve on a diff page, small enough that a sidecar
// stays a few kilobytes whatever the row count.
const MaxSidecarROCPoints = 200

// Curves are the headline result's curves, stored in the sidecar so that a
// diff page can put two runs' ROC and calibration curves on one plot and
// their confusion matrices side by side without the evaluation files.
// Coordinates are rounded to 6 decimals and ROC curves downsampled to at
// most MaxSidecarROCPoints points (AUC is the full curve's), so the same
// result always gives the same, small sidecar.
type Curves struct {
	Classes     []string                  `json:"classes"`
	ROC         []evaluate.ROCCurve       `json:"roc"`
	Calibration []evaluate.CalibrationBin `json:"calibration"`
	Confusion   [][]int                   `json:"confusion"` // [true][predicted]
}

// curvesOf copies res's curves for a sidecar.
func curvesOf(res *evaluate.Result) *Curves {
	c := &Curves{
		Classes:     append([]string(nil), res.Classes...),
		Calibration: make([]evaluate.CalibrationBin, len(res.Calibration)),
		Confusion:   make([][]int, len(res.Confusion)),
	}
	for i, row := range res.Confusion {
		c.Confusion[i] = append([]int(nil), row...)
	}
	for i, b := range res.Calibration {
		b.MeanPredicted, b.Observed = round6(b.MeanPredicted), round6(b.Observed)
		c.Calibration[i] = b
	}
	for _, cv := range res.ROC {
		fpr, tpr := downsampleCurve(cv.FPR, cv.TPR, MaxSidecarROCPoints)
		c.ROC = append(c.ROC, evaluate.ROCCurve{Class: cv.Class, FPR: fpr, TPR: tpr, AUC: round6(cv.AUC)})
	}
	return c
}

func round6(v float64) float64 {
	if v == evaluate.Undefined {
		return v
	}
	return math.Round(v*1e6) / 1e6
}

// downsampleCurve keeps at most n points of the polyline (x, y), spaced
// evenly along its length, always including the first and last point, so
// the shape survives where a curve bends most points-dense. Values are
// rounded with round6.
func downsampleCurve(x, y []float64, n int) (xs, ys []float64) {
	xs, ys = []float64{}, []float64{}
	if len(x) == 0 {
		return xs, ys
	}
	keep := func(i int) {
		xs, ys = append(xs, round6(x[i])), append(ys, round6(y[i]))
	}
	if len(x) <= n {
		for i := range x {
			keep(i)
		}
		return xs, ys
	}
	cum := make([]float64, len(x))
	for i := 1; i < len(x); i++ {
		cum[i] = cum[i-1] + math.Hypot(x[i]-x[i-1], y[i]-y[i-1])
	}
	total := cum[len(cum)-1]
	keep(0)
	last := 0
	for k := 1; k < n-1; k++ {
		target := total * float64(k) / float64(n-1)
		i := last + 1
		for i < len(x)-1 && cum[i] < target {
			i++
		}
		if i >= len(x)-1 {
			break
		}
		keep(i)
		last = i
	}
	keep(len(x) - 1)
	return xs, ys
}
