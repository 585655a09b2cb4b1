// Package matchmonitor turns the match app's served requests and a match
// model's training data into the two samples drift monitoring compares
// (pipeline/monitor runs the comparison; `datalab monitor matches` and the
// dashboard's drift panel are its shells).
//
// The features are the model's numeric inputs — the feature vector the
// model scored, as the prediction log keeps it (a missing value, left out
// of the log's JSON, is missing here too) — the home and away teams as
// categories (a team the training data never has counts as unseen), and the
// predicted outcome.
//
// The current sample is the prediction log's rows of one model version in a
// time window (predlog.Log.Scan), team names in the training spelling
// (matchfeat.Lookup.CanonicalTeam; an unknown name stays as it is). The
// reference is the model's training rows: the rows of the features table
// (build/matches/features.parquet, written by `datalab features matches`)
// dated within the model's training dates (manifest train_from…train_to,
// the matches before the test year), whose number must be the manifest's
// train_rows. Their feature vectors are computed as a request's are
// (matchmodel.Model.Features as of the match's date), and the predicted
// outcomes are the model's own on those rows, with its decision rule — on
// the training rows, not the test year, so features and predictions
// describe the same rows (a forest's classes on rows it was fitted on are a
// little more confident than on new ones; the class mix is close).
//
// It sits after serving in the flow: it reads matchmodel's model and
// features and predlog's log, and is imported only by shells.
package matchmonitor

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/datalabhq/datalab/matches/matchfeat"
	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/pipeline/drift"
	"github.com/datalabhq/datalab/pipeline/monitor"
	"github.com/datalabhq/datalab/pipeline/registry"
)

// Model is the model's name in the registry.
const Model = "matches"

// DataSets are the catalog data sets the reference is read from (the
// features table is built from the match table alone): the data the
// lineage check compares.
var DataSets = []string{"matches"}

// The categorical columns of both samples.
const (
	HomeTeam = "home_team"
	AwayTeam = "away_team"
)

// Source is the match use case's monitor.Source: the prediction log and
// the features table.
type Source struct {
	// Log is the prediction log the app writes.
	Log *predlog.Log
	// Features is the features table, matchmodel.DefaultFeatures when "".
	Features string
}

var _ monitor.Source[*matchmodel.Model] = (*Source)(nil)

// Served implements monitor.Source.
func (s *Source) Served(ctx context.Context, w monitor.Window) ([]monitor.Served, error) {
	counts, err := s.Log.ModelVersions(ctx, predlog.Window{Since: w.Since, Until: w.Until})
	if err != nil {
		return nil, err
	}
	out := make([]monitor.Served, len(counts))
	for i, c := range counts {
		out[i] = monitor.Served{Version: c.Label, Rows: c.Count}
	}
	return out, nil
}

// Load implements monitor.Source.
func (s *Source) Load(dir string) (*matchmodel.Model, error) { return matchmodel.Load(dir) }

// Name implements monitor.Source: the model's own version, which the log
// records when it is served from a directory.
func (s *Source) Name(m *matchmodel.Model) string { return m.Version() }

// DataSets implements monitor.Source.
func (s *Source) DataSets(*matchmodel.Model, registry.Version) ([]string, error) {
	return DataSets, nil
}

// Reference implements monitor.Source: ReferenceSample of the features
// table at data (s.Features when "").
func (s *Source) Reference(_ context.Context, m *matchmodel.Model, _ *registry.Version, data string) (drift.Sample, string, error) {
	if data == "" {
		data = s.features()
	}
	recs, err := matchfeat.ReadFeatures(data)
	if err != nil {
		return drift.Sample{}, "", err
	}
	sample, err := ReferenceSample(m, recs)
	if err != nil {
		return drift.Sample{}, "", fmt.Errorf("%s: %w", data, err)
	}
	man := m.Manifest()
	text := fmt.Sprintf("The reference is the %d training matches of variant %s (%s to %s) from %s, with the model's predicted outcomes on them.",
		man.TrainRows, man.Variant.Name, man.TrainFrom, man.TrainTo, data)
	return sample, text, nil
}

func (s *Source) features() string {
	if s.Features == "" {
		return matchmodel.DefaultFeatures
	}
	return s.Features
}

// Current implements monitor.Source: CurrentSample.
func (s *Source) Current(ctx context.Context, m *matchmodel.Model, version string, w monitor.Window, rows int) (drift.Sample, error) {
	return CurrentSample(ctx, s.Log, predlog.Window{Since: w.Since, Until: w.Until, ModelVersion: version}, m, rows)
}

// NumericColumns are m's numeric inputs, in the order of its feature
// vector: the numeric columns of both samples.
func NumericColumns(m *matchmodel.Model) []string {
	var out []string
	for _, in := range m.Manifest().Variant.Inputs {
		if !in.Indexed {
			out = append(out, in.Column())
		}
	}
	return out
}

// sampler collects rows into a Sample: the numeric inputs, the teams and
// the predicted outcome.
type sampler struct {
	names   []string
	numeric [][]float64
	home    []string
	away    []string
	pred    []string
}

func newSampler(m *matchmodel.Model, rows int) *sampler {
	s := &sampler{names: NumericColumns(m)}
	s.numeric = make([][]float64, len(s.names))
	for i := range s.numeric {
		s.numeric[i] = make([]float64, 0, rows)
	}
	s.home, s.away, s.pred = make([]string, 0, rows), make([]string, 0, rows), make([]string, 0, rows)
	return s
}

