// Package forest is datalab's random forest engine: a classification forest
// with Spark MLlib's parameters, defaults and scoring semantics. It trains on
// pre-binned columnar data (NewDataset bins float64 columns into uint8/uint16
// bins with Spark's threshold search; Train or Fit grows the trees on all
// cores, deterministically for a seed) and scores feature vectors
// (Model.Predict, or a compiled Scorer for batches). Reading and writing
// Spark's on-disk format lives in package sparkml, which builds and consumes
// the Model type defined here.
package forest

import (
	"fmt"
	"math"
	"slices"
)

// Node is one node of a decision tree, with the fields Spark stores in its
// node table (see SPARK_MODEL_FORMAT.md). Nodes of a tree are stored in
// pre-order; Left and Right index into Tree.Nodes and are -1 for leaves.
type Node struct {
	// Prediction is the class predicted at this node (argmax of Stats).
	Prediction float64
	// Impurity is the node's impurity (gini or entropy).
	Impurity float64
	// Stats holds the per-class (weighted) sample counts at the node.
	Stats []float64
	// RawCount is the unweighted sample count, -1 when unknown (Spark < 3.0).
	RawCount int64
	// Gain is the information gain of the split; -1 for leaves.
	Gain float64
	// Left and Right are child indices; -1 for leaves.
	Left, Right int32
	// Feature is the split feature index; -1 for leaves.
	Feature int32
	// Threshold is the continuous split threshold: x <= Threshold goes left.
	Threshold float64
	// Categories are the categories that go left in a categorical split.
	Categories []float64
	// NumCategories is the arity of a categorical split feature; -1 for a
	// continuous split or a leaf.
	NumCategories int32
}

// IsLeaf reports whether n has no children.
func (n *Node) IsLeaf() bool { return n.Left < 0 }

// GoLeft reports whether feature value x is sent to the left child, exactly
// as Spark's Split.shouldGoLeft decides it. Continuous splits: x <= threshold
// goes left (NaN compares false and goes right). Categorical splits follow
// Spark's CategoricalSplit: when at most half of the NumCategories categories
// go left, x goes left iff it is one of them; otherwise Spark keeps the
// right-hand categories and x goes left iff it is NOT one of those. The two
// agree on known categories but differ for a value outside
// 0..NumCategories-1 — NaN (a missing index) or the len(labels) index that a
// StringIndexer with handleInvalid "keep" gives an unseen label — which goes
// right in the first case and left in the second.
func (n *Node) GoLeft(x float64) bool {
	if n.NumCategories < 0 {
		return x <= n.Threshold
	}
	if slices.Contains(n.Categories, x) {
		return true
	}
	return n.UnknownGoesLeft() && !isCategory(x, n.NumCategories)
}

// UnknownGoesLeft reports whether a categorical split sends values that are
// not one of its categories (NaN, unseen) left: Spark stores the complement
// when more than half of the categories go left.
func (n *Node) UnknownGoesLeft() bool {
	return n.NumCategories >= 0 && len(n.Categories) > int(n.NumCategories)/2
}

// isCategory reports whether x is an integer category in 0..numCategories-1.
func isCategory(x float64, numCategories int32) bool {
	return x >= 0 && x < float64(numCategories) && x == math.Trunc(x)
}

// Tree is one decision tree. Nodes[0] is the root.
type Tree struct {
	Nodes []Node
	// Weight is the tree weight Spark stores (always 1.0 for forests; it is
	// ignored when scoring, as in Spark).
	Weight float64
}

// Leaf returns the leaf reached by feature vector x.
func (t *Tree) Leaf(x []float64) *Node {
	n := &t.Nodes[0]
	for !n.IsLeaf() {
		if n.GoLeft(x[n.Feature]) {
			n = &t.Nodes[n.Left]
		} else {
			n = &t.Nodes[n.Right]
		}
	}
	return n
}

// Depth returns the depth of the tree (a lone leaf has depth 0).
func (t *Tree) Depth() int {
	var depth func(i int32) int
	depth = func(i int32) int {
		n := &t.Nodes[i]
		if n.IsLeaf() {
			return 0
		}
		return 1 + max(depth(n.Left), depth(n.Right))
	}
	return depth(0)
}

