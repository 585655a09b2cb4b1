package forest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"
)

// Dataset is a training set in the form the trainer consumes: one column of
// bin ids per feature (uint8 when every feature has at most 256 bins, uint16
// otherwise) plus the class of every row. Continuous features are binned
// with the thresholds Spark's findSplits would choose for the same
// parameters; a categorical feature's bin is its category. Build one with
// NewDataset; it is read-only afterwards and may be shared by concurrent
// Train calls that use the same binning parameters.
type Dataset struct {
	numRows     int
	numFeatures int
	numClasses  int
	labels      []uint16
	// bins8 or bins16 holds the per-feature bin columns (exactly one is set).
	bins8  [][]uint8
	bins16 [][]uint16
	// thresholds[f] are the continuous split thresholds of feature f (bin b
	// holds the values x with thresholds[b-1] < x <= thresholds[b]); nil for
	// a categorical feature.
	thresholds [][]float64
	// arity[f] is the number of categories of a categorical feature, 0 for a
	// continuous one.
	arity []int
	// unordered[f] marks categorical features searched over all category
	// subsets (Spark's "unordered" features).
	unordered []bool
	// binning records the parameters the bins were computed with, so Train
	// can refuse a dataset binned for other parameters.
	binning binningKey
}

// binningKey is the part of Params that determines the bins.
type binningKey struct {
	maxBins     int
	seed        int64
	categorical string
}

func keyOf(p Params) binningKey {
	keys := make([]int, 0, len(p.CategoricalFeatures))
	for k := range p.CategoricalFeatures {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf("%d:%d,", k, p.CategoricalFeatures[k])
	}
	return binningKey{maxBins: p.MaxBins, seed: p.Seed, categorical: s}
}

// DatasetOption configures NewDataset.
type DatasetOption func(*datasetConfig)

type datasetConfig struct {
	numClasses int
}

// WithNumClasses fixes the number of classes instead of inferring it as the
// largest label + 1 (as Spark does without label metadata). Use it when a
// training split may lack the highest class.
func WithNumClasses(k int) DatasetOption {
	return func(c *datasetConfig) { c.numClasses = k }
}

// NumRows is the number of training rows.
func (d *Dataset) NumRows() int { return d.numRows }

// NumFeatures is the number of feature columns.
func (d *Dataset) NumFeatures() int { return d.numFeatures }

// NumClasses is the number of label classes.
func (d *Dataset) NumClasses() int { return d.numClasses }

// Thresholds returns the continuous split thresholds chosen for feature f
// (nil for a categorical feature). The slice must not be modified.
func (d *Dataset) Thresholds(f int) []float64 { return d.thresholds[f] }

// NumBins is the number of bins of feature f.
func (d *Dataset) NumBins(f int) int {
	if d.arity[f] > 0 {
		return d.arity[f]
	}
	return len(d.thresholds[f]) + 1
}

// Bin returns the bin of row r in feature f.
func (d *Dataset) Bin(f, r int) int {
	if d.bins8 != nil {
		return int(d.bins8[f][r])
	}
	return int(d.bins16[f][r])
}

// maxSplitSamples is Spark's sample size for threshold search:
// max(maxBins², 10000) rows.
func maxSplitSamples(maxBins int) int {
	return max(maxBins*maxBins, 10000)
}

