package flightmodel

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/datalabhq/datalab/flights/flightfeat"
	"github.com/datalabhq/datalab/pipeline/forest"
	"github.com/datalabhq/datalab/pipeline/sparkml"
)

// Data loads each flight file once and splits it with the configured seed;
// variants on the same file share the table and the split.
type Data struct {
	cfg    Config
	tables map[string]*flightfeat.Table
	splits map[string]flightfeat.Split
}

// NewData returns an empty cache for cfg's split.
func NewData(cfg Config) *Data {
	return &Data{cfg: cfg, tables: map[string]*flightfeat.Table{}, splits: map[string]flightfeat.Split{}}
}

// Load returns the table of an ingested flight file and its train/test split.
func (d *Data) Load(ctx context.Context, path string) (*flightfeat.Table, flightfeat.Split, error) {
	if t, ok := d.tables[path]; ok {
		return t, d.splits[path], nil
	}
	start := time.Now()
	t, err := flightfeat.ReadTable(ctx, path)
	if err != nil {
		return nil, flightfeat.Split{}, err
	}
	s, err := flightfeat.RandomSplit(t.Len(), d.cfg.TestFraction, d.cfg.SplitSeed)
	if err != nil {
		return nil, flightfeat.Split{}, err
	}
	slog.Info("read flights", "path", path, "rows", t.Len(), "train", len(s.Train), "test", len(s.Test), "sec", time.Since(start).Seconds())
	d.tables[path], d.splits[path] = t, s
	return t, s, nil
}

// Trained is a variant's fitted pipeline.
type Trained struct {
	Variant  VariantConfig
	Pipeline *sparkml.Pipeline
	Stages   *flightfeat.Stages
	// TrainRows is the size of the training split.
	TrainRows int
	// FitTime is the wall time of binning and growing the forest (not
	// stored in any output: it is not reproducible).
	FitTime time.Duration
}

// RouteDerivation is Route = Origin-Dest, applied by Transform when a raw
// row has no Route (the course computed it outside the Spark pipeline, so a
// saved PipelineModel expects it as a column; see sparkml.Pipeline.Derive).
var RouteDerivation = sparkml.Derivation{Output: flightfeat.ColRoute, Inputs: []string{flightfeat.ColOrigin, flightfeat.ColDest}, Sep: flightfeat.RouteSep}

// ForestParams returns the forest parameters of variant v for stages:
// v.Forest with, for a categorical variant, the index features declared
// categorical with their arities (maxBins must cover the largest).
func ForestParams(v VariantConfig, stages *flightfeat.Stages) (forest.Params, error) {
	p := v.Forest.Params()
	if !v.Categorical {
		return p, nil
	}
	p.CategoricalFeatures = stages.CategoricalArity()
	widest, arity := -1, 0
	for _, f := range slices.Sorted(maps.Keys(p.CategoricalFeatures)) {
		if a := p.CategoricalFeatures[f]; a > arity {
			widest, arity = f, a
		}
	}
	if arity > p.MaxBins {
		return p, fmt.Errorf("variant %s: feature %s has %d categories but max_bins is %d: raise the variant's forest.max_bins in params.flights to at least %d (Spark requires maxBins ≥ the largest arity)",
			v.Name, stages.Features[widest], arity, p.MaxBins, arity)
	}
	return p, nil
}

// Train fits variant v's feature stages on the training rows of t, trains
// the forest on their vectors and assembles the Spark pipeline (label
// Bucketizer, StringIndexers, VectorAssembler, forest). Deterministic: the
// same table, split and configuration give the same pipeline.
func Train(ctx context.Context, t *flightfeat.Table, split flightfeat.Split, v VariantConfig) (*Trained, error) {
	for _, f := range v.Features {
		col := f
		for _, c := range flightfeat.StringColumns {
			if f == c+flightfeat.IndexSuffix {
				col = c
			}
		}
		if !t.HasColumn(col) {
			return nil, fmt.Errorf("variant %s: %s has no values for %s in %s: drop it from the variant's features", v.Name, v.Data, col, v.Data)
		}
	}
	stages, err := flightfeat.FitStages(t, split.Train, v.Features)
	if err != nil {
		return nil, fmt.Errorf("variant %s: %w", v.Name, err)
	}
	params, err := ForestParams(v, stages)
	if err != nil {
		return nil, err
	}
	y, err := flightfeat.Labels(t, split.Train)
	if err != nil {
		return nil, fmt.Errorf("variant %s: %w", v.Name, err)
	}
	cols := stages.Columns(t, split.Train)
	start := time.Now()
	m, err := forest.Fit(ctx, cols, y, params, forest.WithNumClasses(len(flightfeat.ClassNames)))
	if err != nil {
		return nil, fmt.Errorf("variant %s: train forest: %w", v.Name, err)
	}
	fit := time.Since(start)
	p := sparkml.NewPipeline(stages.List, flightfeat.LabelBucketizer(), m)
	p.Derive = []sparkml.Derivation{RouteDerivation}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("variant %s: %w", v.Name, err)
	}
	return &Trained{Variant: v, Pipeline: p, Stages: stages, TrainRows: len(split.Train), FitTime: fit}, nil
}

// Save writes the trained pipeline as a Spark PipelineModel directory with
// the fixed SaveTimestamp, so the same model always gives the same bytes.
func Save(dir string, t *Trained) error {
	return sparkml.SavePipeline(dir, t.Pipeline, sparkml.WithTimestamp(SaveTimestamp))
}

// ModelDir is the PipelineModel directory of a variant.
func ModelDir(modelsDir, variant string) string { return filepath.Join(modelsDir, variant) }

// TrainStage is `datalab train flights`: it trains every variant of cfg
// (or only the named ones) and saves each to modelsDir/<variant>.
func TrainStage(ctx context.Context, cfg Config, modelsDir string, only []string) ([]*Trained, error) {
	d := NewData(cfg)
	var out []*Trained
	for _, v := range cfg.Variants {
		if len(only) > 0 && !slices.Contains(only, v.Name) {
			continue
		}
		t, split, err := d.Load(ctx, v.Data)
		if err != nil {
			return nil, err
		}
		tr, err := Train(ctx, t, split, v)
		if err != nil {
			return nil, err
		}
		dir := ModelDir(modelsDir, v.Name)
		if err := Save(dir, tr); err != nil {
			return nil, fmt.Errorf("save variant %s: %w", v.Name, err)
		}
		slog.Info("trained flight model", "variant", v.Name, "rows", tr.TrainRows, "nodes", tr.Pipeline.Model.NumNodes(), "fit_sec", tr.FitTime.Seconds(), "dir", dir)
		out = append(out, tr)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no variant matches %v", only)
	}
	return out, nil
}
