package forest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Params are the random forest parameters, named and defaulted as in Spark
// MLlib's RandomForestClassifier. Use DefaultParams and override fields.
type Params struct {
	NumTrees int
	MaxDepth int
	MaxBins  int
	// Impurity is "gini" or "entropy".
	Impurity string
	// FeatureSubsetStrategy is "auto", "all", "sqrt", "log2", "onethird",
	// an integer count "n" or a fraction in (0,1].
	FeatureSubsetStrategy    string
	SubsamplingRate          float64
	Bootstrap                bool
	MinInstancesPerNode      int
	MinInfoGain              float64
	MinWeightFractionPerNode float64
	Seed                     int64
	// CategoricalFeatures maps a feature index to its arity (categories are
	// 0..arity-1), as Spark reads it from column metadata.
	CategoricalFeatures map[int]int
}

// DefaultParams returns Spark's defaults: 20 trees, depth 5, 32 bins, gini,
// auto feature subsets, bootstrap, subsampling rate 1, minimum 1 instance per
// node, and Spark's default seed for RandomForestClassifier
// (SparkDefaultSeed).
func DefaultParams() Params {
	return Params{
		NumTrees:              20,
		MaxDepth:              5,
		MaxBins:               32,
		Impurity:              "gini",
		FeatureSubsetStrategy: "auto",
		SubsamplingRate:       1.0,
		Bootstrap:             true,
		MinInstancesPerNode:   1,
		MinInfoGain:           0,
		Seed:                  SparkDefaultSeed,
	}
}

// SparkDefaultSeed is the default seed of Spark's RandomForestClassifier:
// the Java hashCode of its class name, widened to a long
// (getClass.getName.hashCode.toLong).
var SparkDefaultSeed = JavaStringHashCode("org.apache.spark.ml.classification.RandomForestClassifier")

// JavaStringHashCode returns Java's String.hashCode of s (UTF-16 code units,
// h = 31·h + c with int32 overflow), widened to int64 as Spark does for
// default seeds.
func JavaStringHashCode(s string) int64 {
	var h int32
	for _, c := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(c)
	}
	return int64(h)
}

// validate checks the parameters the way Spark's param validators do and
// says which value is wrong.
func (p Params) validate() error {
	switch {
	case p.NumTrees < 1:
		return fmt.Errorf("forest: NumTrees %d, want at least 1", p.NumTrees)
	case p.MaxDepth < 0 || p.MaxDepth > 30:
		return fmt.Errorf("forest: MaxDepth %d, want 0..30 (Spark's limit)", p.MaxDepth)
	case p.MaxBins < 2:
		return fmt.Errorf("forest: MaxBins %d, want at least 2", p.MaxBins)
	case !(p.SubsamplingRate > 0 && p.SubsamplingRate <= 1):
		return fmt.Errorf("forest: SubsamplingRate %v, want a value in (0, 1]", p.SubsamplingRate)
	case p.MinInstancesPerNode < 1:
		return fmt.Errorf("forest: MinInstancesPerNode %d, want at least 1", p.MinInstancesPerNode)
	case !(p.MinInfoGain >= 0):
		return fmt.Errorf("forest: MinInfoGain %v, want >= 0", p.MinInfoGain)
	case !(p.MinWeightFractionPerNode >= 0 && p.MinWeightFractionPerNode < 0.5):
		return fmt.Errorf("forest: MinWeightFractionPerNode %v, want a value in [0, 0.5)", p.MinWeightFractionPerNode)
	}
	if _, err := p.impurity(); err != nil {
		return err
	}
	if _, err := p.FeaturesPerNode(1); err != nil {
		return err
	}
	for f, a := range p.CategoricalFeatures {
		if a < 0 {
			return fmt.Errorf("forest: categorical feature %d has arity %d, want >= 0", f, a)
		}
	}
	return nil
}

