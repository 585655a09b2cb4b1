package sparkml

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
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

// Inspection is what `datalab model inspect` shows for a directory: a whole
// pipeline (a PipelineModel, a lone classifier, a directory of stage
// directories), or one feature stage directory on its own.
type Inspection struct {
	Pipeline *Summary
	Stage    *StageDetail
}

// StageDetail describes one saved stage directory on its own: its metadata
// and, for the stages datalab applies, what it does (labels, splits, inputs).
type StageDetail struct {
	StageSummary
	Dir string `json:"dir"`
	// Timestamp is when Spark (or datalab) saved the stage, in ms.
	Timestamp int64 `json:"timestamp"`
	// Labels are a StringIndexerModel's labels per input column, in index
	// order (index = position).
	Labels [][]string `json:"labels,omitempty"`
	// Buckets are a Bucketizer's output values, e.g. "[-15.0, 0.0)".
	Buckets []string `json:"buckets,omitempty"`
	// Applied is false for a class datalab reads only as metadata (it does
	// not apply it when predicting); Params then holds the saved paramMap.
	Applied bool `json:"applied"`
}

// Inspect describes the model or stage saved in dir. A directory whose
// metadata names a feature stage (StringIndexerModel, Bucketizer,
// VectorAssembler, or any other Spark stage class) is described on its own;
// anything else is loaded as a pipeline (LoadPipeline).
func Inspect(dir string) (*Inspection, error) {
	if _, err := os.Stat(filepath.Join(dir, "metadata")); err == nil {
		md, err := ReadMetadata(dir)
		if err != nil {
			return nil, err
		}
		if md.Class != ClassPipelineModel && md.Class != ClassRandomForest {
			d, err := inspectStage(dir, md)
			if err != nil {
				return nil, err
			}
			return &Inspection{Stage: d}, nil
		}
	}
	p, err := LoadPipeline(dir)
	if err != nil {
		return nil, err
	}
	s := p.Summary()
	return &Inspection{Pipeline: &s}, nil
}

// inspectStage reads one stage directory with the same readers (and checks)
// LoadPipeline uses; a class datalab does not apply is described from its
// metadata alone.
func inspectStage(dir string, md *Metadata) (*StageDetail, error) {
	d := &StageDetail{Dir: dir, Timestamp: md.Timestamp,
		StageSummary: StageSummary{Index: -1, UID: md.UID, Class: md.Class, SparkVersion: md.SparkVersion}}
	ls, err := readStage(dir)
	if err != nil {
		if strings.Contains(err.Error(), "is not supported") {
			for _, name := range slices.Sorted(maps.Keys(md.ParamMap)) {
				var v any
				if json.Unmarshal(md.ParamMap[name], &v) != nil {
					v = string(md.ParamMap[name])
				}
				d.Params = append(d.Params, Param{Name: name, Value: v})
			}
			d.Inputs, d.Outputs = paramColumns(d.Params, "inputCol", "inputCols"), paramColumns(d.Params, "outputCol", "outputCols")
			return d, nil
		}
		return nil, err
	}
	st := ls.stage
	d.Applied = true
	d.Inputs, d.Outputs, d.Params = st.InputCols(), st.OutputCols(), st.Params()
	switch st := st.(type) {
	case *StringIndexer:
		d.Labels = st.Labels
	case *Bucketizer:
		for i := range st.NumBuckets() {
			d.Buckets = append(d.Buckets, st.BucketLabel(i))
		}
	}
	return d, nil
}

// paramColumns collects the column names of a single- and a multi-column
// param (inputCol / inputCols) of an unapplied stage's paramMap.
func paramColumns(ps []Param, single, multi string) []string {
	var cols []string
	for _, p := range ps {
		switch v := p.Value.(type) {
		case string:
			if p.Name == single {
				cols = append(cols, v)
			}
		case []any:
			if p.Name == multi {
				for _, c := range v {
					cols = append(cols, fmt.Sprint(c))
				}
			}
		}
	}
	return cols
}

// MarshalJSON renders whichever of the two the directory held, so that
// `model inspect --json` on a pipeline prints the Summary as before.
func (in *Inspection) MarshalJSON() ([]byte, error) {
	if in.Stage != nil {
		return json.Marshal(in.Stage)
	}
	return json.Marshal(in.Pipeline)
}

// WriteText renders the inspection as human-readable tables.
func (in *Inspection) WriteText(w io.Writer) error {
	if in.Stage == nil {
		return in.Pipeline.WriteText(w)
	}
	return in.Stage.WriteText(w)
}

// labelsShown is how many labels per column the text output lists; --json
// has all of them.
const labelsShown = 20

// WriteText renders the stage as a table.
func (d *StageDetail) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	p("stage\t%s %s", shortClass(d.Class), d.UID)
	if d.SparkVersion != "" {
		p(" (Spark %s)", d.SparkVersion)
	}
	p("\nclass\t%s\ndir\t%s\n", d.Class, d.Dir)
	if !d.Applied {
		p("note\tdatalab reads this class's metadata only; it does not apply it when predicting\n")
	}
	p("inputs\t%s\noutputs\t%s\n", strings.Join(d.Inputs, ", "), strings.Join(d.Outputs, ", "))
	for _, pr := range d.Params {
		switch pr.Name {
		case "inputCols", "outputCols", "inputCol", "outputCol":
			continue
		}
		p("%s\t%v\n", pr.Name, pr.Value)
	}
	for i, labels := range d.Labels {
		col := fmt.Sprint(i)
		if i < len(d.Inputs) {
			col = d.Inputs[i]
		}
		p("\nlabels of %s (%d, index = position):\n", col, len(labels))
		for k, l := range labels[:min(len(labels), labelsShown)] {
			p("  %d\t%s\n", k, l)
		}
		if len(labels) > labelsShown {
			p("  …\t%d more (--json lists all)\n", len(labels)-labelsShown)
		}
	}
	if len(d.Buckets) > 0 {
		p("\nbuckets (%d):\n", len(d.Buckets))
		for k, b := range d.Buckets {
			p("  %d\t%s\n", k, b)
		}
	}
	return tw.Flush()
}
