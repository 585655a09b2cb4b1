package evaluate

import "sort"

// calibrationEdges are the inner bin edges 0.1 … 0.9.
var calibrationEdges = func() []float64 {
	e := make([]float64, CalibrationBins-1)
	for j := range e {
		e[j] = float64(j+1) / CalibrationBins
	}
	return e
}()

// calibration bins each row's score — P(class 1) for two classes, the
// top-class probability otherwise — into CalibrationBins right-closed
// equal-width bins and compares the mean score with the observed frequency
// (class 1 / correct prediction) in each bin.
func calibration(yTrue []int, proba [][]float64) []CalibrationBin {
	binary := len(proba[0]) == 2
	sums := make([]float64, CalibrationBins)
	hits := make([]int, CalibrationBins)
	counts := make([]int, CalibrationBins)
	for i, y := range yTrue {
		var s float64
		var hit bool
		if binary {
			s, hit = proba[i][1], y == 1
		} else {
			top := argmax(proba[i])
			s, hit = proba[i][top], top == y
		}
		// Number of inner edges strictly below s: numpy.searchsorted(side="left").
		b := sort.SearchFloat64s(calibrationEdges, s)
		sums[b] += s
		counts[b]++
		if hit {
			hits[b]++
		}
	}
	bins := make([]CalibrationBin, CalibrationBins)
	for b := range bins {
		bins[b] = CalibrationBin{
			Lo:            float64(b) / CalibrationBins,
			Hi:            float64(b+1) / CalibrationBins,
			Count:         counts[b],
			MeanPredicted: Undefined,
			Observed:      Undefined,
		}
		if counts[b] > 0 {
			bins[b].MeanPredicted = sums[b] / float64(counts[b])
			bins[b].Observed = float64(hits[b]) / float64(counts[b])
		}
	}
	return bins
}
