package matchmodel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/datalabhq/datalab/matches/matchfeat"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/forest"
	"github.com/datalabhq/datalab/pipeline/ingest"
	"github.com/datalabhq/datalab/pipeline/sparkml"
)

// ManifestSchema identifies the manifest layout.
const ManifestSchema = "datalab.matchmodel/v1"

// Files of a model directory.
const (
	ManifestFile = "manifest.json"
	LookupFile   = "lookup.json"
	SparkDir     = "spark"
)

// Manifest is manifest.json of a model directory.
type Manifest struct {
	Schema  string            `json:"schema"`
	Variant matchfeat.Variant `json:"variant"`
	// Columns name the feature vector's entries (the Spark assembler inputs).
	Columns []string `json:"columns"`
	// Classes are the outcomes by class index (Spark label value).
	Classes []matchwinner.Outcome `json:"classes"`
	// Labels are the indexed inputs' labels, alphabetical.
	Labels map[string][]string `json:"labels,omitempty"`
	Forest ForestConfig        `json:"forest"`
	// SparkParams are the forest parameters as Spark names them.
	SparkParams map[string]string `json:"spark_params"`
	TrainRows   int               `json:"train_rows"`
	TrainFrom   ingest.Date       `json:"train_from"`
	TrainTo     ingest.Date       `json:"train_to"`
	// DataLastDate is the last match date in the lookup: the default AsOf
	// is the day after it.
	DataLastDate ingest.Date `json:"data_last_date"`
	// WorldCupTeams are the 32 teams of 2022 in the training spelling.
	WorldCupTeams []string `json:"world_cup_teams"`
	// Importances are the forest's feature importances, largest first.
	Importances []FeatureImportance `json:"importances"`
	// Decision is the three-way decision rule (absent: argmax), chosen on
	// Validation's year; Predict and the evaluation apply it.
	Decision *DecisionRule `json:"decision,omitempty"`
	// Validation is the variant fitted on the training years before the
	// validation year and scored on it (absent when validation is off).
	Validation *Validation `json:"validation,omitempty"`
	// Version is the sha256 of the model's other files and of this manifest
	// with Version empty (see contentVersion).
	Version string `json:"version"`
}

// Save writes the trained model to dir (replacing it only once the new one
// is complete): the Spark pipeline, the lookup and the manifest. The bytes
// depend only on the inputs: Spark metadata timestamps are the last data
// date, uids are derived.
func Save(dir string, t *Trained, lk *matchfeat.Lookup, worldCupTeams []string) (*Manifest, error) {
	lookupJSON, err := matchfeat.MarshalLookup(lk)
	if err != nil {
		return nil, err
	}
	v := t.Variant
	var stages []sparkml.Stage
	for _, in := range v.Inputs {
		if in.Indexed {
			si := sparkml.NewStringIndexer(in.Name, in.Column(), t.Labels[in.Name], "keep")
			si.StringOrderType = "alphabetAsc"
			stages = append(stages, si)
		}
	}
	stages = append(stages, sparkml.NewVectorAssembler(v.Columns(), "features", "keep"))
	p := sparkml.NewPipeline(stages, nil, t.Model)

	tmp, err := atomicfile.TempDirBeside(dir, "tmp")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	ts := lk.LastDate.Time().UnixMilli()
	if err := sparkml.SavePipeline(filepath.Join(tmp, SparkDir), p, sparkml.WithTimestamp(ts)); err != nil {
		return nil, fmt.Errorf("save spark pipeline: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(tmp, LookupFile), lookupJSON); err != nil {
		return nil, err
	}
	m := &Manifest{
		Schema: ManifestSchema, Variant: v, Columns: v.Columns(), Classes: v.Classes, Labels: t.Labels,
		Forest: t.Forest, SparkParams: t.Model.Params.Describe(),
		TrainRows: t.TrainRows, TrainFrom: t.TrainFrom, TrainTo: t.TrainTo,
		DataLastDate: lk.LastDate, WorldCupTeams: worldCupTeams,
		Importances: Importances(v.Columns(), t.Model),
		Decision:    t.Decision, Validation: t.Validation,
	}
	if m.Version, err = contentVersion(tmp, m); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(tmp, ManifestFile), append(b, '\n')); err != nil {
		return nil, err
	}
	if err := atomicfile.ReplaceDir(tmp, dir); err != nil {
		return nil, fmt.Errorf("save model: %w", err)
	}
	return m, nil
}

