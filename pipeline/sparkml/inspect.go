package sparkml

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/datalabhq/datalab/pipeline/forest"
)

// Summary describes a pipeline for `datalab model inspect`: the feature
// stages, the classifier with its params and tree statistics, the feature
// importances and the label stage.
type Summary struct {
	Source     *Source          `json:"source,omitempty"`
	Stages     []StageSummary   `json:"stages"`
	Classifier ClassifierReport `json:"classifier"`
	// Label is the label stage, used in training only; nil without one.
	Label *StageSummary `json:"label,omitempty"`
}

// StageSummary describes one stage.
type StageSummary struct {
	Index        int      `json:"index"`
	UID          string   `json:"uid"`
	Class        string   `json:"class"`
	SparkVersion string   `json:"sparkVersion,omitempty"`
	Inputs       []string `json:"inputs"`
	Outputs      []string `json:"outputs"`
	Params       []Param  `json:"params"`
}

// ClassifierReport describes the forest.
type ClassifierReport struct {
	UID          string        `json:"uid"`
	Class        string        `json:"class"`
	SparkVersion string        `json:"sparkVersion,omitempty"`
	Columns      ModelInfo     `json:"columns"`
	Params       forest.Params `json:"params"`
	NumFeatures  int           `json:"numFeatures"`
	NumClasses   int           `json:"numClasses"`
	NumTrees     int           `json:"numTrees"`
	NumNodes     int           `json:"numNodes"`
	NumLeaves    int           `json:"numLeaves"`
	MinDepth     int           `json:"minDepth"`
	MaxDepth     int           `json:"maxDepth"`
	// CategoricalSplits counts internal nodes splitting on a category set.
	CategoricalSplits int `json:"categoricalSplits"`
	// ClassLabels describes each class when there is a label stage.
	ClassLabels []string `json:"classLabels,omitempty"`
	// Importances are Spark's feature importances, largest first.
	Importances []FeatureImportance `json:"importances"`
}

// FeatureImportance is one feature's share of the forest's total gain.
type FeatureImportance struct {
	Index      int     `json:"index"`
	Name       string  `json:"name"`
	Importance float64 `json:"importance"`
}

// Summary describes p.
func (p *Pipeline) Summary() Summary {
	s := Summary{Source: p.Source}
	version := func(uid string) string {
		if p.Source == nil {
			return ""
		}
		return p.Source.SparkVersions[uid]
	}
	for i, st := range p.Stages {
		s.Stages = append(s.Stages, StageSummary{Index: i, UID: st.StageUID(), Class: st.SparkClass(), SparkVersion: version(st.StageUID()),
			Inputs: st.InputCols(), Outputs: st.OutputCols(), Params: st.Params()})
	}
	if p.Label != nil {
		s.Label = &StageSummary{Index: -1, UID: p.Label.UID, Class: p.Label.SparkClass(), SparkVersion: version(p.Label.UID),
			Inputs: p.Label.InputCols(), Outputs: p.Label.OutputCols(), Params: p.Label.Params()}
	}
	m := p.Model
	c := ClassifierReport{UID: p.ModelInfo.UID, Class: ClassRandomForest, SparkVersion: version(p.ModelInfo.UID), Columns: p.ModelInfo,
		Params: m.Params, NumFeatures: m.NumFeatures, NumClasses: m.NumClasses, NumTrees: len(m.Trees), NumNodes: m.NumNodes()}
	c.MinDepth = -1
	for ti := range m.Trees {
		t := &m.Trees[ti]
		d := t.Depth()
		c.MaxDepth = max(c.MaxDepth, d)
		if c.MinDepth < 0 || d < c.MinDepth {
			c.MinDepth = d
		}
		for i := range t.Nodes {
			switch n := &t.Nodes[i]; {
			case n.IsLeaf():
				c.NumLeaves++
			case n.NumCategories >= 0:
				c.CategoricalSplits++
			}
		}
	}
	if p.Label != nil {
		for k := range m.NumClasses {
			c.ClassLabels = append(c.ClassLabels, p.ClassLabel(k))
		}
	}
	names := p.FeatureNames()
	for i, v := range m.FeatureImportances() {
		name := fmt.Sprintf("f%d", i)
		if i < len(names) {
			name = names[i]
		}
		c.Importances = append(c.Importances, FeatureImportance{Index: i, Name: name, Importance: v})
	}
	slices.SortStableFunc(c.Importances, func(a, b FeatureImportance) int {
		switch {
		case a.Importance > b.Importance:
			return -1
		case a.Importance < b.Importance:
			return 1
		}
		return 0
	})
	s.Classifier = c
	return s
}

