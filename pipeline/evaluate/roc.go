package evaluate

import (
	"cmp"
	"slices"
)

// scored is one row seen one-vs-rest: its score for the class and whether
// the class is the row's true class.
type scored struct {
	score float64
	pos   bool
}

// rocCurves computes the one-vs-rest ROC curve of every class. The sort
// buffer is shared between classes.
func rocCurves(classes []string, yTrue []int, proba [][]float64) []ROCCurve {
	buf := make([]scored, len(yTrue))
	curves := make([]ROCCurve, len(classes))
	for c := range classes {
		for i, y := range yTrue {
			buf[i] = scored{score: proba[i][c], pos: y == c}
		}
		curves[c] = rocCurve(classes[c], buf)
	}
	return curves
}

// rocCurve follows sklearn.metrics.roc_curve(drop_intermediate=True): one
// point per distinct score (rows with tied scores enter together), points in
// the middle of a straight run dropped, (0, 0) prepended. rows is reordered.
func rocCurve(class string, rows []scored) ROCCurve {
	cv := ROCCurve{Class: class, FPR: []float64{}, TPR: []float64{}, AUC: Undefined}
	slices.SortFunc(rows, func(a, b scored) int { return cmp.Compare(b.score, a.score) })

	// Cumulative true/false positives at the last row of each distinct score.
	var tps, fps []int
	tp, fp := 0, 0
	for i, r := range rows {
		if r.pos {
			tp++
		} else {
			fp++
		}
		if i == len(rows)-1 || rows[i+1].score != r.score {
			tps = append(tps, tp)
			fps = append(fps, fp)
		}
	}
	if tp == 0 || fp == 0 {
		return cv // one-vs-rest needs both positives and negatives
	}

	// Drop points whose neighbours make both second differences zero: they
	// lie on a straight segment and add nothing to the curve or its area.
	if len(tps) > 2 {
		keep := 1
		for i := 1; i < len(tps)-1; i++ {
			if fps[i+1]-2*fps[i]+fps[i-1] != 0 || tps[i+1]-2*tps[i]+tps[i-1] != 0 {
				tps[keep], fps[keep] = tps[i], fps[i]
				keep++
			}
		}
		tps[keep], fps[keep] = tps[len(tps)-1], fps[len(fps)-1]
		tps, fps = tps[:keep+1], fps[:keep+1]
	}

	cv.FPR = make([]float64, len(fps)+1)
	cv.TPR = make([]float64, len(tps)+1)
	for i := range fps {
		cv.FPR[i+1] = float64(fps[i]) / float64(fp)
		cv.TPR[i+1] = float64(tps[i]) / float64(tp)
	}
	cv.AUC = trapezoid(cv.FPR, cv.TPR)
	return cv
}

// trapezoid integrates y over x (x non-decreasing) with the trapezoid rule,
// like numpy.trapz.
func trapezoid(x, y []float64) float64 {
	area := 0.0
	for i := 1; i < len(x); i++ {
		area += (x[i] - x[i-1]) * (y[i] + y[i-1]) / 2
	}
	return area
}