// NewDataset bins the feature columns (columns[f][row]) for training with
// params, following Spark's RandomForest.findSplits: continuous thresholds
// come from a Bernoulli sample of max(maxBins², 10000) rows (all rows when the
// data set is smaller), categorical features declared in
// params.CategoricalFeatures use their category as the bin. Labels must be
// the integers 0..numClasses-1 stored as float64, as in Spark.
//
// NaN feature values are not something Spark accepts in training data; here
// they are left out of the threshold search and put in the last bin, which
// is where a NaN goes when scoring (x <= threshold is false).
func NewDataset(columns [][]float64, labels []float64, params Params, opts ...DatasetOption) (*Dataset, error) {
	var cfg datasetConfig
	for _, o := range opts {
		o(&cfg)
	}
	if err := params.validate(); err != nil {
		return nil, err
	}
	nf := len(columns)
	if nf == 0 {
		return nil, errors.New("forest: no feature columns; pass at least one column")
	}
	n := len(labels)
	if n == 0 {
		return nil, errors.New("forest: empty training set; pass at least one labelled row")
	}
	for f, c := range columns {
		if len(c) != n {
			return nil, fmt.Errorf("forest: feature column %d has %d rows, labels have %d", f, len(c), n)
		}
	}
	for f := range params.CategoricalFeatures {
		if f < 0 || f >= nf {
			return nil, fmt.Errorf("forest: categorical feature %d out of range (%d features)", f, nf)
		}
	}
	d := &Dataset{
		numRows:     n,
		numFeatures: nf,
		labels:      make([]uint16, n),
		thresholds:  make([][]float64, nf),
		arity:       make([]int, nf),
		unordered:   make([]bool, nf),
		binning:     keyOf(params),
	}
	maxLabel := -1
	for i, y := range labels {
		if y < 0 || y != math.Trunc(y) || y > math.MaxUint16-1 {
			return nil, fmt.Errorf("forest: label %v in row %d is not a class index 0..%d", y, i, math.MaxUint16-1)
		}
		d.labels[i] = uint16(y)
		maxLabel = max(maxLabel, int(y))
	}
	d.numClasses = maxLabel + 1
	if cfg.numClasses > 0 {
		if cfg.numClasses < d.numClasses {
			return nil, fmt.Errorf("forest: label %d found, but WithNumClasses(%d) was given", maxLabel, cfg.numClasses)
		}
		d.numClasses = cfg.numClasses
	}
	if d.numClasses < 2 {
		d.numClasses = 2 // Spark treats a single-label set as binary classification
	}

	// Spark: maxPossibleBins = min(maxBins, numExamples); categorical arity
	// must fit in it.
	maxPossibleBins := min(params.MaxBins, n)
	for f, a := range params.CategoricalFeatures {
		if a > maxPossibleBins {
			return nil, fmt.Errorf("forest: categorical feature %d has %d categories but maxBins is %d; raise MaxBins to at least %d (Spark requires maxBins to cover every categorical arity)", f, a, maxPossibleBins, a)
		}
		// Spark treats a one-category feature as continuous (SPARK-9957).
		if a > 1 {
			d.arity[f] = a
			if d.numClasses > 2 && a <= maxCategoriesForUnordered(maxPossibleBins) {
				d.unordered[f] = true
			}
		}
	}

	// Sample rows for the quantile search, as Spark does, with one stream
	// derived from the seed.
	var sample []int32
	fraction := 1.0
	if req := maxSplitSamples(maxPossibleBins); req < n {
		fraction = float64(req) / float64(n)
		rng := rand.New(rand.NewPCG(uint64(params.Seed), streamSplits))
		sample = make([]int32, 0, req+req/8)
		for i := 0; i < n; i++ {
			if rng.Float64() < fraction {
				sample = append(sample, int32(i))
			}
		}
	}

	needs16 := false
	for f := 0; f < nf; f++ {
		if d.arity[f] > 256 || (d.arity[f] == 0 && maxPossibleBins > 256) {
			needs16 = true
		}
	}
	if maxPossibleBins > math.MaxUint16+1 {
		return nil, fmt.Errorf("forest: maxBins %d exceeds the supported %d", params.MaxBins, math.MaxUint16+1)
	}
	if needs16 {
		d.bins16 = make([][]uint16, nf)
	} else {
		d.bins8 = make([][]uint8, nf)
	}

	// Features are binned in parallel; each feature's work is independent,
	// so the result does not depend on GOMAXPROCS.
	errs := make([]error, nf)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for f := 0; f < nf; f++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(f int) {
			defer func() { <-sem; wg.Done() }()
			errs[f] = d.binFeature(f, columns[f], sample, fraction, maxPossibleBins)
		}(f)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

// maxCategoriesForUnordered is Spark's bound on the arity of a categorical
// feature whose splits are searched over all subsets in multiclass
// classification: 2·(2^(k-1) − 1) <= maxBins, computed with logs as Spark does.
func maxCategoriesForUnordered(maxPossibleBins int) int {
	return int(math.Floor(math.Log(float64(maxPossibleBins/2+1))/math.Log(2.0) + 1))
}

func (d *Dataset) binFeature(f int, col []float64, sample []int32, fraction float64, maxPossibleBins int) error {
	n := len(col)
	if a := d.arity[f]; a > 0 {
		for i, v := range col {
			if !(v >= 0 && v < float64(a) && v == math.Trunc(v)) {
				return fmt.Errorf("forest: feature %d row %d: value %v is not a category 0..%d", f, i, v, a-1)
			}
		}
		if d.bins8 != nil {
			b := make([]uint8, n)
			for i, v := range col {
				b[i] = uint8(v)
			}
			d.bins8[f] = b
		} else {
			b := make([]uint16, n)
			for i, v := range col {
				b[i] = uint16(v)
			}
			d.bins16[f] = b
		}
		return nil
	}
	// Spark's sample is Bernoulli over rows; NaN is left out and the
	// expected sample size counts only the rows with a value.
	var values []float64
	nonNaN := 0
	if sample == nil {
		values = make([]float64, 0, n)
		for _, v := range col {
			if !math.IsNaN(v) {
				values = append(values, v)
			}
		}
		nonNaN = len(values)
	} else {
		values = make([]float64, 0, len(sample))
		for _, r := range sample {
			if v := col[r]; !math.IsNaN(v) {
				values = append(values, v)
			}
		}
		for _, v := range col {
			if !math.IsNaN(v) {
				nonNaN++
			}
		}
	}
	thr := ContinuousThresholds(values, fraction*float64(nonNaN), maxPossibleBins-1)
	d.thresholds[f] = thr
	if d.bins8 != nil {
		b := make([]uint8, n)
		for i, v := range col {
			b[i] = uint8(binOf(thr, v))
		}
		d.bins8[f] = b
	} else {
		b := make([]uint16, n)
		for i, v := range col {
			b[i] = uint16(binOf(thr, v))
		}
		d.bins16[f] = b
	}
	return nil
}

// binOf returns the first bin b with x <= thr[b], or len(thr) (also for NaN),
// the bin Spark's TreePoint.findBin assigns. The search is branch-free
// (conditional moves), which matters when binning millions of values.
func binOf(thr []float64, x float64) int {
	n := len(thr)
	if n == 0 || x != x {
		return n
	}
	base := 0
	for n > 1 {
		half := n / 2
		// SETcc + mask instead of a conditional jump.
		base += half & -b2i(thr[base+half] < x)
		n -= half
	}
	return base + b2i(thr[base] < x)
}

// ContinuousThresholds computes the split thresholds of one continuous
// feature exactly as Spark's RandomForest.findSplitsForContinuousFeature
// (Spark ≥ 3.0) does, for unit instance weights:
//
//   - sampled holds the feature's sampled values; zeros are counted as
//     weightedNumSamples minus the number of non-zero samples (Spark
//     aggregates only non-zero values and adds the expected zero mass back
//     when it exceeds a tolerance of 100·ε·count);
//   - with at most numSplits+1 distinct values every midpoint between
//     neighbouring distinct values is a threshold;
//   - otherwise values are walked in order with stride
//     weightedNumSamples/(numSplits+1), and the midpoint after a value is a
//     threshold when adding the next value's count would move the running
//     count further from the current target.
//
// Thresholds are midpoints, so x <= threshold separates the two values.
func ContinuousThresholds(sampled []float64, weightedNumSamples float64, numSplits int) []float64 {
	counts := make(map[float64]float64)
	count := 0
	for _, v := range sampled {
		if v != 0 && !math.IsNaN(v) {
			counts[v]++
			count++
		}
	}
	if count == 0 {
		return nil
	}
	partNumSamples := float64(count)
	tolerance := epsilon * float64(count) * 100
	if weightedNumSamples-partNumSamples > tolerance {
		counts[0] += weightedNumSamples - partNumSamples
	}
	type vc struct{ v, c float64 }
	vcs := make([]vc, 0, len(counts))
	for v, c := range counts {
		vcs = append(vcs, vc{v, c})
	}
	sort.Slice(vcs, func(i, j int) bool { return vcs[i].v < vcs[j].v })
	possible := len(vcs) - 1
	if possible == 0 {
		return nil
	}
	if possible <= numSplits {
		out := make([]float64, possible)
		for i := 1; i <= possible; i++ {
			out[i-1] = (vcs[i-1].v + vcs[i].v) / 2.0
		}
		return out
	}
	stride := weightedNumSamples / float64(numSplits+1)
	out := make([]float64, 0, numSplits)
	current := vcs[0].c
	target := stride
	for i := 1; i < len(vcs); i++ {
		previous := current
		current += vcs[i].c
		if math.Abs(previous-target) < math.Abs(current-target) {
			out = append(out, (vcs[i-1].v+vcs[i].v)/2.0)
			target += stride
		}
	}
	return out
}

// epsilon is Spark's Utils.EPSILON: the machine epsilon of float64.
const epsilon = 2.220446049250313e-16

// Stream ids of the random number generators derived from the seed: one
// for the threshold sample, one per tree (streamTrees + tree index).
const (
	streamSplits = 0x5b117
	streamTrees  = 0x7ee5 << 32
)