// shortClass drops the package of a Spark class name.
func shortClass(c string) string { return c[strings.LastIndex(c, ".")+1:] }

// WriteText renders the summary as human-readable tables.
func (s Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	if s.Source != nil {
		p("model\t%s (%s)\n", s.Source.Dir, s.Source.Layout)
	}
	p("\nfeature stages (%d), raw row → feature vector:\n", len(s.Stages))
	p("#\tstage\tuid\tinputs\toutputs\tparams\n")
	for _, st := range s.Stages {
		p("%d\t%s\t%s\t%s\t%s\t%s\n", st.Index, shortClass(st.Class), st.UID, ellipsis(st.Inputs, 5), strings.Join(st.Outputs, ", "), paramText(st.Params))
	}
	c := s.Classifier
	p("\nclassifier:\t%s %s", shortClass(c.Class), c.UID)
	if c.SparkVersion != "" {
		p(" (Spark %s)", c.SparkVersion)
	}
	p("\n")
	p("  features ← labels\t%s ← %s, predicts %s\n", c.Columns.FeaturesCol, c.Columns.LabelCol, c.Columns.PredictionCol)
	p("  trees\t%d\n  nodes\t%d (%d leaves, %d categorical splits)\n", c.NumTrees, c.NumNodes, c.NumLeaves, c.CategoricalSplits)
	p("  depth\t%d..%d\n  classes\t%d\n  features\t%d\n", c.MinDepth, c.MaxDepth, c.NumClasses, c.NumFeatures)
	pr := c.Params
	p("  params\tnumTrees=%d maxDepth=%d maxBins=%d impurity=%s featureSubsetStrategy=%s subsamplingRate=%v bootstrap=%v minInstancesPerNode=%d minInfoGain=%v minWeightFractionPerNode=%v seed=%d\n",
		pr.NumTrees, pr.MaxDepth, pr.MaxBins, pr.Impurity, pr.FeatureSubsetStrategy, pr.SubsamplingRate, pr.Bootstrap,
		pr.MinInstancesPerNode, pr.MinInfoGain, pr.MinWeightFractionPerNode, pr.Seed)
	if len(pr.CategoricalFeatures) > 0 {
		var cf []string
		for _, f := range slices.Sorted(maps.Keys(pr.CategoricalFeatures)) {
			cf = append(cf, fmt.Sprintf("%d:%d", f, pr.CategoricalFeatures[f]))
		}
		p("  categorical features\t%s (index:arity, from the StringIndexers)\n", strings.Join(cf, " "))
	}
	for k, l := range c.ClassLabels {
		p("  class %d\t%s\n", k, l)
	}
	p("\nfeature importances:\n")
	p("#\tfeature\timportance\n")
	for _, fi := range c.Importances {
		p("%d\t%s\t%.4f\n", fi.Index, fi.Name, fi.Importance)
	}
	if s.Label != nil {
		p("\nlabel stage (training only, not applied when predicting):\n")
		p("%s\t%s\t%s → %s\t%s\n", shortClass(s.Label.Class), s.Label.UID, strings.Join(s.Label.Inputs, ", "), strings.Join(s.Label.Outputs, ", "), paramText(s.Label.Params))
	}
	return tw.Flush()
}

func ellipsis(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(", … (%d)", len(s))
}

func paramText(ps []Param) string {
	var out []string
	for _, p := range ps {
		switch p.Name {
		case "inputCols", "outputCols", "inputCol", "outputCol":
			continue
		}
		out = append(out, fmt.Sprintf("%s=%v", p.Name, p.Value))
	}
	return strings.Join(out, " ")
}