// impurity resolves the Impurity name (case-insensitive, as in Spark).
func (p Params) impurity() (impurityKind, error) {
	switch strings.ToLower(p.Impurity) {
	case "gini", "":
		return gini, nil
	case "entropy":
		return entropy, nil
	}
	return 0, fmt.Errorf("forest: Impurity %q, want gini or entropy", p.Impurity)
}

// FeaturesPerNode is the number of features considered at each node for a
// data set with numFeatures features, as Spark's DecisionTreeMetadata
// computes it: auto means sqrt for a forest of more than one tree and all
// for a single tree; sqrt and onethird round up; log2 is at least 1; an
// integer n is capped at numFeatures; a fraction f in (0, 1] gives
// ceil(f·numFeatures).
func (p Params) FeaturesPerNode(numFeatures int) (int, error) {
	s := strings.ToLower(strings.TrimSpace(p.FeatureSubsetStrategy))
	if s == "auto" || s == "" {
		if p.NumTrees == 1 {
			s = "all"
		} else {
			s = "sqrt"
		}
	}
	n := float64(numFeatures)
	switch s {
	case "all":
		return numFeatures, nil
	case "sqrt":
		return int(math.Ceil(math.Sqrt(n))), nil
	case "log2":
		return max(1, int(math.Ceil(math.Log(n)/math.Log(2)))), nil
	case "onethird":
		return int(math.Ceil(n / 3.0)), nil
	}
	if k, err := strconv.ParseInt(s, 10, 32); err == nil && k > 0 {
		return min(int(k), numFeatures), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 && f <= 1 {
		return int(math.Ceil(f * n)), nil
	}
	return 0, fmt.Errorf("forest: FeatureSubsetStrategy %q, want auto, all, onethird, sqrt, log2, an integer in [1, n] or a fraction in (0, 1]", p.FeatureSubsetStrategy)
}

// Config is the forest parameters as a pipeline file writes them (the
// params blocks of datalab.yaml): only what differs from Spark's defaults,
// zero meaning the default.
type Config struct {
	NumTrees            int    `yaml:"num_trees" json:"num_trees"`
	MaxDepth            int    `yaml:"max_depth" json:"max_depth"`
	MaxBins             int    `yaml:"max_bins" json:"max_bins"`
	MinInstancesPerNode int    `yaml:"min_instances_per_node" json:"min_instances_per_node"`
	FeatureSubset       string `yaml:"feature_subset" json:"feature_subset"`
	Impurity            string `yaml:"impurity" json:"impurity"`
	Seed                int64  `yaml:"seed" json:"seed"`
}

// Params turns the configuration into forest parameters, Spark's defaults
// for anything left zero.
func (c Config) Params() Params {
	p := DefaultParams()
	if c.NumTrees > 0 {
		p.NumTrees = c.NumTrees
	}
	if c.MaxDepth > 0 {
		p.MaxDepth = c.MaxDepth
	}
	if c.MaxBins > 0 {
		p.MaxBins = c.MaxBins
	}
	if c.MinInstancesPerNode > 0 {
		p.MinInstancesPerNode = c.MinInstancesPerNode
	}
	if c.FeatureSubset != "" {
		p.FeatureSubsetStrategy = c.FeatureSubset
	}
	if c.Impurity != "" {
		p.Impurity = c.Impurity
	}
	if c.Seed != 0 {
		p.Seed = c.Seed
	}
	return p
}

// Describe names the parameters as Spark does (numTrees, maxDepth, …), for
// model manifests and reports; categoricalFeatures is the count of
// categorical features.
func (p Params) Describe() map[string]string {
	return map[string]string{
		"numTrees":              strconv.Itoa(p.NumTrees),
		"maxDepth":              strconv.Itoa(p.MaxDepth),
		"maxBins":               strconv.Itoa(p.MaxBins),
		"minInstancesPerNode":   strconv.Itoa(p.MinInstancesPerNode),
		"featureSubsetStrategy": p.FeatureSubsetStrategy,
		"impurity":              p.Impurity,
		"seed":                  strconv.FormatInt(p.Seed, 10),
		"categoricalFeatures":   strconv.Itoa(len(p.CategoricalFeatures)),
	}
}
