package flightmodel

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/datalabhq/datalab/flights/flightfeat"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/forest"
	"github.com/datalabhq/datalab/pipeline/sparkml"
)

// EvaluationSchema identifies the metrics JSON layout.
const EvaluationSchema = "datalab.flights.metrics/v1"

// Evaluation is build/metrics/flights/metrics.json: every variant and its
// baselines scored on its held-out rows.
type Evaluation struct {
	Schema       string              `json:"schema"`
	TestFraction float64             `json:"test_fraction"`
	SplitSeed    uint64              `json:"split_seed"`
	ServeVariant string              `json:"serve_variant"`
	Classes      []string            `json:"classes"`
	ClassBuckets []string            `json:"class_buckets"`
	Variants     []VariantEvaluation `json:"variants"`
}

// VariantEvaluation is one saved model scored on its data set's test rows
// through the saved PipelineModel (Transform + Predict on raw rows, the
// path the web app uses).
type VariantEvaluation struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Data        string   `json:"data"`
	ModelDir    string   `json:"model_dir"`
	Features    []string `json:"features"`
	Categorical bool     `json:"categorical"`
	// Arity maps each index feature to its number of categories (labels
	// + 1 for unseen values).
	Arity     map[string]int    `json:"arity"`
	Forest    map[string]string `json:"forest"`
	NumNodes  int               `json:"num_nodes"`
	TrainRows int               `json:"train_rows"`
	TestRows  int               `json:"test_rows"`
	// TrainClassCounts and TestClassCounts count the delay buckets.
	TrainClassCounts []int                 `json:"train_class_counts"`
	TestClassCounts  []int                 `json:"test_class_counts"`
	Holdout          *evaluate.Result      `json:"holdout"`
	Importances      []FeatureImportance   `json:"importances"`
	Baselines        []Baseline            `json:"baselines"`
	UnseenTest       map[string]UnseenRate `json:"unseen_test"`
}

// UnseenRate counts test rows whose value of a string column the training
// split never saw (they get the keep index).
type UnseenRate struct {
	Rows  int     `json:"rows"`
	Share float64 `json:"share"`
}

// FeatureImportance is one feature's share of the forest's gain (Spark's
// definition).
type FeatureImportance = forest.FeatureImportance

// Baseline is a simple rule scored on the same test rows.
type Baseline struct {
	Name        string           `json:"name"`
	Description string           `json:"description"`
	Holdout     *evaluate.Result `json:"holdout"`
}

