package forest

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
// auto feature subsets, bootstrap, subsampling rate 1.
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
		Seed:                  0,
	}
}
