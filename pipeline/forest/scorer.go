package forest

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Scorer is a compiled, read-only form of a Model for fast scoring. It
// gives exactly the probabilities of Model.PredictProba (same leaf
// normalisation and summation order). Trees of depth up to
// maxCompleteDepth with only continuous splits are laid out as complete
// binary trees (shallower leaves replicated), so a row walks a fixed number
// of levels with no unpredictable branches; other trees are flattened into
// 16-byte nodes in pre-order (see flatNode). A Scorer is safe for
// concurrent use.
type Scorer struct {
	numFeatures int
	numClasses  int
	trees       []compiledTree
}

// maxCompleteDepth bounds the complete layout (2^depth leaves per tree).
const maxCompleteDepth = 10

type compiledTree struct {
	// complete layout (depth >= 0): internal node i has children 2i+1, 2i+2.
	complete bool
	depth    int
	feature  []int32
	thresh   []float64
	// general layout: the tree's nodes in pre-order; categorical splits
	// are described in catSplits and test bits of cats (uint64 words).
	nodes     []flatNode
	catSplits []catSplit
	cats      []uint64
	// probs holds one row of NumClasses normalised leaf probabilities per
	// leaf (complete layout: per leaf slot 0..2^depth−1; general layout:
	// leaves in pre-order).
	probs []float64
}

// flatNode is a node of the general layout. A deep forest does not fit in
// the CPU caches (the served match model has ~236,000 nodes), so a row's
// walk is bound by memory loads: everything a level needs is in these 16
// bytes, and with the nodes in pre-order the left child is the next node,
// so going left usually stays in the same cache line.
type flatNode struct {
	// thresh is a continuous split's threshold: x <= thresh goes left (NaN
	// goes right).
	thresh float64
	// feature is a continuous split's feature index; a categorical split
	// holds ^k, k indexing compiledTree.catSplits.
	feature int32
	// right is the right child's index (the left child is the next node);
	// a leaf holds ^l, l its row in probs.
	right int32
}

// catSplit is a categorical split of the general layout.
type catSplit struct {
	feature     int32
	numCats     int32
	unknownLeft bool  // values that are no category go left (Node.UnknownGoesLeft)
	off         int32 // first word of the category bits in cats
}

// Compile checks the model and builds its Scorer.
func (m *Model) Compile() (*Scorer, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	nf := m.NumFeatures
	for ti := range m.Trees {
		for i := range m.Trees[ti].Nodes {
			if n := &m.Trees[ti].Nodes[i]; !n.IsLeaf() {
				nf = max(nf, int(n.Feature)+1)
			}
		}
	}
	s := &Scorer{numFeatures: nf, numClasses: m.NumClasses, trees: make([]compiledTree, len(m.Trees))}
	for ti := range m.Trees {
		s.trees[ti] = compileTree(&m.Trees[ti], m.NumClasses)
	}
	return s, nil
}

// leafProbs writes the leaf's counts normalised to sum 1 (zeros for an
// empty leaf, which then adds nothing, as in Spark).
func leafProbs(n *Node, out []float64) {
	total := 0.0
	for _, v := range n.Stats {
		total += v
	}
	for c, v := range n.Stats {
		if total == 0 {
			out[c] = 0
		} else {
			out[c] = v / total
		}
	}
}

