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
// of levels with no unpredictable branches; the other trees are flattened
// into one array of 64-bit words in pre-order with the leaf probabilities
// inline (see Scorer.code), and one row walks eight of them at a time
// (walkN). A Scorer is safe for concurrent use.
type Scorer struct {
	numFeatures int
	numClasses  int
	trees       []compiledTree

	// code holds the trees of the general layout, each in pre-order, as
	// 64-bit words. A split is two words: nodeWord(feature, index of its
	// right child's word) and the threshold's bits (x <= threshold goes
	// left, NaN right); its left child starts right after it. A leaf is
	// nodeWord(0, leafMarker) followed by its NumClasses normalised
	// probabilities' bits. A deep forest does not fit in the CPU caches
	// (the served match model has ~236,000 nodes), so a row's walk is bound
	// by memory loads: a level is one 16-byte node, going left usually
	// stays in the cache line, and a leaf's probabilities come with the
	// line that says it is a leaf. A categorical split stores ^k as its
	// feature, k indexing catSplits, whose category bits are in cats.
	code      []uint64
	catSplits []catSplit
	cats      []uint64
}

// maxCompleteDepth bounds the complete layout (2^depth leaves per tree).
const maxCompleteDepth = 10

type compiledTree struct {
	// complete layout (depth >= 0): internal node i has children 2i+1, 2i+2.
	complete bool
	depth    int
	feature  []int32
	thresh   []float64
	// probs holds one row of NumClasses normalised leaf probabilities per
	// leaf slot 0..2^depth−1.
	probs []float64

	// general layout: the index of the tree's root word in Scorer.code,
	// and whether any split is categorical (such trees are walked one at a
	// time, with a branch per categorical test).
	root        int32
	categorical bool
}

// leafMarker is the right-child field of a leaf's word.
const leafMarker = -1

