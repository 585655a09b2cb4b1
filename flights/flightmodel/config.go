package flightmodel

import (
	"fmt"

	"github.com/datalabhq/datalab/flights/flightfeat"
	"github.com/datalabhq/datalab/pipeline/forest"
)

// Default paths of the flight stages, relative to the repository root.
const (
	DefaultModelsDir = "build/models/flights"
	DefaultMetrics   = "build/metrics/flights/metrics.json"
)

// SaveTimestamp is the timestamp (ms since the epoch) written into every
// saved stage's metadata. Spark writes the save time there; a fixed value
// keeps the model files a function of the inputs (same inputs ⇒ same
// bytes). When and from what a model was trained is in the report's lineage.
const SaveTimestamp int64 = 0

// Config is params.flights in datalab.yaml.
type Config struct {
	// TestFraction is the share of rows held out for evaluation (0.2).
	TestFraction float64 `yaml:"test_fraction" json:"test_fraction"`
	// SplitSeed seeds the random train/test permutation (flightfeat.RandomSplit).
	SplitSeed uint64 `yaml:"split_seed" json:"split_seed"`
	// ServeVariant is the variant the flight web app is pointed at in docs.
	ServeVariant string `yaml:"serve_variant" json:"serve_variant"`
	// Variants are the models trained and compared.
	Variants []VariantConfig `yaml:"variants" json:"variants"`
}

// VariantConfig is one model: a data set, a feature set and a forest.
type VariantConfig struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description"`
	// Data is the ingested flight Parquet file (datalab ingest …).
	Data string `yaml:"data" json:"data"`
	// Features are the assembled features in vector order: raw numeric
	// columns and <string column>_index.
	Features []string `yaml:"features" json:"features"`
	// Categorical declares the index features categorical with arity =
	// labels + 1 (the keep bucket), as Spark's RandomForest reads from the
	// StringIndexer's nominal metadata. MaxBins must then cover the largest
	// arity. Without it the indexes are ordered numbers (like scikit-learn).
	Categorical bool         `yaml:"categorical" json:"categorical"`
	Forest      ForestConfig `yaml:"forest" json:"forest"`
}

// ForestConfig holds the forest parameters that differ from Spark's
// defaults (zero means the default).
type ForestConfig = forest.Config

// Variant returns the named variant.
func (c Config) Variant(name string) (VariantConfig, error) {
	for _, v := range c.Variants {
		if v.Name == name {
			return v, nil
		}
	}
	names := make([]string, len(c.Variants))
	for i, v := range c.Variants {
		names[i] = v.Name
	}
	return VariantConfig{}, fmt.Errorf("flights config: no variant %q (have %v)", name, names)
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if !(c.TestFraction > 0 && c.TestFraction < 1) {
		return fmt.Errorf("flights config: test_fraction %v, want a value in (0, 1)", c.TestFraction)
	}
	if len(c.Variants) == 0 {
		return fmt.Errorf("flights config: no variants")
	}
	seen := map[string]bool{}
	for _, v := range c.Variants {
		if v.Name == "" || seen[v.Name] {
			return fmt.Errorf("flights config: variant name %q empty or repeated", v.Name)
		}
		seen[v.Name] = true
		if v.Data == "" || len(v.Features) == 0 {
			return fmt.Errorf("flights config: variant %s needs data and features", v.Name)
		}
		for _, f := range v.Features {
			if f == flightfeat.ColArrDelay {
				return fmt.Errorf("flights config: variant %s uses the label's source ArrDelay as a feature", v.Name)
			}
		}
	}
	if c.ServeVariant != "" {
		if _, err := c.Variant(c.ServeVariant); err != nil {
			return err
		}
	}
	return nil
}
