// Package flightmonitor turns the flight predictor's stored predictions and
// a flight model's training data into the two samples drift monitoring
// compares (pipeline/monitor runs the comparison; `datalab monitor flights`
// is its shell).
//
// The features are the request fields the model reads: DepDelay, Distance,
// DayOfMonth, DayOfWeek and DayOfYear as numbers, Carrier, Origin, Dest and
// Route as categories (an airport, carrier or route the training rows never
// have counts as unseen), and the predicted delay bucket
// (flightdelay.BucketLabels).
//
// The current sample is the flight store's predictions of one model in a
// time window (flightstore.Store.Scan). The reference is the training split
// of the model's variant (params.flights in datalab.yaml: its ingested data
// file, split by flightfeat.RandomSplit with the test fraction and seed the
// version's lineage records, else the configuration's), at most
// MaxReferenceRows of its rows taken at an even stride, with the model's
// predicted buckets on them (the pipeline's Transform and Predict on the
// raw rows, as the evaluation scores; a row the model cannot transform has
// no predicted bucket). Whether the model's category labels are the ones
// that split gives (flightmodel.TrainedOn) is said in the report: a model
// trained elsewhere, such as the course's Spark model, is judged against
// this split all the same.
//
// It sits after serving in the flow: it reads flightmodel's configuration
// and split, flightfeat's table and flightstore's predictions, and is
// imported only by shells.
package flightmonitor

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightfeat"
	"github.com/datalabhq/datalab/flights/flightmodel"
	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/pipeline/drift"
	"github.com/datalabhq/datalab/pipeline/monitor"
	"github.com/datalabhq/datalab/pipeline/registry"
)

// Model is the model's name in the registry.
const Model = "flights"

// DefaultMaxReferenceRows bounds the reference sample: enough that its
// share of the PSI's sampling noise is negligible, few enough that scoring
// it takes seconds on the largest training split (flights-3m).
const DefaultMaxReferenceRows = 200_000

// Source is the flight use case's monitor.Source: the prediction store and
// the variants' training data.
type Source struct {
	Store flightstore.Store
	// Config is params.flights: the variants, their data and the split.
	Config flightmodel.Config
	// Variant is the variant of a model that does not come from the
	// registry (a registered version names its own); Config.ServeVariant
	// when "".
	Variant string
	// MaxReferenceRows bounds the reference; DefaultMaxReferenceRows when 0.
	MaxReferenceRows int
}

var _ monitor.Source[*flightdelay.Scorer] = (*Source)(nil)

// Served implements monitor.Source.
func (s *Source) Served(ctx context.Context, w monitor.Window) ([]monitor.Served, error) {
	counts, err := s.Store.Models(ctx, flightstore.Window{Since: w.Since, Until: w.Until})
	if err != nil {
		return nil, err
	}
	out := make([]monitor.Served, len(counts))
	for i, c := range counts {
		out[i] = monitor.Served{Version: c.Model, Rows: c.Count}
	}
	return out, nil
}

// Load implements monitor.Source.
func (s *Source) Load(dir string) (*flightdelay.Scorer, error) { return flightdelay.LoadScorer(dir) }

// Name implements monitor.Source: the scorer's name, which stored
// predictions carry when the model is served from a directory.
func (s *Source) Name(sc *flightdelay.Scorer) string { return sc.Name() }

// variant is the variant configuration of a model with registry record v
// (nil: a local model).
func (s *Source) variant(v *registry.Version) (flightmodel.VariantConfig, error) {
	name := s.Variant
	if v != nil && v.Variant != "" {
		name = v.Variant
	}
	if name == "" {
		name = s.Config.ServeVariant
	}
	return s.Config.Variant(name)
}

// DataSet is the catalog data set of a variant's data file
// (build/parquet/bts2008.parquet → bts2008), as the registry's lineage
// names it.
func DataSet(v flightmodel.VariantConfig) string {
	return strings.TrimSuffix(filepath.Base(v.Data), ".parquet")
}

// DataSets implements monitor.Source: the variant's data set.
func (s *Source) DataSets(_ *flightdelay.Scorer, v registry.Version) ([]string, error) {
	vc, err := s.variant(&v)
	if err != nil {
		return nil, err
	}
	return []string{DataSet(vc)}, nil
}

// Split returns the test fraction and seed of a model's split: those its
// lineage records (params flights.test_fraction and flights.split_seed of
// the run that trained it), else the configuration's.
func (s *Source) Split(v *registry.Version) (testFraction float64, seed uint64) {
	testFraction, seed = s.Config.TestFraction, s.Config.SplitSeed
	if v == nil {
		return testFraction, seed
	}
	if f, ok := v.Lineage.Params[Model+".test_fraction"].(float64); ok {
		testFraction = f
	}
	switch x := v.Lineage.Params[Model+".split_seed"].(type) {
	case float64:
		seed = uint64(x)
	case int:
		seed = uint64(x)
	case uint64:
		seed = x
	}
	return testFraction, seed
}

