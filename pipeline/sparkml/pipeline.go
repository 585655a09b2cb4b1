package sparkml

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/forest"
)

// Pipeline is a fitted Spark pipeline around a random forest: the feature
// stages that turn a raw row into the feature vector, the classifier, and
// optionally the label stage (a Bucketizer producing the classifier's label
// column) that is used in training only.
type Pipeline struct {
	// Stages are the feature stages in execution order.
	Stages []Stage
	// Label is the label stage (its OutputCol is ModelInfo.LabelCol), nil
	// when the pipeline has none. It is not applied by Transform; it gives
	// the classes their meaning (see ClassLabel).
	Label *Bucketizer
	// Model is the forest.
	Model *forest.Model
	// ModelInfo is the classifier stage's uid and column params.
	ModelInfo ModelInfo
	// Derive lists columns computed from others before the stages run,
	// when a row lacks them (e.g. the flight model's Route = Origin-Dest,
	// which the course's job computed outside the Spark pipeline).
	Derive []Derivation
	// Source describes where the pipeline was loaded from; nil for a
	// pipeline built in Go.
	Source *Source
}

// Source describes a loaded pipeline's origin.
type Source struct {
	Dir string `json:"dir"`
	// Layout is "PipelineModel", "stage directories" (one directory per
	// stage, saved one by one) or "model" (a lone classifier directory).
	Layout string `json:"layout"`
	// SparkVersions maps each stage uid to the Spark version that wrote it.
	SparkVersions map[string]string `json:"sparkVersions"`
	// StageDirs maps each stage uid to its directory.
	StageDirs map[string]string `json:"stageDirs"`
}

// NewPipeline assembles a pipeline from Go-built parts, filling ModelInfo
// the way Spark's defaults and the stages imply: the features column is the
// last stage's output, the label column the label stage's output, and the
// uid is derived from them.
func NewPipeline(stages []Stage, label *Bucketizer, model *forest.Model) *Pipeline {
	info := ModelInfo{FeaturesCol: "features", LabelCol: "label", PredictionCol: "prediction", ProbabilityCol: "probability", RawPredictionCol: "rawPrediction"}
	if n := len(stages); n > 0 {
		if outs := stages[n-1].OutputCols(); len(outs) == 1 {
			info.FeaturesCol = outs[0]
		}
	}
	if label != nil {
		info.LabelCol = label.OutputCol
	}
	info.UID = derivedUID("RandomForestClassifier", info.FeaturesCol+"->"+info.LabelCol)
	return &Pipeline{Stages: stages, Label: label, Model: model, ModelInfo: info}
}