// Model is a trained random forest classifier.
type Model struct {
	NumFeatures int
	NumClasses  int
	Trees       []Tree
	// Params are the parameters the model was trained with (Spark writes
	// them into the model metadata). Zero for models whose origin is unknown.
	Params Params
}

// NumNodes is the total node count over all trees.
func (m *Model) NumNodes() int {
	n := 0
	for i := range m.Trees {
		n += len(m.Trees[i].Nodes)
	}
	return n
}

// Validate checks the structural invariants a scorer relies on, so that a
// corrupt model fails when loaded, not when it is asked for a prediction.
func (m *Model) Validate() error {
	if m.NumClasses < 2 {
		return fmt.Errorf("forest: numClasses %d, want at least 2", m.NumClasses)
	}
	if len(m.Trees) == 0 {
		return fmt.Errorf("forest: model has no trees")
	}
	for ti := range m.Trees {
		nodes := m.Trees[ti].Nodes
		if len(nodes) == 0 {
			return fmt.Errorf("forest: tree %d has no nodes", ti)
		}
		for i := range nodes {
			n := &nodes[i]
			if len(n.Stats) != m.NumClasses {
				return fmt.Errorf("forest: tree %d node %d has %d class counts, want %d", ti, i, len(n.Stats), m.NumClasses)
			}
			if n.IsLeaf() {
				if n.Right >= 0 {
					return fmt.Errorf("forest: tree %d node %d has a right child but no left child", ti, i)
				}
				continue
			}
			// Pre-order storage: children come after their parent, which
			// also rules out cycles.
			if n.Left <= int32(i) || n.Right <= int32(i) || int(n.Left) >= len(nodes) || int(n.Right) >= len(nodes) {
				return fmt.Errorf("forest: tree %d node %d has children %d,%d out of pre-order range", ti, i, n.Left, n.Right)
			}
			if n.Feature < 0 || (m.NumFeatures > 0 && int(n.Feature) >= m.NumFeatures) {
				return fmt.Errorf("forest: tree %d node %d splits on feature %d, model has %d features", ti, i, n.Feature, m.NumFeatures)
			}
		}
	}
	return nil
}

// PredictProba writes the class probabilities for feature vector x into
// out (len NumClasses) the way Spark does: each tree contributes its leaf's
// class counts normalised to sum 1, and the sum over trees is normalised.
// Tree weights are ignored, as in Spark's RandomForestClassificationModel.
func (m *Model) PredictProba(x []float64, out []float64) {
	m.rawVotes(x, out)
	normalize(out)
}

// rawVotes writes Spark's rawPrediction: the sum over trees of each leaf's
// normalised class counts (an empty leaf adds nothing).
func (m *Model) rawVotes(x []float64, out []float64) {
	clear(out)
	for ti := range m.Trees {
		leaf := m.Trees[ti].Leaf(x)
		total := 0.0
		for _, s := range leaf.Stats {
			total += s
		}
		if total == 0 {
			continue
		}
		for c, s := range leaf.Stats {
			out[c] += s / total
		}
	}
}

func normalize(out []float64) {
	sum := 0.0
	for _, v := range out {
		sum += v
	}
	if sum > 0 {
		for c := range out {
			out[c] /= sum
		}
	}
}

// Predict returns the predicted class and the probabilities. The class is
// the argmax of the raw votes (first index on ties), as Spark's
// raw2prediction computes it.
func (m *Model) Predict(x []float64) (int, []float64) {
	p := make([]float64, m.NumClasses)
	m.rawVotes(x, p)
	best := Argmax(p)
	normalize(p)
	return best, p
}

// Argmax returns the index of the largest value, the first on ties; NaN is
// never the maximum.
func Argmax(p []float64) int {
	best, bestV := 0, math.Inf(-1)
	for i, v := range p {
		if v > bestV {
			best, bestV = i, v
		}
	}
	return best
}
