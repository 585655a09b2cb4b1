package forest

import "math"

// impurityKind selects the node impurity measure.
type impurityKind uint8

const (
	gini impurityKind = iota
	entropy
)

// calculate returns the impurity of per-class counts with Spark's
// GiniCalculator / EntropyCalculator arithmetic (same operation order, so
// equal counts give bit-identical impurities): 0 for an empty node,
// 1 − Σ p² for gini, −Σ p·log2 p for entropy.
func (k impurityKind) calculate(counts []float64) float64 {
	total := 0.0
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	if k == gini {
		imp := 1.0
		for _, c := range counts {
			freq := c / total
			imp -= freq * freq
		}
		return imp
	}
	imp := 0.0
	for _, c := range counts {
		if c != 0 {
			freq := c / total
			imp -= freq * (math.Log(freq) / math.Ln2)
		}
	}
	return imp
}

// argmaxCounts is Spark's ImpurityCalculator.predict for classification:
// the first class with the largest count (0 for an empty node).
func argmaxCounts(counts []float64) int {
	best := 0
	for c := 1; c < len(counts); c++ {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return best
}