// nodeWord packs a node's feature and right child into one code word.
func nodeWord(feature, right int32) uint64 {
	return uint64(uint32(feature)) | uint64(uint32(right))<<32
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
		if err := s.compileTree(&s.trees[ti], &m.Trees[ti]); err != nil {
			return nil, err
		}
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

func (s *Scorer) compileTree(ct *compiledTree, t *Tree) error {
	C := s.numClasses
	depth := t.Depth()
	for i := range t.Nodes {
		if n := &t.Nodes[i]; !n.IsLeaf() && n.NumCategories >= 0 {
			ct.categorical = true
		}
	}
	if !ct.categorical && depth <= maxCompleteDepth {
		ct.complete, ct.depth = true, depth
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
		return nil
	}
	if words := len(s.code) + len(t.Nodes)*max(2, 1+C); words > math.MaxInt32 {
		return fmt.Errorf("forest: %d words of compiled trees, more than a scorer indexes", words)
	}
	ct.root = int32(len(s.code))
	probs := make([]float64, C)
	// emit appends node ni and its subtree in pre-order.
	var emit func(ni int32)
	emit = func(ni int32) {
		n := &t.Nodes[ni]
		if n.IsLeaf() {
			s.code = append(s.code, nodeWord(0, leafMarker))
			leafProbs(n, probs)
			for _, p := range probs {
				s.code = append(s.code, math.Float64bits(p))
			}
			return
		}
		feature := n.Feature
		if n.NumCategories >= 0 {
			words := (int(n.NumCategories) + 63) / 64
			cs := catSplit{feature: n.Feature, numCats: n.NumCategories, unknownLeft: n.UnknownGoesLeft(), off: int32(len(s.cats))}
			bits := make([]uint64, words)
			for _, c := range n.Categories {
				if isCategory(c, n.NumCategories) {
					bits[int(c)/64] |= 1 << (uint(c) % 64)
				}
			}
			s.cats = append(s.cats, bits...)
			feature = ^int32(len(s.catSplits))
			s.catSplits = append(s.catSplits, cs)
		}
		at := len(s.code)
		s.code = append(s.code, 0, math.Float64bits(n.Threshold))
		emit(n.Left)
		s.code[at] = nodeWord(feature, int32(len(s.code)))
		emit(n.Right)
	}
	emit(0)
	return nil
}

// categoryGoesLeft reports whether categorical split k sends x left, with
// the same rule as Node.GoLeft: a known category by its bit, anything else
// (NaN, fractional, out of range) by the split's unknown-value side.
func (s *Scorer) categoryGoesLeft(k int32, x []float64) bool {
	cs := &s.catSplits[k]
	v := x[cs.feature]
	if !isCategory(v, cs.numCats) {
		return cs.unknownLeft
	}
	c := int(v)
	return s.cats[int(cs.off)+c/64]&(1<<(uint(c)%64)) != 0
}

// walk returns the index of the leaf word x reaches from the root word i,
// for any tree of the general layout.
func (s *Scorer) walk(x []float64, i int32) int32 {
	code := s.code
	for {
		w := code[i]
		feature, right := int32(uint32(w)), int32(w>>32)
		if right == leafMarker {
			return i
		}
		var goLeft bool
		if feature >= 0 {
			goLeft = x[feature] <= math.Float64frombits(code[i+1])
		} else {
			goLeft = s.categoryGoesLeft(^feature, x)
		}
		if goLeft {
			i += 2
		} else {
			i = right
		}
	}
}

// step moves one level down from word i of a tree without categorical
// splits, with integer arithmetic instead of branches on the data: a
// mispredicted branch would throw away the loads of the other trees walkN
// keeps in flight. A leaf stays where it is (its word tests feature 0
// against its first probability, and the result is not used; a tree in the
// general layout has a split, so rows have a feature 0).
// rightOrMarker is the word's right-child field, negative at a leaf.
func step(code []uint64, x []float64, i int32) (next, rightOrMarker int32) {
	w := code[i]
	feature, right := int32(uint32(w)), int32(w>>32)
	goRight := int32(b2i(!(x[feature] <= math.Float64frombits(code[i+1])))) // NaN goes right, as in Spark
	next = i + 2 + goRight*(right-i-2)
	leaf := right >> 31 // all ones at a leaf
	return next&^leaf | i&leaf, right
}

// lockstepWidth is how many trees walkN walks at once: enough loads in
// flight to hide most of the memory latency of a forest larger than the
// caches (8 beat 4 by 10–15% on the served match model; 16 gained nothing
// more).
const lockstepWidth = 8

// walkN walks trees without categorical splits from their root words in
// idx at once, one level of each per round, and leaves each one's leaf
// word in idx.
func (s *Scorer) walkN(x []float64, idx []int32) {
	code := s.code
	for {
		all := int32(-1)
		for k, i := range idx {
			var right int32
			idx[k], right = step(code, x, i)
			all &= right
		}
		if all < 0 { // every tree at a leaf
			return
		}
	}
}

// addLeafProbs adds the probabilities of the leaf at word i to o.
func (s *Scorer) addLeafProbs(i int32, o []float64) {
	for c, p := range s.code[i+1 : int(i)+1+len(o)] {
		o[c] += math.Float64frombits(p)
	}
}

// addLeaf adds the probabilities of the leaf x reaches in tree ct to o
// (len NumClasses).
func (s *Scorer) addLeaf(ct *compiledTree, x []float64, o []float64) {
	if ct.complete {
		for c, p := range ct.completeLeaf(x, len(o)) {
			o[c] += p
		}
		return
	}
	s.addLeafProbs(s.walk(x, ct.root), o)
}

// completeLeaf returns the probability row of the leaf x reaches in a
// complete-layout tree.
func (ct *compiledTree) completeLeaf(x []float64, C int) []float64 {
	i := 0
	for d := 0; d < ct.depth; d++ {
		// Right iff !(x <= t): NaN goes right, as in Spark.
		i = 2*i + 1 + b2i(!(x[ct.feature[i]] <= ct.thresh[i]))
	}
	l := i - ((1 << ct.depth) - 1)
	return ct.probs[l*C : l*C+C]
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
				p := ct.completeLeaf(x[r*nf:r*nf+nf], 4)
				o := raw[r*4 : r*4+4]
				o[0] += p[0]
				o[1] += p[1]
				o[2] += p[2]
				o[3] += p[3]
			}
			continue
		}
		for r := 0; r < rows; r++ {
			s.addLeaf(ct, x[r*nf:r*nf+nf], raw[r*C:r*C+C])
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
	trees := s.trees
	var buf [lockstepWidth]int32
	for t := 0; t < len(trees); {
		idx := buf[:0]
		for _, ct := range trees[t:min(t+lockstepWidth, len(trees))] {
			if ct.complete || ct.categorical {
				break
			}
			idx = append(idx, ct.root)
		}
		if len(idx) == 0 {
			s.addLeaf(&trees[t], x, proba)
			t++
			continue
		}
		s.walkN(x, idx)
		// Added in tree order, as everywhere: the same sums to the bit.
		for _, l := range idx {
			s.addLeafProbs(l, proba)
		}
		t += len(idx)
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
