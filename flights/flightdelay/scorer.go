package flightdelay

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/datalabhq/datalab/pipeline/sparkml"
)

// Scorer predicts the arrival-delay bucket of a request with a Spark-format
// flight pipeline (StringIndexers on Carrier, Origin, Dest, Route;
// VectorAssembler; random forest). It is safe for concurrent use: scoring
// only reads the pipeline.
type Scorer struct {
	p    *sparkml.Pipeline
	name string
}

// rawColumns are the raw inputs the flight pipeline may read.
var rawColumns = []string{"DepDelay", "Distance", "DayOfMonth", "DayOfWeek", "DayOfYear", "Carrier", "Origin", "Dest", "Route"}

// LoadScorer loads the pipeline in dir (see sparkml.LoadPipeline).
func LoadScorer(dir string) (*Scorer, error) {
	p, err := sparkml.LoadPipeline(dir)
	if err != nil {
		return nil, fmt.Errorf("load flight model: %w", err)
	}
	return NewScorer(p)
}

// NewScorer wraps a loaded pipeline. It fails unless every raw column the
// pipeline reads is one of the request's fields, and the model has the
// four delay buckets.
func NewScorer(p *sparkml.Pipeline) (*Scorer, error) {
	if p.Model == nil {
		return nil, errors.New("flight pipeline has no model")
	}
	if p.Model.NumClasses != len(BucketLabels) {
		return nil, fmt.Errorf("flight model has %d classes, want the %d delay buckets", p.Model.NumClasses, len(BucketLabels))
	}
	produced := map[string]bool{}
	s := &Scorer{p: p}
	for _, st := range p.Stages {
		for _, in := range st.InputCols() {
			if !produced[in] && !slices.Contains(rawColumns, in) {
				return nil, fmt.Errorf("flight pipeline stage %s reads column %q, which a flight request does not have (it has %v)", st.StageUID(), in, rawColumns)
			}
		}
		for _, out := range st.OutputCols() {
			produced[out] = true
		}
	}
	s.name = p.ModelInfo.UID
	if src := p.Source; src != nil {
		s.name = filepath.Base(src.Dir)
		if v := src.SparkVersions[p.ModelInfo.UID]; v != "" {
			s.name += " (Spark " + v + ")"
		}
	}
	return s, nil
}

// Name identifies the model, e.g. "spark-flight-delay-3.3.3 (Spark
// 3.3.3)": Score stamps it on predictions; served from the model registry,
// they carry the version id instead (Served.Score).
func (s *Scorer) Name() string { return s.name }

// Pipeline is the underlying Spark pipeline.
func (s *Scorer) Pipeline() *sparkml.Pipeline { return s.p }

// Row is the raw row the pipeline sees for r: the numeric fields as
// float64 and the four string columns, Route = Origin-Dest.
func Row(r Request) map[string]any {
	return map[string]any{
		"DepDelay": r.DepDelay, "Distance": r.Distance,
		"DayOfMonth": float64(r.DayOfMonth), "DayOfWeek": float64(r.DayOfWeek), "DayOfYear": float64(r.DayOfYear),
		"Carrier": r.Carrier, "Origin": r.Origin, "Dest": r.Dest, "Route": r.Route(),
	}
}

// Check reports, as a *ValidationError, the carrier, airports and route the
// model's StringIndexers would reject (handleInvalid error or skip), so that
// the app can answer 400 before anything is published.
func (s *Scorer) Check(r Request) error {
	ve := &ValidationError{}
	row := Row(r)
	for _, st := range s.p.Stages {
		si, ok := st.(*sparkml.StringIndexer)
		if !ok {
			continue
		}
		for i, in := range si.Inputs {
			if _, err := si.Index(i, row[in]); err != nil {
				field := in
				if in == "Route" {
					field = "Dest"
				}
				ve.add(field, "the model does not know %s %q (it was trained on %d values; choose another)", in, row[in], len(si.Labels[i]))
			}
		}
	}
	return ve.orNil()
}

// Score predicts r's delay bucket and returns the document to store.
func (s *Scorer) Score(r Request) (Prediction, error) {
	x, err := s.p.Transform(Row(r))
	if err != nil {
		if cerr := s.Check(r); cerr != nil {
			return Prediction{}, cerr
		}
		return Prediction{}, fmt.Errorf("transform request %s: %w", r.UUID, err)
	}
	pred, err := s.p.Predict(x)
	if err != nil {
		return Prediction{}, fmt.Errorf("predict request %s: %w", r.UUID, err)
	}
	return Prediction{
		Origin: r.Origin, DayOfWeek: r.DayOfWeek, DayOfYear: r.DayOfYear, DayOfMonth: r.DayOfMonth,
		Dest: r.Dest, DepDelay: r.DepDelay, Timestamp: r.Timestamp, FlightDate: r.FlightDate,
		Carrier: r.Carrier, UUID: r.UUID, Distance: r.Distance, Route: r.Route(),
		Prediction: pred.Class, PredictionLabel: BucketLabel(pred.Class),
		Probability: pred.Probability, Model: s.name,
	}, nil
}
