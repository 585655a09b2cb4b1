package forest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Fit bins the columns with NewDataset and trains a forest with Train; the
// one call most callers need.
func Fit(ctx context.Context, columns [][]float64, labels []float64, params Params, opts ...DatasetOption) (*Model, error) {
	ds, err := NewDataset(columns, labels, params, opts...)
	if err != nil {
		return nil, err
	}
	return Train(ctx, ds, params)
}

// Train grows a random forest classifier on ds with Spark MLlib's algorithm
// and parameters (see Params): per tree, Poisson(subsamplingRate) bootstrap
// weights per row (or Bernoulli subsampling without bootstrap); per node, a
// reservoir-sampled feature subset; histogram split search over the bins,
// choosing the split of largest information gain (first on ties) subject to
// minInstancesPerNode, minWeightFractionPerNode and minInfoGain; nodes at
// maxDepth or with zero impurity are leaves; finally sibling leaves with the
// same prediction are merged into their parent, as Spark's toNode(prune)
// does. Trees are grown concurrently on GOMAXPROCS goroutines; each tree
// draws from its own random stream derived from (Seed, tree index), so the
// model is identical for any GOMAXPROCS.
//
// The random streams are datalab's own (PCG), not Spark's XORShift and
// commons-math Poisson streams: a model trained here has Spark's structure
// and semantics but not the exact trees Spark would draw for the same seed.
//
// ds must have been built by NewDataset with the same MaxBins, Seed and
// CategoricalFeatures.
func Train(ctx context.Context, ds *Dataset, params Params) (*Model, error) {
	if err := params.validate(); err != nil {
		return nil, err
	}
	if ds == nil {
		return nil, errors.New("forest: nil dataset; build one with NewDataset")
	}
	if keyOf(params) != ds.binning {
		return nil, errors.New("forest: dataset was binned with other MaxBins, Seed or CategoricalFeatures; rebuild it with NewDataset(columns, labels, params)")
	}
	imp, _ := params.impurity()
	k, _ := params.FeaturesPerNode(ds.numFeatures)
	if ds.numRows > math.MaxInt32 {
		return nil, fmt.Errorf("forest: %d rows exceed the supported %d", ds.numRows, math.MaxInt32)
	}
	C := ds.numClasses
	maxCodes := 0
	for f := 0; f < ds.numFeatures; f++ {
		maxCodes = max(maxCodes, ds.NumBins(f)*C)
	}
	var trees []Tree
	var err error
	switch {
	case maxCodes <= 256:
		trees, err = grow(ctx, newTrainer[uint8](ds, params, imp, k))
	case maxCodes <= 1<<16:
		trees, err = grow(ctx, newTrainer[uint16](ds, params, imp, k))
	default:
		trees, err = grow(ctx, newTrainer[uint32](ds, params, imp, k))
	}
	if err != nil {
		return nil, err
	}
	return &Model{NumFeatures: ds.numFeatures, NumClasses: C, Trees: trees, Params: params}, nil
}

// codeType is the width of a fused (bin, class) code: code = bin·C + class.
// Fusing the label into the bin column makes a histogram update one load
// and one add.
type codeType interface{ ~uint8 | ~uint16 | ~uint32 }

// trainer holds what every tree of one Train call shares (read-only).
type trainer[T codeType] struct {
	ds        *Dataset
	p         Params
	imp       impurityKind
	k         int // features per node
	C         int
	nbins     []int
	codes     [][]T // codes[f][row] = bin·C + label
	minWeight float64
	poisson   []uint64 // inverse-CDF table of Poisson(subsamplingRate)
}

func newTrainer[T codeType](ds *Dataset, p Params, imp impurityKind, k int) *trainer[T] {
	t := &trainer[T]{
		ds: ds, p: p, imp: imp, k: k, C: ds.numClasses,
		nbins:     make([]int, ds.numFeatures),
		codes:     make([][]T, ds.numFeatures),
		minWeight: p.MinWeightFractionPerNode * float64(ds.numRows),
	}
	for f := range t.nbins {
		t.nbins[f] = ds.NumBins(f)
	}
	if p.Bootstrap {
		t.poisson = poissonTable(p.SubsamplingRate)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for f := 0; f < ds.numFeatures; f++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(f int) {
			defer func() { <-sem; wg.Done() }()
			c := make([]T, ds.numRows)
			C := T(t.C)
			lab := ds.labels
			if ds.bins8 != nil {
				b := ds.bins8[f]
				for r := range c {
					c[r] = T(b[r])*C + T(lab[r])
				}
			} else {
				b := ds.bins16[f]
				for r := range c {
					c[r] = T(b[r])*C + T(lab[r])
				}
			}
			t.codes[f] = c
		}(f)
	}
	wg.Wait()
	return t
}