// Reference implements monitor.Source: the training split of the model's
// variant, read from data (the variant's data file when "").
func (s *Source) Reference(ctx context.Context, sc *flightdelay.Scorer, v *registry.Version, data string) (drift.Sample, string, error) {
	vc, err := s.variant(v)
	if err != nil {
		return drift.Sample{}, "", err
	}
	if data == "" {
		data = vc.Data
	}
	t, err := flightfeat.ReadTable(ctx, data)
	if err != nil {
		return drift.Sample{}, "", err
	}
	frac, seed := s.Split(v)
	split, err := flightfeat.RandomSplit(t.Len(), frac, seed)
	if err != nil {
		return drift.Sample{}, "", err
	}
	rows := Stride(split.Train, s.maxRows())
	sample, unscored, err := ReferenceSample(ctx, sc, t, rows)
	if err != nil {
		return drift.Sample{}, "", err
	}
	text := fmt.Sprintf("The reference is the training split of variant %s: %d of its %d rows (test fraction %g, seed %d) of %s, with the model's predicted buckets on them.",
		vc.Name, len(rows), len(split.Train), frac, seed, data)
	if unscored > 0 {
		text += fmt.Sprintf(" The model could not score %d of them (values its indexers refuse); their predicted bucket is missing.", unscored)
	}
	if err := flightmodel.TrainedOn(sc.Pipeline(), t, split, vc); err != nil {
		text += " The model was not trained on this split (" + err.Error() + "): the reference is the variant's training data all the same."
	} else {
		text += " The model's category labels are those of this split: it was trained on it."
	}
	return sample, text, nil
}

func (s *Source) maxRows() int {
	if s.MaxReferenceRows > 0 {
		return s.MaxReferenceRows
	}
	return DefaultMaxReferenceRows
}

// Stride returns at most n of rows at an even stride (all of them when
// there are no more than n).
func Stride(rows []int, n int) []int {
	if len(rows) <= n {
		return rows
	}
	out := make([]int, n)
	for i := range out {
		out[i] = rows[int(int64(i)*int64(len(rows))/int64(n))]
	}
	return out
}

// Current implements monitor.Source: CurrentSample.
func (s *Source) Current(ctx context.Context, _ *flightdelay.Scorer, version string, w monitor.Window, rows int) (drift.Sample, error) {
	return CurrentSample(ctx, s.Store, flightstore.Window{Since: w.Since, Until: w.Until, Model: version}, rows)
}

// The columns of both samples.
var (
	NumericColumns     = flightfeat.NumericColumns // DepDelay, Distance, DayOfMonth, DayOfWeek, DayOfYear
	CategoricalColumns = flightfeat.StringColumns  // Carrier, Origin, Dest, Route
)

// sampler collects rows into a Sample.
type sampler struct {
	numeric [][]float64
	strs    [][]string
	pred    []string
}

func newSampler(rows int) *sampler {
	s := &sampler{numeric: make([][]float64, len(NumericColumns)), strs: make([][]string, len(CategoricalColumns)), pred: make([]string, 0, rows)}
	for i := range s.numeric {
		s.numeric[i] = make([]float64, 0, rows)
	}
	for i := range s.strs {
		s.strs[i] = make([]string, 0, rows)
	}
	return s
}

func (s *sampler) sample() drift.Sample {
	var cols []drift.Column
	for i, n := range NumericColumns {
		cols = append(cols, drift.NumericColumn(n, s.numeric[i]))
	}
	for i, n := range CategoricalColumns {
		cols = append(cols, drift.CategoricalColumn(n, s.strs[i]))
	}
	return drift.Sample{Columns: cols, Predicted: s.pred}
}

// ReferenceSample is the sample of rows of t with sc's predicted buckets
// on them, and how many rows sc could not score (their bucket is missing).
func ReferenceSample(ctx context.Context, sc *flightdelay.Scorer, t *flightfeat.Table, rows []int) (drift.Sample, int, error) {
	s := newSampler(len(rows))
	for _, i := range rows {
		for c, n := range NumericColumns {
			s.numeric[c] = append(s.numeric[c], t.Num[n][i])
		}
		for c, n := range CategoricalColumns {
			v, _ := t.String(n, i)
			s.strs[c] = append(s.strs[c], v)
		}
	}
	classes, unscored, err := flightmodel.PredictRows(ctx, sc.Pipeline(), t, rows)
	if err != nil {
		return drift.Sample{}, 0, err
	}
	for _, c := range classes {
		s.pred = append(s.pred, flightdelay.BucketLabel(c)) // "" (missing) for -1
	}
	return s.sample(), unscored, nil
}

// CurrentSample reads the predictions of w from the store into a sample:
// the request fields and the predicted bucket. rows is the number of
// predictions expected (a capacity hint; 0 when unknown).
func CurrentSample(ctx context.Context, st flightstore.Store, w flightstore.Window, rows int) (drift.Sample, error) {
	s := newSampler(rows)
	err := st.Scan(ctx, w, func(d *flightstore.Stored) error {
		for c, v := range [...]float64{d.DepDelay, d.Distance, float64(d.DayOfMonth), float64(d.DayOfWeek), float64(d.DayOfYear)} {
			s.numeric[c] = append(s.numeric[c], v)
		}
		for c, v := range [...]string{d.Carrier, d.Origin, d.Dest, d.Route} {
			s.strs[c] = append(s.strs[c], v)
		}
		s.pred = append(s.pred, flightdelay.BucketLabel(d.Prediction.Prediction))
		return nil
	})
	if err != nil {
		return drift.Sample{}, err
	}
	return s.sample(), nil
}
