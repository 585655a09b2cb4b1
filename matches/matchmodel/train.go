// Package matchmodel trains, saves, loads and evaluates the World Cup
// match-winner model, and implements matchwinner.Predictor over a saved model.
//
// Where it sits in the flow:
//
//	build/parquet/matches.parquet → matchfeat (lookup, features) →
//	matchmodel.Train → model directory (Spark PipelineModel + lookup + manifest)
//	→ matchmodel.Load → *Model (matchwinner.Predictor, used by the web app)
//	→ matchmodel.Evaluate → metrics per variant and baseline (pipeline/evaluate)
//
// A model directory is self-contained: the forest in Spark's on-disk format
// (spark/, readable by `datalab model inspect` and by Spark), the per-team
// lookup the features are computed from (lookup.json) and manifest.json
// (variant, feature columns, classes, labels of the indexed columns, the
// World Cup teams, training parameters and the content hash that is the
// model's version).
package matchmodel

import (
	"context"
	"fmt"

	"github.com/datalabhq/datalab/matches/matchfeat"
	"github.com/datalabhq/datalab/pipeline/forest"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// ForestConfig are the forest parameters of one variant, as written in
// datalab.yaml (params.matches.forests.<variant> or .default).
type ForestConfig = forest.Config

// Config is params.matches of datalab.yaml.
type Config struct {
	// Variants are the feature-set variants to train and compare.
	Variants []string `yaml:"variants"`
	// TestYear splits the data: train on earlier years, test on this one.
	TestYear int `yaml:"test_year"`
	// ServeVariant is the variant the web app serves.
	ServeVariant string `yaml:"serve_variant"`
	// Forests holds forest parameters per variant name; "default" applies
	// to variants without their own entry.
	Forests map[string]ForestConfig `yaml:"forests"`
	// ValidationYear is the last training year used for validation: each
	// variant is also fitted on the years before it and scored on it, and
	// three-way variants choose their draw margin there (never on the test
	// year). 0 turns validation off (three-way variants then use argmax).
	ValidationYear int `yaml:"validation_year"`
	// MaxDrawMargin bounds the draw margins tried on the validation year
	// (0, 0.01, …, MaxDrawMargin); 0 keeps argmax.
	MaxDrawMargin float64 `yaml:"max_draw_margin"`
}

// Forest returns the forest configuration of a variant.
func (c Config) Forest(variant string) (ForestConfig, error) {
	if f, ok := c.Forests[variant]; ok {
		return f, nil
	}
	if f, ok := c.Forests["default"]; ok {
		return f, nil
	}
	return ForestConfig{}, fmt.Errorf("matches config: no forests.%s and no forests.default", variant)
}

// Validate checks the configuration names known variants and a test year.
func (c Config) Validate() error {
	if len(c.Variants) == 0 {
		return fmt.Errorf("matches config: no variants")
	}
	for _, v := range append([]string{c.ServeVariant}, c.Variants...) {
		if _, err := matchfeat.LookupVariant(v); err != nil {
			return fmt.Errorf("matches config: %w", err)
		}
		if _, err := c.Forest(v); err != nil {
			return err
		}
	}
	if c.TestYear < 1994 {
		return fmt.Errorf("matches config: test_year %d is before the data", c.TestYear)
	}
	if c.ValidationYear != 0 && (c.ValidationYear < 1995 || c.ValidationYear >= c.TestYear) {
		return fmt.Errorf("matches config: validation_year %d must be a training year before test_year %d (and after 1994), or 0 for none", c.ValidationYear, c.TestYear)
	}
	if !(c.MaxDrawMargin >= 0 && c.MaxDrawMargin <= 1) {
		return fmt.Errorf("matches config: max_draw_margin %v must be in [0, 1] (a difference of two probabilities)", c.MaxDrawMargin)
	}
	return nil
}

// Data is the match history with every match's features, split by year.
type Data struct {
	Matches []ingest.MatchRow
	Lookup  *matchfeat.Lookup
	// Rows are the matches with their features, in the order of Matches.
	Rows []matchfeat.Row
	// Train and Test index Rows: matches before TestYear, and in TestYear.
	Train, Test []int
	TestYear    int
}

// NewData computes the features of every match from the lookup and splits
// the matches by year.
func NewData(matches []ingest.MatchRow, lk *matchfeat.Lookup, testYear int) (*Data, error) {
	rows, err := matchfeat.TrainingRows(lk, matches)
	if err != nil {
		return nil, err
	}
	d := &Data{Matches: matches, Lookup: lk, Rows: rows, TestYear: testYear}
	for i := range matches {
		switch y := matches[i].Date.Time().Year(); {
		case y < testYear:
			d.Train = append(d.Train, i)
		case y == testYear:
			d.Test = append(d.Test, i)
		}
	}
	if len(d.Train) == 0 || len(d.Test) == 0 {
		return nil, fmt.Errorf("split at %d: %d training and %d test matches", testYear, len(d.Train), len(d.Test))
	}
	return d, nil
}

// Matrix encodes the rows idx of d for a variant: the row-major feature
// matrix and the class labels.
func (d *Data) Matrix(enc *matchfeat.Encoder, idx []int) (x []float64, y []int, err error) {
	w := enc.Width()
	x = make([]float64, len(idx)*w)
	y = make([]int, len(idx))
	for k, i := range idx {
		r := &d.Rows[i]
		enc.Encode(&r.Features, x[k*w:(k+1)*w])
		if y[k], err = enc.Variant().Label(r.Match.HomeTeamScore, r.Match.AwayTeamScore); err != nil {
			return nil, nil, err
		}
	}
	return x, y, nil
}

// Trained is a variant's fitted model before it is saved.
type Trained struct {
	Variant matchfeat.Variant
	// Labels are the indexed inputs' labels (alphabetical).
	Labels map[string][]string
	Forest ForestConfig
	Model  *forest.Model
	// TrainRows is the number of training matches.
	TrainRows int
	// TrainFrom and TrainTo bound the training matches' dates.
	TrainFrom, TrainTo ingest.Date
	// Decision is the three-way decision rule chosen on the validation
	// year (nil: argmax); Validation how it was chosen. Both are set by
	// TrainStage when params.matches.validation_year is set.
	Decision   *DecisionRule
	Validation *Validation
}

// Train fits one variant on d's training rows. The indexed inputs' labels
// are fitted on all matches (the seed computed its category codes on the
// whole file); nothing else sees the test rows.
func Train(ctx context.Context, d *Data, variantName string, fc ForestConfig) (*Trained, error) {
	v, err := matchfeat.LookupVariant(variantName)
	if err != nil {
		return nil, err
	}
	labels := v.FitLabels(d.Matches)
	enc, err := matchfeat.NewEncoder(v, labels)
	if err != nil {
		return nil, err
	}
	x, y, err := d.Matrix(enc, d.Train)
	if err != nil {
		return nil, err
	}
	w := enc.Width()
	cols := make([][]float64, w)
	for f := range cols {
		cols[f] = make([]float64, len(d.Train))
		for r := range d.Train {
			cols[f][r] = x[r*w+f]
		}
	}
	ys := make([]float64, len(y))
	for i, c := range y {
		ys[i] = float64(c)
	}
	p := fc.Params()
	for f, in := range v.Inputs {
		if in.Indexed && in.Categorical {
			if p.CategoricalFeatures == nil {
				p.CategoricalFeatures = map[int]int{}
			}
			// +1: the "keep" bucket of unseen values, as Spark derives it.
			p.CategoricalFeatures[f] = len(labels[in.Name]) + 1
		}
	}
	m, err := forest.Fit(ctx, cols, ys, p, forest.WithNumClasses(len(v.Classes)))
	if err != nil {
		return nil, fmt.Errorf("train variant %s: %w", v.Name, err)
	}
	t := &Trained{Variant: v, Labels: labels, Forest: fc, Model: m, TrainRows: len(d.Train)}
	t.TrainFrom, t.TrainTo = d.Matches[d.Train[0]].Date, d.Matches[d.Train[0]].Date
	for _, i := range d.Train {
		t.TrainFrom = min(t.TrainFrom, d.Matches[i].Date)
		t.TrainTo = max(t.TrainTo, d.Matches[i].Date)
	}
	return t, nil
}

// FeatureImportance is one input's share of the forest's gain.
type FeatureImportance = forest.FeatureImportance

// Importances returns the forest's feature importances by column, largest
// first (ties by name).
func Importances(columns []string, m *forest.Model) []FeatureImportance {
	return m.NamedImportances(columns)
}