func compileTree(t *Tree, C int) compiledTree {
	depth := t.Depth()
	categorical := false
	for i := range t.Nodes {
		if n := &t.Nodes[i]; !n.IsLeaf() && n.NumCategories >= 0 {
			categorical = true
		}
	}
	if !categorical && depth <= maxCompleteDepth {
		ct := compiledTree{complete: true, depth: depth}
		internal := (1 << depth) - 1
		ct.feature = make([]int32, internal)
		ct.thresh = make([]float64, internal)
		ct.probs = make([]float64, (1<<depth)*C)
		// fill places node ni at complete-tree slot pos of level lvl.
		var fill func(ni int32, pos, lvl int)
		fill = func(ni int32, pos, lvl int) {
			n := &t.Nodes[ni]
			if lvl == depth {
				leafProbs(n, ct.probs[(pos-internal)*C:][:C])
				return
			}
			if n.IsLeaf() {
				// Pad: any test works, both subtrees hold this leaf.
				ct.feature[pos] = 0
				ct.thresh[pos] = math.Inf(1)
				fill(ni, 2*pos+1, lvl+1)
				fill(ni, 2*pos+2, lvl+1)
				return
			}
			ct.feature[pos] = n.Feature
			ct.thresh[pos] = n.Threshold
			fill(n.Left, 2*pos+1, lvl+1)
			fill(n.Right, 2*pos+2, lvl+1)
		}
		fill(0, 0, 0)
		return ct
	}
	ct := compiledTree{nodes: make([]flatNode, 0, len(t.Nodes))}
	// emit appends node ni and its subtree in pre-order and returns its index.
	var emit func(ni int32) int32
	emit = func(ni int32) int32 {
		n := &t.Nodes[ni]
		at := int32(len(ct.nodes))
		ct.nodes = append(ct.nodes, flatNode{})
		if n.IsLeaf() {
			l := len(ct.probs) / C
			ct.probs = append(ct.probs, make([]float64, C)...)
			leafProbs(n, ct.probs[l*C:][:C])
			ct.nodes[at].right = ^int32(l)
			return at
		}
		fn := flatNode{feature: n.Feature, thresh: n.Threshold}
		if n.NumCategories >= 0 {
			words := (int(n.NumCategories) + 63) / 64
			cs := catSplit{feature: n.Feature, numCats: n.NumCategories, unknownLeft: n.UnknownGoesLeft(), off: int32(len(ct.cats))}
			bits := make([]uint64, words)
			for _, c := range n.Categories {
				if isCategory(c, n.NumCategories) {
					bits[int(c)/64] |= 1 << (uint(c) % 64)
				}
			}
			ct.cats = append(ct.cats, bits...)
			fn = flatNode{feature: ^int32(len(ct.catSplits))}
			ct.catSplits = append(ct.catSplits, cs)
		}
		emit(n.Left) // at+1
		fn.right = emit(n.Right)
		ct.nodes[at] = fn
		return at
	}
	emit(0)
	return ct
}

// categoryGoesLeft reports whether categorical split k sends x left, with
// the same rule as Node.GoLeft: a known category by its bit, anything else
// (NaN, fractional, out of range) by the split's unknown-value side.
func (ct *compiledTree) categoryGoesLeft(k int32, x []float64) bool {
	cs := &ct.catSplits[k]
	v := x[cs.feature]
	if !isCategory(v, cs.numCats) {
		return cs.unknownLeft
	}
	c := int(v)
	return ct.cats[int(cs.off)+c/64]&(1<<(uint(c)%64)) != 0
}