// EvaluateStage is `datalab evaluate flights`: it loads each variant's
// saved PipelineModel (as the web app does), scores its test rows, computes
// the baselines and writes the evaluation to metricsPath.
func EvaluateStage(ctx context.Context, cfg Config, modelsDir, metricsPath string) (*Evaluation, error) {
	ev := &Evaluation{Schema: EvaluationSchema, TestFraction: cfg.TestFraction, SplitSeed: cfg.SplitSeed,
		ServeVariant: cfg.ServeVariant, Classes: flightfeat.ClassNames}
	lb := flightfeat.LabelBucketizer()
	for k := range flightfeat.ClassNames {
		ev.ClassBuckets = append(ev.ClassBuckets, lb.BucketLabel(k))
	}
	d := NewData(cfg)
	for _, v := range cfg.Variants {
		t, split, err := d.Load(ctx, v.Data)
		if err != nil {
			return nil, err
		}
		dir := ModelDir(modelsDir, v.Name)
		p, err := sparkml.LoadPipeline(dir)
		if err != nil {
			return nil, fmt.Errorf("variant %s: %w (run `datalab train flights`)", v.Name, err)
		}
		ve, err := EvaluateVariant(ctx, t, split, v, p)
		if err != nil {
			return nil, fmt.Errorf("variant %s: %w", v.Name, err)
		}
		ve.ModelDir = dir
		slog.Info("evaluated flight model", "variant", v.Name, "test_rows", ve.TestRows, "accuracy", ve.Holdout.Accuracy)
		ev.Variants = append(ev.Variants, *ve)
	}
	if err := evaluate.WriteJSON(metricsPath, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// EvaluateVariant scores the loaded pipeline p of variant v on the test
// rows of t and computes the baselines (majority class of the training
// split; a DepDelay-only forest when the data has DepDelay). It first
// checks that p's indexers are the ones the training split gives, so a
// model trained on other data or another split is refused.
func EvaluateVariant(ctx context.Context, t *flightfeat.Table, split flightfeat.Split, v VariantConfig, p *sparkml.Pipeline) (*VariantEvaluation, error) {
	stages, err := flightfeat.FitStages(t, split.Train, v.Features)
	if err != nil {
		return nil, err
	}
	if err := sameIndexers(p, stages); err != nil {
		return nil, err
	}
	if names := p.FeatureNames(); !slices.Equal(names, v.Features) {
		return nil, fmt.Errorf("model features %v, config features %v: retrain (`datalab train flights`)", names, v.Features)
	}
	yTrain, err := flightfeat.Labels(t, split.Train)
	if err != nil {
		return nil, err
	}
	yTestF, err := flightfeat.Labels(t, split.Test)
	if err != nil {
		return nil, err
	}
	k := len(flightfeat.ClassNames)
	yTest := make([]int, len(yTestF))
	for i, y := range yTestF {
		yTest[i] = int(y)
	}
	proba, err := ScoreRows(ctx, p, t, split.Test)
	if err != nil {
		return nil, err
	}
	res, err := evaluate.Classification(flightfeat.ClassNames, yTest, proba)
	if err != nil {
		return nil, err
	}
	params, err := ForestParams(v, stages)
	if err != nil {
		return nil, err
	}
	ve := &VariantEvaluation{
		Name: v.Name, Description: v.Description, Data: v.Data, Features: v.Features, Categorical: v.Categorical,
		Arity: map[string]int{}, Forest: params.Describe(), NumNodes: p.Model.NumNodes(),
		TrainRows: len(split.Train), TestRows: len(split.Test),
		TrainClassCounts: counts(yTrain, k), TestClassCounts: counts(yTestF, k), Holdout: res,
		UnseenTest: map[string]UnseenRate{},
	}
	for f, a := range stages.CategoricalArity() {
		ve.Arity[v.Features[f]] = a
	}
	for col, si := range stages.Indexers {
		known := map[string]bool{}
		for _, l := range si.Labels[0] {
			known[l] = true
		}
		n := 0
		for _, i := range split.Test {
			if s, ok := t.String(col, i); !ok || !known[s] {
				n++
			}
		}
		ve.UnseenTest[col] = UnseenRate{Rows: n, Share: float64(n) / float64(max(len(split.Test), 1))}
	}
	ve.Importances = p.Model.NamedImportances(p.FeatureNames())

	counts := ve.TrainClassCounts
	major := 0
	for c := range counts {
		if counts[c] > counts[major] {
			major = c
		}
	}
	yMajor := make([]int, len(yTest))
	for i := range yMajor {
		yMajor[i] = major
	}
	mres, err := evaluate.FromPredictions(flightfeat.ClassNames, yTest, yMajor)
	if err != nil {
		return nil, err
	}
	ve.Baselines = append(ve.Baselines, Baseline{Name: fmt.Sprintf("majority class (%s)", flightfeat.ClassNames[major]),
		Description: "always predicts the most frequent bucket of the training split", Holdout: mres})

	if t.HasColumn(flightfeat.ColDepDelay) {
		b, err := depDelayBaseline(ctx, t, split, v, yTrain, yTest)
		if err != nil {
			return nil, err
		}
		ve.Baselines = append(ve.Baselines, *b)
	}
	return ve, nil
}

// depDelayBaseline trains a forest on DepDelay alone (the variant's forest
// parameters, 32 bins: one continuous feature) on the training split and
// scores the test rows.
func depDelayBaseline(ctx context.Context, t *flightfeat.Table, split flightfeat.Split, v VariantConfig, yTrain []float64, yTest []int) (*Baseline, error) {
	params := v.Forest.Params()
	params.MaxBins = forest.DefaultParams().MaxBins
	params.CategoricalFeatures = nil
	dep := t.Num[flightfeat.ColDepDelay]
	col := make([]float64, len(split.Train))
	for k, i := range split.Train {
		col[k] = dep[i]
	}
	m, err := forest.Fit(ctx, [][]float64{col}, yTrain, params, forest.WithNumClasses(len(flightfeat.ClassNames)))
	if err != nil {
		return nil, fmt.Errorf("DepDelay-only forest: %w", err)
	}
	proba := make([][]float64, len(split.Test))
	for k, i := range split.Test {
		proba[k] = make([]float64, m.NumClasses)
		m.PredictProba([]float64{dep[i]}, proba[k])
	}
	res, err := evaluate.Classification(flightfeat.ClassNames, yTest, proba)
	if err != nil {
		return nil, err
	}
	return &Baseline{Name: "DepDelay-only forest",
		Description: fmt.Sprintf("a %d-tree, depth-%d forest on DepDelay alone, trained on the same split", params.NumTrees, params.MaxDepth),
		Holdout:     res}, nil
}

// ScoreRows runs rows of t through p as raw rows (Transform, then Predict)
// on all cores and returns the probability rows in order.
func ScoreRows(ctx context.Context, p *sparkml.Pipeline, t *flightfeat.Table, rows []int) ([][]float64, error) {
	proba := make([][]float64, len(rows))
	err := eachRow(ctx, p, t, rows, func(k int, pr sparkml.Prediction, err error) error {
		if err != nil {
			return fmt.Errorf("row %d: %w", rows[k], err)
		}
		proba[k] = pr.Probability
		return nil
	})
	return proba, err
}

// PredictRows runs rows of t through p as ScoreRows does and returns
// each row's predicted class, -1 for a row p cannot transform (an indexer
// that refuses its value: a model trained on other data), and how many
// such rows there were. Drift monitoring scores a training split this way.
func PredictRows(ctx context.Context, p *sparkml.Pipeline, t *flightfeat.Table, rows []int) ([]int, int, error) {
	classes := make([]int, len(rows))
	err := eachRow(ctx, p, t, rows, func(k int, pr sparkml.Prediction, err error) error {
		classes[k] = pr.Class
		if err != nil {
			classes[k] = -1
		}
		return nil
	})
	return classes, len(rows) - len(slices.DeleteFunc(slices.Clone(classes), func(c int) bool { return c < 0 })), err
}

// eachRow transforms and predicts rows of t with p on all cores, calling
// fn(k, prediction, transform error) for each rows[k], from the worker that
// scored it; an error from fn, or from Predict, ends the run.
func eachRow(ctx context.Context, p *sparkml.Pipeline, t *flightfeat.Table, rows []int, fn func(k int, pr sparkml.Prediction, transformErr error) error) error {
	g, ctx := errgroup.WithContext(ctx)
	workers := runtime.GOMAXPROCS(0)
	chunk := (len(rows) + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(rows))
		if lo >= hi {
			break
		}
		g.Go(func() error {
			for k := lo; k < hi; k++ {
				if k%65536 == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
				x, err := p.Transform(t.RawRow(rows[k]))
				if err != nil {
					if err := fn(k, sparkml.Prediction{}, err); err != nil {
						return err
					}
					continue
				}
				pr, err := p.Predict(x)
				if err != nil {
					return fmt.Errorf("row %d: %w", rows[k], err)
				}
				if err := fn(k, pr, nil); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

func counts(y []float64, k int) []int {
	c := make([]int, k)
	for _, v := range y {
		c[int(v)]++
	}
	return c
}

// TrainedOn checks that p's StringIndexers have the labels the training
// rows of split of t give for variant v's features: a model trained on
// other data or another split (or by Spark's own split) is named in the
// error. Drift monitoring uses it to say whether its reference is the
// model's own training data.
func TrainedOn(p *sparkml.Pipeline, t *flightfeat.Table, split flightfeat.Split, v VariantConfig) error {
	stages, err := flightfeat.FitStages(t, split.Train, v.Features)
	if err != nil {
		return err
	}
	return sameIndexers(p, stages)
}

// sameIndexers checks that p's StringIndexers have the labels fitted on
// the training split.
func sameIndexers(p *sparkml.Pipeline, stages *flightfeat.Stages) error {
	found := 0
	for _, st := range p.Stages {
		si, ok := st.(*sparkml.StringIndexer)
		if !ok {
			continue
		}
		for i, in := range si.Inputs {
			want, ok := stages.Indexers[in]
			if !ok {
				return fmt.Errorf("model indexes %s, which the variant's features do not use", in)
			}
			if !slices.Equal(si.Labels[i], want.Labels[0]) {
				return fmt.Errorf("model's %s labels differ from those of the training split (data or split changed): retrain with `datalab train flights`", in)
			}
			found++
		}
	}
	if found != len(stages.Indexers) {
		return fmt.Errorf("model has %d string indexers, the variant needs %d", found, len(stages.Indexers))
	}
	return nil
}

// ReadEvaluation reads metrics.json written by EvaluateStage.
func ReadEvaluation(path string) (*Evaluation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w (run `datalab evaluate flights` first)", err)
	}
	var ev Evaluation
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if ev.Schema != EvaluationSchema {
		return nil, fmt.Errorf("%s: schema %q, want %q", path, ev.Schema, EvaluationSchema)
	}
	return &ev, nil
}