func (s *sampler) sample() drift.Sample {
	cols := make([]drift.Column, 0, len(s.names)+2)
	for i, n := range s.names {
		cols = append(cols, drift.NumericColumn(n, s.numeric[i]))
	}
	cols = append(cols, drift.CategoricalColumn(HomeTeam, s.home), drift.CategoricalColumn(AwayTeam, s.away))
	return drift.Sample{Columns: cols, Predicted: s.pred}
}

// ReferenceSample is the reference of m from the features table's records:
// the rows dated within m's training dates, each row's feature vector
// computed by m as of its date, the teams, and m's predicted outcomes. It
// fails when their number is not the manifest's train_rows: the table was
// not built from the data m was trained on.
func ReferenceSample(m *matchmodel.Model, recs []matchfeat.Record) (drift.Sample, error) {
	man := m.Manifest()
	var train []*matchfeat.Record
	for i := range recs {
		if r := &recs[i]; r.Date >= man.TrainFrom && r.Date <= man.TrainTo {
			train = append(train, r)
		}
	}
	if len(train) != man.TrainRows {
		return drift.Sample{}, fmt.Errorf("%d matches from %s to %s, and version %s was trained on %d: the features table is not built from the data the model was trained on (rebuild it: datalab run, or give --reference-data)",
			len(train), man.TrainFrom, man.TrainTo, m.Version(), man.TrainRows)
	}
	var x []float64
	for _, r := range train {
		v, _, err := m.Features(r.HomeTeam, r.AwayTeam, r.Neutral == 1, r.Date)
		if err != nil {
			return drift.Sample{}, fmt.Errorf("training match %s %s vs %s: %w", r.Date, r.HomeTeam, r.AwayTeam, err)
		}
		x = append(x, v...)
	}
	argmax, proba, err := m.ScoreBatch(x)
	if err != nil {
		return drift.Sample{}, err
	}
	width, classes := len(man.Columns), man.Classes
	numeric := numericIndexes(man)
	s := newSampler(m, len(train))
	for k, r := range train {
		row := x[k*width : (k+1)*width]
		for c, i := range numeric {
			s.numeric[c] = append(s.numeric[c], row[i])
		}
		s.home, s.away = append(s.home, r.HomeTeam), append(s.away, r.AwayTeam)
		p := proba[k*len(classes) : (k+1)*len(classes)]
		s.pred = append(s.pred, string(classes[m.Decide(p, int(argmax[k]))]))
	}
	return s.sample(), nil
}

// numericIndexes are the positions of the numeric inputs in the feature
// vector.
func numericIndexes(man *matchmodel.Manifest) []int {
	var out []int
	for i, in := range man.Variant.Inputs {
		if !in.Indexed {
			out = append(out, i)
		}
	}
	return out
}

// CurrentSample reads the predictions of w from the log into a sample for
// m: the logged feature vector's numeric inputs (absent = missing), the
// teams in the training spelling, the predicted outcome. rows is the
// number of predictions expected (a capacity hint; 0 when unknown).
func CurrentSample(ctx context.Context, log *predlog.Log, w predlog.Window, m *matchmodel.Model, rows int) (drift.Sample, error) {
	s := newSampler(m, rows)
	canon := map[string]string{}
	team := func(name string) string {
		if c, ok := canon[name]; ok {
			return c
		}
		c, err := m.Lookup().CanonicalTeam(name)
		if err != nil {
			c = name // unseen: counted as such
		}
		canon[name] = c
		return c
	}
	err := log.Scan(ctx, w, func(e *predlog.Entry) error {
		for c, n := range s.names {
			v, ok := e.Features[n]
			if !ok {
				v = math.NaN()
			}
			s.numeric[c] = append(s.numeric[c], v)
		}
		s.home, s.away = append(s.home, team(e.Home)), append(s.away, team(e.Away))
		s.pred = append(s.pred, string(e.Outcome))
		return nil
	})
	if err != nil {
		return drift.Sample{}, err
	}
	return s.sample(), nil
}

// Watch judges, for the match dashboard's drift panel, the requests the
// serving version answered over the last Window against its training data.
// The reference of a version is built once (monitor.Judge); each Check
// reads only the window. The reference data is Source.Features, not
// checked against a lineage (`datalab monitor matches` checks it).
type Watch struct {
	Source *Source
	// Window is how far back the requests are read.
	Window time.Duration
	// Options are the binning and thresholds.
	Options drift.Options
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	judge monitor.Judge[*matchmodel.Model]
}

// Check judges the requests of the last Window that version answered; p
// is the model serving as version, a *matchmodel.Model.
func (w *Watch) Check(ctx context.Context, version string, p matchwinner.Predictor) (*monitor.Report, error) {
	m, ok := p.(*matchmodel.Model)
	if !ok {
		return nil, fmt.Errorf("drift: the served model is a %T, not a datalab match model (matchmodel): its training data is unknown", p)
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	rep, err := w.judge.Check(ctx, w.Source, Model, m, version, monitor.Last(w.Window, now()), w.Options)
	if err != nil {
		return nil, err
	}
	rep.Notes = append(rep.Notes, "The reference data is "+w.Source.features()+", not checked against the version's lineage here (datalab monitor matches checks it).")
	return rep, nil
}