// contentVersion hashes every file of dir except the manifest (sorted
// "path sha256" lines) together with the manifest's JSON with Version empty.
func contentVersion(dir string, m *Manifest) (string, error) {
	var lines []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == ManifestFile {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		lines = append(lines, rel+" "+hex.EncodeToString(sum[:]))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash model directory: %w", err)
	}
	sort.Strings(lines)
	c := *m
	c.Version = ""
	mb, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(strings.Join(lines, "\n")))
	h.Write([]byte("\nmanifest "))
	h.Write(mb)
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// Model is a loaded match-winner model; it implements matchwinner.Predictor
// and is safe for concurrent use.
type Model struct {
	manifest *Manifest
	lookup   *matchfeat.Lookup
	encoder  *matchfeat.Encoder
	forest   *forest.Model
	scorer   *forest.Scorer
	teams    []string
	defaultT ingest.Date
}

var _ matchwinner.Predictor = (*Model)(nil)

// ParseManifest decodes manifest.json (path names it in errors) and checks
// its schema; the content hash is checked by Load, which has the files.
func ParseManifest(b []byte, path string) (*Manifest, error) {
	var man Manifest
	if err := json.Unmarshal(b, &man); err != nil {
		return nil, fmt.Errorf("%s: corrupt manifest: %w", path, err)
	}
	if man.Schema != ManifestSchema {
		return nil, fmt.Errorf("%s: schema %q, want %q (retrain with `datalab train matches`)", path, man.Schema, ManifestSchema)
	}
	return &man, nil
}

// Load reads a model directory written by Save (the train stage), checks its
// content hash against the manifest, and compiles the forest for scoring.
func Load(dir string) (*Model, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("load match model: %w (run `datalab train matches` first)", err)
	}
	mp, err := ParseManifest(b, filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, err
	}
	man := *mp
	want, err := contentVersion(dir, &man)
	if err != nil {
		return nil, err
	}
	if want != man.Version {
		return nil, fmt.Errorf("%s: files do not match the manifest version %s (content hash %s): the directory was modified; retrain", dir, man.Version, want)
	}
	lk, err := matchfeat.ReadLookup(filepath.Join(dir, LookupFile))
	if err != nil {
		return nil, err
	}
	p, err := sparkml.LoadPipeline(filepath.Join(dir, SparkDir))
	if err != nil {
		return nil, err
	}
	if got := p.FeatureNames(); !slices.Equal(got, man.Columns) {
		return nil, fmt.Errorf("%s: Spark assembler columns %v differ from the manifest's %v", dir, got, man.Columns)
	}
	if p.Model.NumClasses != len(man.Classes) {
		return nil, fmt.Errorf("%s: forest has %d classes, manifest %d", dir, p.Model.NumClasses, len(man.Classes))
	}
	// The manifest's variant is authoritative: a model keeps working even
	// if the variant's definition in code changes later.
	enc, err := matchfeat.NewEncoder(man.Variant, man.Labels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	sc, err := p.Model.Compile()
	if err != nil {
		return nil, fmt.Errorf("%s: compile forest: %w", dir, err)
	}
	return &Model{
		manifest: &man, lookup: lk, encoder: enc, forest: p.Model, scorer: sc,
		teams: lk.TeamNames(), defaultT: lk.LastDate + 1,
	}, nil
}

// Manifest returns the model's manifest (read-only).
func (m *Model) Manifest() *Manifest { return m.manifest }

// Lookup returns the model's lookup (read-only).
func (m *Model) Lookup() *matchfeat.Lookup { return m.lookup }

// Forest returns the loaded forest (read-only).
func (m *Model) Forest() *forest.Model { return m.forest }

// Version implements matchwinner.Predictor.
func (m *Model) Version() string { return m.manifest.Version }

// Teams implements matchwinner.Predictor.
func (m *Model) Teams() []string { return slices.Clone(m.teams) }