// CategoricalFeatures maps each feature index produced by a StringIndexer
// to its nominal arity (labels, plus one with handleInvalid "keep"), as
// Spark's VectorAssembler propagates it in the column metadata that the
// forest trainer reads. Use it as forest.Params.CategoricalFeatures when
// training, so that Go trains what Spark would.
func (p *Pipeline) CategoricalFeatures() map[int]int {
	arity := map[string]int{}
	for _, st := range p.Stages {
		if si, ok := st.(*StringIndexer); ok {
			for i, out := range si.Outputs {
				arity[out] = si.NumIndices(i)
			}
		}
	}
	va := p.assembler()
	if va == nil {
		return nil
	}
	out := map[int]int{}
	for i, in := range va.Inputs {
		if a, ok := arity[in]; ok {
			out[i] = a
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// assembler is the VectorAssembler producing the features column, if any.
func (p *Pipeline) assembler() *VectorAssembler {
	for _, st := range p.Stages {
		if va, ok := st.(*VectorAssembler); ok && va.OutputCol == p.ModelInfo.FeaturesCol {
			return va
		}
	}
	return nil
}

// FeatureNames names the model's features: the assembler's input columns,
// or f0, f1, … without an assembler.
func (p *Pipeline) FeatureNames() []string {
	if va := p.assembler(); va != nil && len(va.Inputs) == p.Model.NumFeatures {
		return slices.Clone(va.Inputs)
	}
	names := make([]string, p.Model.NumFeatures)
	for i := range names {
		names[i] = "f" + strconv.Itoa(i)
	}
	return names
}

// Validate checks that the stages chain into the classifier: every stage
// input is a raw column or an earlier output, and the features column has
// NumFeatures entries.
func (p *Pipeline) Validate() error {
	if p.Model == nil {
		return errors.New("pipeline has no model")
	}
	if err := p.Model.Validate(); err != nil {
		return err
	}
	if va := p.assembler(); va != nil && len(va.Inputs) != p.Model.NumFeatures {
		return fmt.Errorf("VectorAssembler %s has %d inputs but the model %s has %d features", va.UID, len(va.Inputs), p.ModelInfo.UID, p.Model.NumFeatures)
	} else if va == nil && len(p.Stages) > 0 {
		return fmt.Errorf("no stage produces the model's features column %q", p.ModelInfo.FeaturesCol)
	}
	seen := map[string]string{}
	for _, st := range p.Stages {
		for _, out := range st.OutputCols() {
			if prev, dup := seen[out]; dup {
				return fmt.Errorf("stages %s and %s both write column %q", prev, st.StageUID(), out)
			}
			seen[out] = st.StageUID()
		}
	}
	if p.Label != nil {
		if err := p.Label.validate(); err != nil {
			return err
		}
		if nb := p.Label.NumBuckets(); nb != p.Model.NumClasses {
			return fmt.Errorf("label stage %s has %d buckets but the model has %d classes", p.Label.UID, nb, p.Model.NumClasses)
		}
	}
	return nil
}

// Derivation computes column Output by joining the string values of Inputs
// with Sep, when a row lacks Output.
type Derivation struct {
	Output string
	Inputs []string
	Sep    string
}

// ParseDerivation parses "NAME=A<sep>B…", e.g. "Route=Origin-Dest": the
// inputs are the runs of letters, digits and underscores after '=', the
// separator is the text between them (the same between every pair).
func ParseDerivation(spec string) (Derivation, error) {
	name, expr, ok := strings.Cut(spec, "=")
	if !ok || name == "" || expr == "" {
		return Derivation{}, fmt.Errorf("derivation %q: want NAME=COL<sep>COL, e.g. Route=Origin-Dest", spec)
	}
	isWord := func(r rune) bool {
		return r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	}
	d := Derivation{Output: name}
	var seps []string
	cur, inWord := "", false
	for _, r := range expr + "\x00" {
		if (r != 0 && isWord(r)) != inWord || r == 0 {
			if cur != "" {
				if inWord {
					d.Inputs = append(d.Inputs, cur)
				} else {
					seps = append(seps, cur)
				}
			}
			cur, inWord = "", !inWord
		}
		cur += string(r)
	}
	if len(d.Inputs) < 2 || len(seps) != len(d.Inputs)-1 || !isWord(rune(expr[0])) {
		return Derivation{}, fmt.Errorf("derivation %q: want NAME=COL<sep>COL, e.g. Route=Origin-Dest", spec)
	}
	for _, s := range seps {
		if s != seps[0] {
			return Derivation{}, fmt.Errorf("derivation %q: separators differ (%q, %q)", spec, seps[0], s)
		}
	}
	d.Sep = seps[0]
	return d, nil
}

func (d Derivation) apply(row map[string]any) {
	if v, ok := row[d.Output]; ok && v != nil {
		return
	}
	parts := make([]string, len(d.Inputs))
	for i, in := range d.Inputs {
		s, ok := row[in].(string)
		if !ok {
			return
		}
		parts[i] = s
	}
	row[d.Output] = strings.Join(parts, d.Sep)
}

// Transform runs a raw row through the derivations and feature stages, as
// Spark's PipelineModel.transform would, and returns the feature vector.
// The row is not modified. An error wrapping ErrSkipRow means a stage with
// handleInvalid "skip" dropped the row. Model may be nil (to build training
// vectors before the forest exists).
func (p *Pipeline) Transform(row map[string]any) ([]float64, error) {
	work := make(map[string]any, len(row)+len(p.Stages)+len(p.Derive))
	for k, v := range row {
		work[k] = v
	}
	for _, d := range p.Derive {
		d.apply(work)
	}
	for _, st := range p.Stages {
		if err := st.transform(work); err != nil {
			return nil, err
		}
	}
	v, ok := work[p.ModelInfo.FeaturesCol]
	if !ok {
		return nil, fmt.Errorf("row has no %q column and no stage produces it", p.ModelInfo.FeaturesCol)
	}
	vec, err := vectorValue(v)
	if err != nil {
		return nil, fmt.Errorf("column %s: %w", p.ModelInfo.FeaturesCol, err)
	}
	if p.Model != nil && len(vec) != p.Model.NumFeatures {
		return nil, fmt.Errorf("feature vector has %d values, the model wants %d", len(vec), p.Model.NumFeatures)
	}
	return vec, nil
}

// RowFeatures returns the feature vector of an input row: a row
// {"features": [...]} is a pre-assembled vector (null entries are missing
// values, NaN); any other row is raw fields run through Transform.
func (p *Pipeline) RowFeatures(row map[string]any) ([]float64, error) {
	if v, ok := row["features"]; ok {
		if _, isList := v.([]any); isList {
			vec, err := vectorValue(v)
			if err != nil {
				return nil, fmt.Errorf("features: %w", err)
			}
			if len(vec) != p.Model.NumFeatures {
				return nil, fmt.Errorf("features has %d values, the model wants %d", len(vec), p.Model.NumFeatures)
			}
			return vec, nil
		}
	}
	return p.Transform(row)
}

// vectorValue converts a vector value: []float64, or a JSON array of
// numbers where null (or "NaN") is a missing value.
func vectorValue(v any) ([]float64, error) {
	switch t := v.(type) {
	case []float64:
		return t, nil
	case []any:
		out := make([]float64, len(t))
		for i, e := range t {
			if s, ok := e.(string); ok && s == "NaN" {
				out[i] = math.NaN()
				continue
			}
			x, isNull, err := numericValue(e)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			if isNull {
				x = math.NaN()
			}
			out[i] = x
		}
		return out, nil
	}
	return nil, fmt.Errorf("value %v (%T) is not a vector", v, v)
}

// Prediction is the classifier's output for one row.
type Prediction struct {
	// Class is the predicted class index (Spark's prediction column).
	Class int `json:"prediction"`
	// Probability is the class probability vector.
	Probability []float64 `json:"probability"`
	// Label describes the class when the pipeline has a label stage.
	Label string `json:"label,omitempty"`
}

// Predict scores feature vector x with Spark's semantics (forest.Model.Predict:
// soft vote of normalised leaf counts, prediction = argmax of the raw votes).
func (p *Pipeline) Predict(x []float64) (Prediction, error) {
	m := p.Model
	if len(x) != m.NumFeatures {
		return Prediction{}, fmt.Errorf("feature vector has %d values, the model wants %d", len(x), m.NumFeatures)
	}
	k, prob := m.Predict(x)
	return Prediction{Class: k, Probability: prob, Label: p.ClassLabel(k)}, nil
}

// ClassLabel describes class k by the label stage's bucket ("" without one).
func (p *Pipeline) ClassLabel(k int) string {
	if p.Label == nil {
		return ""
	}
	return p.Label.BucketLabel(k)
}

// saveConfig holds SavePipeline's options.
type saveConfig struct {
	fixedTime    *int64
	sparkVersion string
}

func (c *saveConfig) timestamp() int64 {
	if c.fixedTime != nil {
		return *c.fixedTime
	}
	return time.Now().UnixMilli()
}

// SaveOption configures SavePipeline.
type SaveOption func(*saveConfig)

// WithTimestamp writes ms (milliseconds since the epoch) as every stage's
// timestamp instead of the current time, so that saving the same pipeline
// twice gives identical bytes (uids and file names are always derived from
// the stages).
func WithTimestamp(ms int64) SaveOption { return func(c *saveConfig) { c.fixedTime = &ms } }

// WithSparkVersion sets the sparkVersion written into the metadata; the
// default, DefaultSparkVersion, is the format version the writer mirrors.
func WithSparkVersion(v string) SaveOption { return func(c *saveConfig) { c.sparkVersion = v } }

// DefaultSparkVersion is the Spark version whose on-disk format SavePipeline
// reproduces (checked field by field against the 3.3.3 fixture).
const DefaultSparkVersion = "3.3.3"

// SavePipeline writes p as a Spark PipelineModel directory at dir: the
// label stage (if any) first, then the feature stages, then the classifier,
// each under stages/<i>_<uid>/. The directory is written to a temporary
// sibling and renamed into place, so dir is never half-written; an existing
// dir is replaced.
func SavePipeline(dir string, p *Pipeline, opts ...SaveOption) error {
	cfg := &saveConfig{sparkVersion: DefaultSparkVersion}
	for _, o := range opts {
		o(cfg)
	}
	if major, _, err := SparkMajorMinor(cfg.sparkVersion); err != nil || major < 3 {
		return fmt.Errorf("save pipeline: spark version %q: the writer produces the Spark 3.x format", cfg.sparkVersion)
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("save pipeline: %w", err)
	}
	if p.ModelInfo.UID == "" {
		return errors.New("save pipeline: ModelInfo.UID is empty (build the pipeline with NewPipeline)")
	}
	var stages []Stage
	if p.Label != nil {
		stages = append(stages, p.Label)
	}
	stages = append(stages, p.Stages...)
	uids := make([]string, 0, len(stages)+1)
	for _, st := range stages {
		if st.StageUID() == "" {
			return fmt.Errorf("save pipeline: a %s stage has no uid", st.SparkClass())
		}
		uids = append(uids, st.StageUID())
	}
	uids = append(uids, p.ModelInfo.UID)
	for i, u := range uids {
		if slices.Contains(uids[:i], u) {
			return fmt.Errorf("save pipeline: uid %s is used by two stages", u)
		}
	}

	tmp, err := atomicfile.TempDirBeside(dir, "tmp")
	if err != nil {
		return fmt.Errorf("save pipeline: %w", err)
	}
	defer os.RemoveAll(tmp)

	pipelineUID := derivedUID("PipelineModel", strings.Join(uids, ","))
	params := []jsonField{{"stageUids", jsonStrings(uids)}}
	if err := writeMetadataDir(tmp, encodeMetadata(ClassPipelineModel, cfg.timestamp(), cfg.sparkVersion, pipelineUID, params, nil, nil)); err != nil {
		return fmt.Errorf("save pipeline: %w", err)
	}
	for i, st := range stages {
		if err := st.write(stagePath(tmp, i, len(uids), st.StageUID()), cfg); err != nil {
			return fmt.Errorf("save pipeline stage %d (%s): %w", i, st.StageUID(), err)
		}
	}
	last := len(uids) - 1
	if err := writeRandomForest(stagePath(tmp, last, len(uids), p.ModelInfo.UID), p.Model, p.ModelInfo, cfg); err != nil {
		return fmt.Errorf("save pipeline stage %d (%s): %w", last, p.ModelInfo.UID, err)
	}
	// A failed replace leaves the old model in place.
	if err := atomicfile.ReplaceDir(tmp, dir); err != nil {
		return fmt.Errorf("save pipeline: %w", err)
	}
	return nil
}

// stagePath is Spark's getStagePath: stages/<idx zero-padded to the digit
// count of the number of stages>_<uid>.
func stagePath(dir string, idx, numStages int, uid string) string {
	digits := len(strconv.Itoa(numStages))
	return filepath.Join(dir, "stages", fmt.Sprintf("%0*d_%s", digits, idx, uid))
}

// loadedStage is one stage directory read from disk.
type loadedStage struct {
	dir   string
	md    *Metadata
	stage Stage // StringIndexer, VectorAssembler or Bucketizer
	model *forest.Model
	info  ModelInfo
}

// readStage reads any supported stage from dir.
func readStage(dir string) (*loadedStage, error) {
	md, err := ReadMetadata(dir)
	if err != nil {
		return nil, err
	}
	ls := &loadedStage{dir: dir, md: md}
	switch md.Class {
	case ClassRandomForest:
		ls.model, ls.info, _, err = ReadRandomForest(dir)
	case ClassStringIndexer:
		ls.stage, err = readStringIndexer(dir, md)
	case ClassVectorAssemble:
		ls.stage, err = readVectorAssembler(md)
	case ClassBucketizer:
		ls.stage, err = readBucketizer(md)
	default:
		err = fmt.Errorf("%s: stage class %s is not supported (supported: RandomForestClassificationModel, StringIndexerModel, VectorAssembler, Bucketizer)", md.Path, md.Class)
	}
	if err != nil {
		return nil, err
	}
	return ls, nil
}

// LoadPipeline loads a pipeline from dir, which is either a Spark
// PipelineModel directory, a lone RandomForestClassificationModel
// directory, or a directory of per-stage directories (the course layout).
// In the last case the stages are ordered by their column dependencies.
// A Bucketizer writing the classifier's label column becomes the label
// stage. The result is validated; nothing is returned on any error.
func LoadPipeline(dir string) (*Pipeline, error) {
	var stages []*loadedStage
	layout := ""
	if _, err := os.Stat(filepath.Join(dir, "metadata")); err == nil {
		md, err := ReadMetadata(dir)
		if err != nil {
			return nil, err
		}
		switch md.Class {
		case ClassPipelineModel:
			layout = "PipelineModel"
			var uids []string
			if err := decodeParam(md, "stageUids", false, &uids, decodeJSON[[]string]); err != nil {
				return nil, err
			}
			for i, uid := range uids {
				sd := stagePath(dir, i, len(uids), uid)
				ls, err := readStage(sd)
				if err != nil {
					return nil, err
				}
				if ls.md.UID != uid {
					return nil, fmt.Errorf("%s: stage uid %s, the pipeline metadata lists %s", ls.md.Path, ls.md.UID, uid)
				}
				stages = append(stages, ls)
			}
		case ClassRandomForest:
			layout = "model"
			ls, err := readStage(dir)
			if err != nil {
				return nil, err
			}
			stages = append(stages, ls)
		default:
			return nil, fmt.Errorf("%s: class %s is neither a PipelineModel nor a RandomForestClassificationModel", md.Path, md.Class)
		}
	} else {
		layout = "stage directories"
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("load pipeline: %w", err)
		}
		for _, e := range entries {
			if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			sd := filepath.Join(dir, e.Name())
			if _, err := os.Stat(filepath.Join(sd, "metadata")); err != nil {
				continue
			}
			ls, err := readStage(sd)
			if err != nil {
				return nil, err
			}
			stages = append(stages, ls)
		}
		if len(stages) == 0 {
			return nil, fmt.Errorf("%s: neither a Spark model directory (no metadata/) nor a directory of stage directories", dir)
		}
	}
	return assemble(dir, layout, stages)
}

// assemble builds a Pipeline from loaded stages.
func assemble(dir, layout string, loaded []*loadedStage) (*Pipeline, error) {
	p := &Pipeline{Source: &Source{Dir: dir, Layout: layout, SparkVersions: map[string]string{}, StageDirs: map[string]string{}}}
	var feature []*loadedStage
	for _, ls := range loaded {
		p.Source.SparkVersions[ls.md.UID] = ls.md.SparkVersion
		p.Source.StageDirs[ls.md.UID] = ls.dir
		if ls.model != nil {
			if p.Model != nil {
				return nil, fmt.Errorf("%s: two classifiers (%s and %s)", dir, p.ModelInfo.UID, ls.info.UID)
			}
			p.Model, p.ModelInfo = ls.model, ls.info
			continue
		}
		feature = append(feature, ls)
	}
	if p.Model == nil {
		return nil, fmt.Errorf("%s: no RandomForestClassificationModel stage", dir)
	}
	var rest []*loadedStage
	for _, ls := range feature {
		if b, ok := ls.stage.(*Bucketizer); ok && b.OutputCol == p.ModelInfo.LabelCol && p.Label == nil {
			p.Label = b
			continue
		}
		rest = append(rest, ls)
	}
	if layout == "stage directories" {
		var err error
		if rest, err = orderStages(rest, p.ModelInfo.FeaturesCol); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
	}
	for _, ls := range rest {
		p.Stages = append(p.Stages, ls.stage)
	}
	if cf := p.CategoricalFeatures(); cf != nil {
		p.Model.Params.CategoricalFeatures = cf
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return p, nil
}

// orderStages orders independently saved stages so that every stage runs
// after the stages producing its inputs. Among ready stages, the one whose
// output comes first in the assembler's inputs goes first, then by
// directory name, so the order is deterministic.
func orderStages(stages []*loadedStage, featuresCol string) ([]*loadedStage, error) {
	producer := map[string]int{}
	for i, ls := range stages {
		for _, out := range ls.stage.OutputCols() {
			producer[out] = i
		}
	}
	rank := func(ls *loadedStage) int {
		for _, other := range stages {
			if va, ok := other.stage.(*VectorAssembler); ok && va.OutputCol == featuresCol {
				for j, in := range va.Inputs {
					if slices.Contains(ls.stage.OutputCols(), in) {
						return j
					}
				}
			}
		}
		return math.MaxInt
	}
	done := make([]bool, len(stages))
	var out []*loadedStage
	for len(out) < len(stages) {
		best := -1
		for i, ls := range stages {
			if done[i] {
				continue
			}
			ready := true
			for _, in := range ls.stage.InputCols() {
				if j, ok := producer[in]; ok && !done[j] && j != i {
					ready = false
				}
			}
			if !ready {
				continue
			}
			if best < 0 || rank(ls) < rank(stages[best]) || (rank(ls) == rank(stages[best]) && ls.dir < stages[best].dir) {
				best = i
			}
		}
		if best < 0 {
			return nil, errors.New("the stages' input and output columns form a cycle")
		}
		done[best] = true
		out = append(out, stages[best])
	}
	return out, nil
}

// DecodeRow decodes one JSON object into a row, keeping numbers exact
// (json.Number) so that string indexing of numeric fields matches Spark.
func DecodeRow(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var row map[string]any
	if err := dec.Decode(&row); err != nil {
		return nil, err
	}
	if row == nil {
		return nil, errors.New("not a JSON object")
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	return row, nil
}