// leaf returns the probability row of the leaf reached by x.
func (ct *compiledTree) leaf(x []float64, C int) []float64 {
	if ct.complete {
		i := 0
		for d := 0; d < ct.depth; d++ {
			// Right iff !(x <= t): NaN goes right, as in Spark.
			i = 2*i + 1 + b2i(!(x[ct.feature[i]] <= ct.thresh[i]))
		}
		l := i - ((1 << ct.depth) - 1)
		return ct.probs[l*C : l*C+C]
	}
	nodes := ct.nodes
	i := int32(0)
	for {
		n := &nodes[i]
		if n.right < 0 {
			l := int(^n.right)
			return ct.probs[l*C : l*C+C]
		}
		var goLeft bool
		if n.feature >= 0 {
			goLeft = x[n.feature] <= n.thresh
		} else {
			goLeft = ct.categoryGoesLeft(^n.feature, x)
		}
		if goLeft {
			i++
		} else {
			i = n.right
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// NumFeatures is the row width the scorer expects.
func (s *Scorer) NumFeatures() int { return s.numFeatures }

// NumClasses is the number of classes scored.
func (s *Scorer) NumClasses() int { return s.numClasses }

// scoreBlock sums the per-tree leaf probabilities of rows x (row-major,
// stride nf) into raw (len rows·C), tree by tree so each tree stays in cache.
func (s *Scorer) scoreBlock(x []float64, rows int, raw []float64) {
	C, nf := s.numClasses, s.numFeatures
	clear(raw[:rows*C])
	for ti := range s.trees {
		ct := &s.trees[ti]
		if ct.complete && C == 4 {
			// The common 4-class case unrolled (the flight-delay buckets).
			for r := 0; r < rows; r++ {
				p := ct.leaf(x[r*nf:r*nf+nf], 4)
				o := raw[r*4 : r*4+4]
				o[0] += p[0]
				o[1] += p[1]
				o[2] += p[2]
				o[3] += p[3]
			}
			continue
		}
		for r := 0; r < rows; r++ {
			p := ct.leaf(x[r*nf:r*nf+nf], C)
			o := raw[r*C : r*C+C]
			for c := range o {
				o[c] += p[c]
			}
		}
	}
}

// blockRows is the number of rows scored together per tree pass.
const blockRows = 512

// PredictBatch scores the rows of x (row-major, NumFeatures values per row)
// on GOMAXPROCS goroutines. pred (len rows) receives the predicted classes —
// the first class with the largest vote, Spark's raw2prediction; proba, when
// not nil (len rows·NumClasses), receives the class probabilities: the sum
// over trees of normalised leaf counts, normalised to sum 1.
func (s *Scorer) PredictBatch(x []float64, pred []int32, proba []float64) error {
	nf, C := s.numFeatures, s.numClasses
	if nf == 0 || len(x)%nf != 0 {
		return fmt.Errorf("forest: batch of %d values is not a whole number of %d-feature rows", len(x), nf)
	}
	rows := len(x) / nf
	if len(pred) != rows {
		return fmt.Errorf("forest: pred has %d entries for %d rows", len(pred), rows)
	}
	if proba != nil && len(proba) != rows*C {
		return fmt.Errorf("forest: proba has %d entries, want rows·classes = %d", len(proba), rows*C)
	}
	blocks := (rows + blockRows - 1) / blockRows
	workers := min(runtime.GOMAXPROCS(0), blocks)
	if workers <= 1 {
		s.scoreRange(x, 0, rows, pred, proba, make([]float64, min(rows, blockRows)*C))
		return nil
	}
	// Contiguous chunks of whole blocks, one per worker.
	per := (blocks + workers - 1) / workers * blockRows
	var wg sync.WaitGroup
	for lo := 0; lo < rows; lo += per {
		hi := min(lo+per, rows)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.scoreRange(x, lo, hi, pred, proba, make([]float64, blockRows*C))
		}()
	}
	wg.Wait()
	return nil
}

func (s *Scorer) scoreRange(x []float64, lo, hi int, pred []int32, proba []float64, raw []float64) {
	nf, C := s.numFeatures, s.numClasses
	for b := lo; b < hi; b += blockRows {
		n := min(blockRows, hi-b)
		s.scoreBlock(x[b*nf:(b+n)*nf], n, raw)
		for r := 0; r < n; r++ {
			var o []float64
			if proba != nil {
				o = proba[(b+r)*C : (b+r)*C+C]
			}
			pred[b+r] = int32(finishRow(raw[r*C:r*C+C], o))
		}
	}
}

// finishRow turns one row's summed votes v into its predicted class, the
// first with the largest vote, and, when o is not nil, writes the
// probabilities (the votes normalised to sum 1) into o, which may be v.
func finishRow(v, o []float64) int {
	best := 0
	sum := 0.0
	for c, p := range v {
		sum += p
		if p > v[best] {
			best = c
		}
	}
	if o != nil {
		for c, p := range v {
			if sum > 0 {
				o[c] = p / sum
			} else {
				o[c] = 0
			}
		}
	}
	return best
}

// Predict scores one row x (NumFeatures values): it writes the class
// probabilities into proba (len NumClasses) and returns the predicted
// class, exactly as PredictBatch does for a batch of that one row, without
// allocating — the path of a web app answering one request at a time.
func (s *Scorer) Predict(x, proba []float64) (int, error) {
	if len(x) != s.numFeatures {
		return 0, fmt.Errorf("forest: row of %d values, want %d features", len(x), s.numFeatures)
	}
	C := s.numClasses
	if len(proba) != C {
		return 0, fmt.Errorf("forest: proba has %d entries, want %d classes", len(proba), C)
	}
	clear(proba)
	for ti := range s.trees {
		p := s.trees[ti].leaf(x, C)
		for c := range proba {
			proba[c] += p[c]
		}
	}
	return finishRow(proba, proba), nil
}

// PredictBatch compiles the model and scores the rows of x (row-major,
// NumFeatures values per row); see Scorer.PredictBatch. Compile once and
// reuse the Scorer when scoring many batches.
func (m *Model) PredictBatch(x []float64, pred []int32, proba []float64) error {
	s, err := m.Compile()
	if err != nil {
		return err
	}
	return s.PredictBatch(x, pred, proba)
}