// poissonTable returns thresholds u_k = P(X <= k)·2⁶⁴ of Poisson(lambda), so
// a uniform 64-bit draw u maps to the first k with u < u_k (inverse CDF with
// one draw per row).
func poissonTable(lambda float64) []uint64 {
	var out []uint64
	pmf := math.Exp(-lambda)
	cdf := 0.0
	for k := 0; k < 64; k++ {
		cdf += pmf
		if cdf >= 1 {
			break
		}
		out = append(out, uint64(math.Ldexp(cdf, 64)))
		pmf *= lambda / float64(k+1)
		if pmf < 1e-19 {
			break
		}
	}
	return out
}

// poissonDraw maps a uniform draw (in the top bits of u, compared as a
// 64-bit fraction) to a Poisson count with the table. The first four
// thresholds are compared without branches: Poisson(1) draws are 0, 1 or 2
// with nearly equal odds, which defeats branch prediction.
func poissonDraw(table []uint64, u uint64) uint32 {
	if len(table) >= 4 {
		k := b2i(u >= table[0]) + b2i(u >= table[1]) + b2i(u >= table[2]) + b2i(u >= table[3])
		if k < 4 {
			return uint32(k)
		}
	}
	k := 0
	for k < len(table) && u >= table[k] {
		k++
	}
	return uint32(k)
}

