package forest

import (
	"cmp"
	"slices"
	"strings"
)

// FeatureImportances returns Spark's feature importances
// (TreeEnsembleModel.featureImportances): in each tree, every internal node
// adds gain × (weighted) node count to its split feature; each tree's vector
// is normalised to sum 1 (trees without splits are skipped), the vectors are
// summed over trees and the sum is normalised to 1. The result has
// NumFeatures entries (or max split feature + 1 when NumFeatures is 0); it is
// all zeros when no tree has a split.
func (m *Model) FeatureImportances() []float64 {
	nf := m.NumFeatures
	for ti := range m.Trees {
		for i := range m.Trees[ti].Nodes {
			if n := &m.Trees[ti].Nodes[i]; !n.IsLeaf() {
				nf = max(nf, int(n.Feature)+1)
			}
		}
	}
	total := make([]float64, nf)
	tree := make([]float64, nf)
	for ti := range m.Trees {
		clear(tree)
		norm := 0.0
		for i := range m.Trees[ti].Nodes {
			n := &m.Trees[ti].Nodes[i]
			if n.IsLeaf() {
				continue
			}
			count := 0.0
			for _, s := range n.Stats {
				count += s
			}
			tree[n.Feature] += n.Gain * count
		}
		for _, v := range tree {
			norm += v
		}
		if norm == 0 {
			continue
		}
		for f, v := range tree {
			total[f] += v / norm
		}
	}
	sum := 0.0
	for _, v := range total {
		sum += v
	}
	if sum != 0 {
		for f := range total {
			total[f] /= sum
		}
	}
	return total
}

// FeatureImportance is one named feature's share of the forest's gain
// (Spark's definition, see Model.FeatureImportances).
type FeatureImportance struct {
	Feature    string  `json:"feature"`
	Importance float64 `json:"importance"`
}

// NamedImportances pairs the feature importances with names (names[i] is
// feature i), largest first, ties by name. Features beyond the model's count
// get 0.
func (m *Model) NamedImportances(names []string) []FeatureImportance {
	imp := m.FeatureImportances()
	out := make([]FeatureImportance, len(names))
	for i, name := range names {
		v := 0.0
		if i < len(imp) {
			v = imp[i]
		}
		out[i] = FeatureImportance{Feature: name, Importance: v}
	}
	slices.SortStableFunc(out, func(a, b FeatureImportance) int {
		if a.Importance != b.Importance {
			return cmp.Compare(b.Importance, a.Importance)
		}
		return strings.Compare(a.Feature, b.Feature)
	})
	return out
}