// WorldCupTeams implements matchwinner.Predictor.
func (m *Model) WorldCupTeams() []string { return slices.Clone(m.manifest.WorldCupTeams) }

// DefaultAsOf is the date used when a request has none: the day after the
// last match in the data, so every match is visible.
func (m *Model) DefaultAsOf() ingest.Date { return m.defaultT }

// Features returns the feature vector for home vs away as of day, computed
// exactly as training computed it (matchfeat.Lookup.Features, then the
// variant's encoder). Team names may be the training spelling or a known
// alias ("Iran", "South Korea", "United States").
func (m *Model) Features(home, away string, neutral bool, day ingest.Date) ([]float64, matchfeat.Features, error) {
	h, err := m.lookup.CanonicalTeam(home)
	if err != nil {
		return nil, matchfeat.Features{}, fmt.Errorf("%w: %w", matchwinner.ErrUnknownTeam, err)
	}
	a, err := m.lookup.CanonicalTeam(away)
	if err != nil {
		return nil, matchfeat.Features{}, fmt.Errorf("%w: %w", matchwinner.ErrUnknownTeam, err)
	}
	if h == a {
		return nil, matchfeat.Features{}, fmt.Errorf("%w: %s", matchwinner.ErrSameTeam, h)
	}
	f, err := m.lookup.Features(h, a, neutral, day)
	if err != nil {
		if errors.Is(err, matchfeat.ErrUnknownTeam) {
			return nil, f, fmt.Errorf("%w: %w", matchwinner.ErrUnknownTeam, err)
		}
		return nil, f, err
	}
	x := make([]float64, m.encoder.Width())
	m.encoder.Encode(&f, x)
	return x, f, nil
}

// Predict implements matchwinner.Predictor.
func (m *Model) Predict(ctx context.Context, req matchwinner.Request) (matchwinner.Prediction, error) {
	if err := ctx.Err(); err != nil {
		return matchwinner.Prediction{}, err
	}
	day := m.defaultT
	if !req.AsOf.IsZero() {
		day = ingest.DateOf(req.AsOf)
	}
	x, f, err := m.Features(req.Home, req.Away, req.Neutral, day)
	if err != nil {
		return matchwinner.Prediction{}, err
	}
	proba := make([]float64, len(m.manifest.Classes))
	argmax, err := m.scorer.Predict(x, proba)
	if err != nil {
		return matchwinner.Prediction{}, err
	}
	return m.prediction(f.Home.Team, f.Away.Team, x, m.Decide(proba, argmax), proba), nil
}

// Decide applies the model's decision rule to one probability row; argmax
// is the forest's predicted class.
func (m *Model) Decide(proba []float64, argmax int) int {
	return m.manifest.Decision.Decide(m.manifest.Classes, proba, argmax)
}

// ScoreBatch scores row-major feature vectors (Features output) in one call.
func (m *Model) ScoreBatch(x []float64) (pred []int32, proba []float64, err error) {
	rows := len(x) / m.encoder.Width()
	pred = make([]int32, rows)
	proba = make([]float64, rows*len(m.manifest.Classes))
	err = m.scorer.PredictBatch(x, pred, proba)
	return pred, proba, err
}

func (m *Model) prediction(home, away string, x []float64, class int, proba []float64) matchwinner.Prediction {
	classes := m.manifest.Classes
	p := matchwinner.Prediction{
		Outcome: classes[class], Probability: proba[class],
		Probabilities: make(map[matchwinner.Outcome]float64, len(classes)),
		Features:      make(map[string]float64, len(x)),
		ModelVersion:  m.manifest.Version, Variant: m.manifest.Variant.Name,
	}
	for k, c := range classes {
		p.Probabilities[c] = proba[k]
	}
	switch p.Outcome {
	case matchwinner.HomeWin:
		p.Winner = home
	case matchwinner.AwayWin:
		p.Winner = away
	}
	for i, c := range m.manifest.Columns {
		// Missing values (NaN) are left out: JSON cannot carry them.
		if !math.IsNaN(x[i]) {
			p.Features[c] = x[i]
		}
	}
	return p
}