// grow trains all trees, in parallel over trees.
func grow[T codeType](ctx context.Context, t *trainer[T]) ([]Tree, error) {
	nt := t.p.NumTrees
	trees := make([]Tree, nt)
	workers := min(runtime.GOMAXPROCS(0), nt)
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			b := newBuilder(t)
			for {
				ti := int(next.Add(1) - 1)
				if ti >= nt {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				trees[ti] = b.buildTree(ctx, ti)
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("forest: training cancelled: %w", err)
	}
	return trees, nil
}

// builder grows one tree at a time; a worker reuses its buffers.
type builder[T codeType] struct {
	t      *trainer[T]
	rng    *rand.Rand
	idx    []int32  // bagged rows, each node's rows contiguous
	w      []uint32 // bootstrap counts, parallel to idx
	tmpIdx []int32
	tmpW   []uint32
	hist   []uint32 // the histogram of the feature being searched: nbins·C counters
	feats  []int
	nodes  []Node
	ctx    context.Context
	// split search scratch
	left, right, bestLeft []float64
	catStats              []float64
	order                 []catCentroid
	leftLUT               []bool
}

type catCentroid struct {
	cat      int
	centroid float64
}

func newBuilder[T codeType](t *trainer[T]) *builder[T] {
	maxCodes := 0
	for _, nb := range t.nbins {
		maxCodes = max(maxCodes, nb*t.C)
	}
	return &builder[T]{
		t:        t,
		idx:      make([]int32, t.ds.numRows),
		w:        make([]uint32, t.ds.numRows),
		tmpIdx:   make([]int32, t.ds.numRows),
		tmpW:     make([]uint32, t.ds.numRows),
		hist:     make([]uint32, max(maxCodes, 256)),
		feats:    make([]int, t.k),
		left:     make([]float64, t.C),
		right:    make([]float64, t.C),
		bestLeft: make([]float64, t.C),
		catStats: make([]float64, t.C),
		leftLUT:  make([]bool, maxCodes),
	}
}

// buildTree bags the rows for tree ti and grows it depth-first, which
// writes the nodes in pre-order.
func (b *builder[T]) buildTree(ctx context.Context, ti int) Tree {
	t := b.t
	b.ctx = ctx
	b.rng = rand.New(rand.NewPCG(uint64(t.p.Seed), streamTrees+uint64(ti)))
	n := t.ds.numRows
	idx, w := b.idx[:n], b.w[:n]
	_ = w[len(idx)-1]
	m := 0
	switch {
	case t.p.Bootstrap:
		// One 64-bit draw gives two 32-bit uniforms; the 2⁻³² resolution is
		// far below any Poisson probability that matters (P(X >= 12) ≈ 1e-9
		// for rate 1). Rows are written unconditionally and kept by
		// advancing the cursor, so the loop has no data-dependent branch.
		table := t.poisson
		r := 0
		for ; r+1 < n; r += 2 {
			u := b.rng.Uint64()
			c0 := poissonDraw(table, u<<32)
			c1 := poissonDraw(table, u&^(1<<32-1))
			idx[m], w[m] = int32(r), c0
			m += b2i(c0 > 0)
			idx[m], w[m] = int32(r+1), c1
			m += b2i(c1 > 0)
		}
		if r < n {
			c := poissonDraw(table, b.rng.Uint64()&^(1<<32-1))
			idx[m], w[m] = int32(r), c
			m += b2i(c > 0)
		}
	case t.p.SubsamplingRate >= 1:
		for r := 0; r < n; r++ {
			idx[r], w[r] = int32(r), 1
		}
		m = n
	default:
		rate := t.p.SubsamplingRate
		for r := 0; r < n; r++ {
			idx[m], w[m] = int32(r), 1
			m += b2i(b.rng.Float64() < rate)
		}
	}
	b.idx, b.w = idx[:m], w[:m]
	root := make([]float64, t.C)
	lab := t.ds.labels
	for i, r := range b.idx {
		root[lab[r]] += float64(b.w[i])
	}
	b.nodes = make([]Node, 0, min(1<<(t.p.MaxDepth+1), 1024))
	b.node(0, len(b.idx), 0, root)
	nodes := slices.Clip(b.nodes)
	b.nodes = nil
	return Tree{Nodes: nodes, Weight: 1.0}
}

// split is the best split found for a node.
type split struct {
	valid     bool
	gain      float64
	feature   int
	bin       int   // continuous: bins <= bin go left
	cats      []int // categorical: categories that go left
	leftImp   float64
	rightImp  float64
	leftStats []float64
}

// node grows the subtree of rows idx[lo:hi] at the given depth with class
// counts stats, appends it in pre-order and returns its index.
func (b *builder[T]) node(lo, hi, depth int, stats []float64) int32 {
	t := b.t
	id := int32(len(b.nodes))
	imp := t.imp.calculate(stats)
	total := 0.0
	for _, s := range stats {
		total += s
	}
	b.nodes = append(b.nodes, Node{
		Prediction: float64(argmaxCounts(stats)), Impurity: imp, Stats: stats,
		RawCount: int64(total), Gain: -1, Left: -1, Right: -1, Feature: -1, NumCategories: -1,
	})
	// Spark never evaluates a node at maxDepth or with zero impurity, except
	// the root, which is always evaluated.
	if depth > 0 && (depth == t.p.MaxDepth || math.Abs(imp) < epsilon) {
		return id
	}
	if b.ctx.Err() != nil {
		return id
	}
	sp := b.bestSplit(lo, hi, stats, imp)
	if !sp.valid {
		// Spark keeps the old mllib behaviour: impurity −1 for a node whose
		// split search found no valid split.
		b.nodes[id].Impurity = -1
		return id
	}
	if sp.gain <= 0 || depth == t.p.MaxDepth {
		return id
	}
	// Children at maxDepth or with zero impurity are leaves that are never
	// searched, so their rows need not be separated.
	mid := lo
	childIsLeaf := depth+1 == t.p.MaxDepth
	if !(childIsLeaf || (math.Abs(sp.leftImp) < epsilon && math.Abs(sp.rightImp) < epsilon)) {
		mid = b.partition(lo, hi, sp)
	}
	leftStats := sp.leftStats
	rightStats := make([]float64, t.C)
	for c := range rightStats {
		rightStats[c] = stats[c] - leftStats[c]
	}
	nd := &b.nodes[id]
	nd.Gain = sp.gain
	nd.Feature = int32(sp.feature)
	if a := t.ds.arity[sp.feature]; a > 0 {
		nd.NumCategories = int32(a)
		cats := make([]float64, len(sp.cats))
		for i, c := range sp.cats {
			cats[i] = float64(c)
		}
		slices.Sort(cats)
		nd.Categories = cats
	} else {
		nd.Threshold = t.ds.thresholds[sp.feature][sp.bin]
	}
	l := b.node(lo, mid, depth+1, leftStats)
	r := b.node(mid, hi, depth+1, rightStats)
	ln, rn := &b.nodes[l], &b.nodes[r]
	if ln.IsLeaf() && rn.IsLeaf() && ln.Prediction == rn.Prediction {
		// Spark's toNode(prune = true): two leaves with the same prediction
		// collapse into their parent, which keeps its own counts and impurity.
		pred := ln.Prediction
		b.nodes = b.nodes[:id+1]
		nd = &b.nodes[id]
		*nd = Node{
			Prediction: pred, Impurity: imp, Stats: stats, RawCount: int64(total),
			Gain: -1, Left: -1, Right: -1, Feature: -1, NumCategories: -1,
		}
		return id
	}
	nd = &b.nodes[id]
	nd.Left, nd.Right = l, r
	return id
}

// selectFeatures draws the node's feature subset with Spark's reservoir
// sampling (SamplingUtils.reservoirSampleAndCount) when subsampling.
func (b *builder[T]) selectFeatures() []int {
	nf := b.t.ds.numFeatures
	k := b.t.k
	f := b.feats[:k]
	if k >= nf {
		for i := range f {
			f[i] = i
		}
		return f
	}
	for i := 0; i < k; i++ {
		f[i] = i
	}
	for i := k; i < nf; i++ {
		j := b.rng.IntN(i + 1)
		if j < k {
			f[j] = i
		}
	}
	return f
}

// bestSplit builds the histograms of the node's feature subset and returns
// the split of largest gain (first on ties, in subset order).
func (b *builder[T]) bestSplit(lo, hi int, stats []float64, imp float64) split {
	t := b.t
	C := t.C
	feats := b.selectFeatures()
	idx, w := b.idx[lo:hi], b.w[lo:hi]
	best := split{gain: math.Inf(-1)}
	for _, f := range feats {
		nb := t.nbins[f]
		if t.ds.arity[f] == 0 && nb < 2 {
			continue // constant feature: no splits (Spark filters it out)
		}
		nc := nb * C
		h := b.hist[:nc]
		clear(h)
		accumulate(h, t.codes[f], idx, w)
		switch {
		case t.ds.arity[f] == 0:
			b.searchContinuous(&best, f, h, nb, stats, imp)
		case t.ds.unordered[f]:
			b.searchUnordered(&best, f, h, nb, stats, imp)
		default:
			b.searchOrdered(&best, f, h, nb, stats, imp)
		}
	}
	return best
}

// accumulate adds each row's bootstrap count to its (bin, class) counter.
func accumulate[T codeType](h []uint32, codes []T, idx []int32, w []uint32) {
	if c8, ok := any(codes).([]uint8); ok && len(h) <= 256 {
		accumulate8(h, c8, idx, w)
		return
	}
	w = w[:len(idx)]
	for i, r := range idx {
		h[codes[r]] += w[i]
	}
}

// accumulate8 is the uint8 fast path: a 256-entry table needs no bounds
// checks, and two interleaved tables halve the store-to-load dependency
// chains when neighbouring rows share a code.
func accumulate8(hs []uint32, codes []uint8, idx []int32, w []uint32) {
	var h0, h1 [256]uint32
	w = w[:len(idx)]
	i := 0
	for ; i+1 < len(idx); i += 2 {
		h0[codes[idx[i]]] += w[i]
		h1[codes[idx[i+1]]] += w[i+1]
	}
	if i < len(idx) {
		h0[codes[idx[i]]] += w[i]
	}
	for c := range hs {
		hs[c] += h0[c] + h1[c]
	}
}

// consider evaluates one candidate split with Spark's
// calculateImpurityStats rules and keeps it if its gain is strictly larger.
// It reports the candidate's validity and gain.
func (b *builder[T]) consider(best *split, left, right []float64, imp float64) (bool, float64, float64, float64) {
	t := b.t
	lc, rc := 0.0, 0.0
	for c := range left {
		lc += left[c]
		rc += right[c]
	}
	mi := float64(t.p.MinInstancesPerNode)
	// Unit instance weights: the raw count equals the weighted count.
	if lc < mi || rc < mi || lc < t.minWeight || rc < t.minWeight {
		return false, 0, 0, 0
	}
	li := t.imp.calculate(left)
	ri := t.imp.calculate(right)
	total := lc + rc
	gain := imp - (lc/total)*li - (rc/total)*ri
	if gain < t.p.MinInfoGain {
		return false, 0, 0, 0
	}
	return gain > best.gain, gain, li, ri
}

func (b *builder[T]) take(best *split, f int, gain, li, ri float64, left []float64) {
	best.valid = true
	best.gain = gain
	best.feature = f
	best.leftImp, best.rightImp = li, ri
	if best.leftStats == nil {
		best.leftStats = make([]float64, len(left))
	}
	copy(best.leftStats, left)
}

func (b *builder[T]) searchContinuous(best *split, f int, h []uint32, nb int, stats []float64, imp float64) {
	C := b.t.C
	left, right := b.left, b.right
	clear(left)
	for s := 0; s < nb-1; s++ {
		for c := 0; c < C; c++ {
			left[c] += float64(h[s*C+c])
			right[c] = stats[c] - left[c]
		}
		if better, gain, li, ri := b.consider(best, left, right, imp); better {
			b.take(best, f, gain, li, ri, left)
			best.bin = s
			best.cats = nil
		}
	}
}

// searchUnordered tries every subset of categories Spark enumerates for a
// low-arity feature in multiclass classification: split s sends the
// categories of the bits of s+1 left, for s = 0 .. 2^(arity−1)−2.
func (b *builder[T]) searchUnordered(best *split, f int, h []uint32, arity int, stats []float64, imp float64) {
	C := b.t.C
	left, right := b.left, b.right
	numSplits := (1 << (arity - 1)) - 1
	for s := 0; s < numSplits; s++ {
		mask := s + 1
		clear(left)
		for cat := 0; cat < arity; cat++ {
			if mask&(1<<cat) != 0 {
				for c := 0; c < C; c++ {
					left[c] += float64(h[cat*C+c])
				}
			}
		}
		for c := 0; c < C; c++ {
			right[c] = stats[c] - left[c]
		}
		if better, gain, li, ri := b.consider(best, left, right, imp); better {
			b.take(best, f, gain, li, ri, left)
			best.cats = best.cats[:0]
			for cat := 0; cat < arity; cat++ {
				if mask&(1<<cat) != 0 {
					best.cats = append(best.cats, cat)
				}
			}
		}
	}
}

// searchOrdered orders the categories by centroid, as Spark does for
// binary classification (count of class 1) and for high-arity features in
// multiclass classification (impurity of the category's labels); empty
// categories go last. The ordering is stable, and split s sends the first
// s+1 categories left.
func (b *builder[T]) searchOrdered(best *split, f int, h []uint32, arity int, stats []float64, imp float64) {
	t := b.t
	C := t.C
	b.order = b.order[:0]
	cs := b.catStats
	for cat := 0; cat < arity; cat++ {
		n := 0.0
		for c := 0; c < C; c++ {
			cs[c] = float64(h[cat*C+c])
			n += cs[c]
		}
		centroid := math.MaxFloat64
		if n != 0 {
			if C > 2 {
				centroid = t.imp.calculate(cs)
			} else {
				centroid = cs[1]
			}
		}
		b.order = append(b.order, catCentroid{cat, centroid})
	}
	slices.SortStableFunc(b.order, func(x, y catCentroid) int {
		switch {
		case x.centroid < y.centroid:
			return -1
		case x.centroid > y.centroid:
			return 1
		}
		return 0
	})
	left, right := b.left, b.right
	clear(left)
	bestS := -1
	for s := 0; s < arity-1; s++ {
		cat := b.order[s].cat
		for c := 0; c < C; c++ {
			left[c] += float64(h[cat*C+c])
			right[c] = stats[c] - left[c]
		}
		if better, gain, li, ri := b.consider(best, left, right, imp); better {
			b.take(best, f, gain, li, ri, left)
			bestS = s
		}
	}
	if bestS >= 0 {
		best.cats = best.cats[:0]
		for s := 0; s <= bestS; s++ {
			best.cats = append(best.cats, b.order[s].cat)
		}
	}
}

// partition reorders idx[lo:hi] (and the counts with it) so the rows going
// left come first, keeping each side in row order for cache-friendly
// histogram passes, and returns the boundary.
func (b *builder[T]) partition(lo, hi int, sp split) int {
	t := b.t
	C := t.C
	codes := t.codes[sp.feature]
	idx, w := b.idx[lo:hi], b.w[lo:hi]
	w = w[:len(idx)]
	tmpIdx, tmpW := b.tmpIdx[:len(idx)], b.tmpW[:len(idx)]
	// Branch-free: every row is written to both sides and kept by advancing
	// one cursor (writing idx[nl] is safe, nl <= i).
	nl, nr := 0, 0
	if t.ds.arity[sp.feature] == 0 {
		limit := T((sp.bin + 1) * C)
		for i, r := range idx {
			wi := w[i]
			left := b2i(codes[r] < limit)
			idx[nl], w[nl] = r, wi
			tmpIdx[nr], tmpW[nr] = r, wi
			nl += left
			nr += 1 - left
		}
	} else {
		lut := b.leftLUT[:t.nbins[sp.feature]*C]
		clear(lut)
		for _, cat := range sp.cats {
			for c := 0; c < C; c++ {
				lut[cat*C+c] = true
			}
		}
		for i, r := range idx {
			wi := w[i]
			left := b2i(lut[codes[r]])
			idx[nl], w[nl] = r, wi
			tmpIdx[nr], tmpW[nr] = r, wi
			nl += left
			nr += 1 - left
		}
	}
	copy(idx[nl:], tmpIdx[:nr])
	copy(w[nl:], tmpW[:nr])
	return lo + nl
}
