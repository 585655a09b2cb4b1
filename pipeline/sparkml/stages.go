package sparkml

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/parquet-go/parquet-go"
)

// ErrSkipRow is returned (wrapped) by Transform when a stage with
// handleInvalid "skip" drops the row, as Spark filters it out.
var ErrSkipRow = errors.New("row skipped (handleInvalid = skip)")

// Stage is a feature transformer of a Spark pipeline: StringIndexer,
// VectorAssembler or Bucketizer. Rows are maps from column name to value
// (string, float64, json.Number, bool, []float64 or nil).
type Stage interface {
	// SparkClass is the Spark class name the stage is saved as.
	SparkClass() string
	// StageUID is the stage's Spark uid.
	StageUID() string
	// InputCols and OutputCols name the columns read and written.
	InputCols() []string
	OutputCols() []string
	// Params lists the stage's params for display, in a stable order.
	Params() []Param

	transform(row map[string]any) error
	write(dir string, cfg *saveConfig) error
}

// Param is one named param value of a stage, for display.
type Param struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// derivedUID builds a Spark-style uid, prefix_<12 hex digits>, from a hash
// of seed, so that the same stage always gets the same uid.
func derivedUID(prefix, seed string) string {
	h := sha256.Sum256([]byte(prefix + "\x00" + seed))
	return prefix + "_" + hex.EncodeToString(h[:6])
}

// validHandleInvalid checks a handleInvalid value against the allowed set.
func validHandleInvalid(v string, allowed ...string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return fmt.Errorf("handleInvalid %q, want one of %v", v, allowed)
}

// ---- StringIndexer ----

// StringIndexer is a fitted StringIndexerModel: each input column's string
// value is replaced by its position in that column's Labels.
type StringIndexer struct {
	UID     string
	Inputs  []string
	Outputs []string
	// Labels holds, per input column, the labels in index order.
	Labels [][]string
	// HandleInvalid is "error" (unseen or null values fail), "skip" (the row
	// is dropped) or "keep" (they get index len(labels)).
	HandleInvalid string
	// StringOrderType is how the labels were ordered when fitted
	// (frequencyDesc by default); kept for saving.
	StringOrderType string

	index []map[string]int
}

// NewStringIndexer returns a single-column indexer with a uid derived from
// its output column.
func NewStringIndexer(inputCol, outputCol string, labels []string, handleInvalid string) *StringIndexer {
	s := &StringIndexer{
		UID:    derivedUID("StringIndexer", outputCol),
		Inputs: []string{inputCol}, Outputs: []string{outputCol},
		Labels: [][]string{labels}, HandleInvalid: handleInvalid, StringOrderType: "frequencyDesc",
	}
	s.buildIndex()
	return s
}

func (s *StringIndexer) buildIndex() {
	s.index = make([]map[string]int, len(s.Labels))
	for i, labels := range s.Labels {
		m := make(map[string]int, len(labels))
		for j, l := range labels {
			if _, dup := m[l]; !dup {
				m[l] = j
			}
		}
		s.index[i] = m
	}
}

// SparkClass implements Stage.
func (s *StringIndexer) SparkClass() string { return ClassStringIndexer }

// StageUID implements Stage.
func (s *StringIndexer) StageUID() string { return s.UID }

// InputCols implements Stage.
func (s *StringIndexer) InputCols() []string { return s.Inputs }

// OutputCols implements Stage.
func (s *StringIndexer) OutputCols() []string { return s.Outputs }

// NumIndices is the number of distinct indices column i can produce: the
// label count, plus one for the unseen bucket with handleInvalid "keep".
// This is the nominal arity Spark attaches to the output column.
func (s *StringIndexer) NumIndices(i int) int {
	n := len(s.Labels[i])
	if s.HandleInvalid == "keep" {
		n++
	}
	return n
}

// Params implements Stage.
func (s *StringIndexer) Params() []Param {
	counts := make([]int, len(s.Labels))
	for i, l := range s.Labels {
		counts[i] = len(l)
	}
	return []Param{
		{"inputCols", s.Inputs}, {"outputCols", s.Outputs}, {"handleInvalid", s.HandleInvalid},
		{"stringOrderType", s.StringOrderType}, {"numLabels", counts},
	}
}

// Index returns the index of value in input column i the way Spark's
// StringIndexerModel computes it; ok is false when the row is skipped.
func (s *StringIndexer) Index(i int, value any) (idx float64, err error) {
	labels := s.Labels[i]
	if value == nil {
		switch s.HandleInvalid {
		case "keep":
			return float64(len(labels)), nil
		case "skip":
			return 0, fmt.Errorf("StringIndexer %s: %s is null: %w", s.UID, s.Inputs[i], ErrSkipRow)
		}
		return 0, fmt.Errorf("StringIndexer %s encountered a null value in %s; set handleInvalid to keep or skip to accept nulls", s.UID, s.Inputs[i])
	}
	str, err := sparkString(value)
	if err != nil {
		return 0, fmt.Errorf("StringIndexer %s: column %s: %w", s.UID, s.Inputs[i], err)
	}
	if s.index != nil {
		if j, ok := s.index[i][str]; ok {
			return float64(j), nil
		}
	} else if j := slices.Index(labels, str); j >= 0 {
		return float64(j), nil
	}
	switch s.HandleInvalid {
	case "keep":
		return float64(len(labels)), nil
	case "skip":
		return 0, fmt.Errorf("StringIndexer %s: unseen label %q in %s: %w", s.UID, str, s.Inputs[i], ErrSkipRow)
	}
	return 0, fmt.Errorf("StringIndexer %s: unseen label %q in column %s (the model knows %d labels; handleInvalid = %s)", s.UID, str, s.Inputs[i], len(labels), s.HandleInvalid)
}

func (s *StringIndexer) transform(row map[string]any) error {
	for i, in := range s.Inputs {
		idx, err := s.Index(i, row[in])
		if err != nil {
			return err
		}
		row[s.Outputs[i]] = idx
	}
	return nil
}

// sparkString renders a row value as Spark's cast to string does for the
// JSON types a row can hold.
func sparkString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case float64:
		return JavaDoubleString(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("value %v (%T) cannot be indexed as a string", v, v)
}

var stringIndexerLabelsFields = []sqlField{
	{"labelsArray", sqlArray(sqlArray(sqlString, true), true), true},
}

type stringIndexerRow struct {
	LabelsArray [][]string `parquet:"labelsArray"`
}

func (s *StringIndexer) validate() error {
	if len(s.Inputs) == 0 || len(s.Inputs) != len(s.Outputs) || len(s.Inputs) != len(s.Labels) {
		return fmt.Errorf("StringIndexer %s: %d input columns, %d output columns and %d label lists; want the same non-zero number", s.UID, len(s.Inputs), len(s.Outputs), len(s.Labels))
	}
	return validHandleInvalid(s.HandleInvalid, "error", "skip", "keep")
}

func (s *StringIndexer) write(dir string, cfg *saveConfig) error {
	if err := s.validate(); err != nil {
		return err
	}
	params := []jsonField{{"handleInvalid", jsonString(s.HandleInvalid)}}
	if len(s.Inputs) == 1 {
		params = append(params, jsonField{"inputCol", jsonString(s.Inputs[0])}, jsonField{"outputCol", jsonString(s.Outputs[0])})
	} else {
		params = append(params, jsonField{"inputCols", jsonStrings(s.Inputs)}, jsonField{"outputCols", jsonStrings(s.Outputs)})
	}
	order := s.StringOrderType
	if order == "" {
		order = "frequencyDesc"
	}
	params = append(params, jsonField{"stringOrderType", jsonString(order)})
	defaults := []jsonField{
		{"handleInvalid", jsonString("error")},
		{"outputCol", jsonString(s.UID + "__output")},
		{"stringOrderType", jsonString("frequencyDesc")},
	}
	if err := writeMetadataDir(dir, encodeMetadata(ClassStringIndexer, cfg.timestamp(), cfg.sparkVersion, s.UID, params, defaults, nil)); err != nil {
		return err
	}
	labels := make([][]string, len(s.Labels))
	for i, l := range s.Labels {
		labels[i] = append([]string{}, l...)
	}
	return writeParquetDir(filepath.Join(dir, "data"), s.UID+"/data", stringIndexerLabelsFields, []stringIndexerRow{{labels}}, cfg)
}

// readStringIndexer reads a StringIndexerModel (Spark 2.x "labels" or 3.x
// "labelsArray" data).
func readStringIndexer(dir string, md *Metadata) (*StringIndexer, error) {
	s := &StringIndexer{UID: md.UID, HandleInvalid: "error", StringOrderType: "frequencyDesc"}
	var in, out string
	errs := []error{
		decodeParam(md, "handleInvalid", true, &s.HandleInvalid, decodeJSON[string]),
		decodeParam(md, "stringOrderType", true, &s.StringOrderType, decodeJSON[string]),
		decodeParam(md, "inputCols", true, &s.Inputs, decodeJSON[[]string]),
		decodeParam(md, "outputCols", true, &s.Outputs, decodeJSON[[]string]),
	}
	// A single-column indexer sets inputCol/outputCol; outputCol always has
	// a default, so it only counts when inputCol is set.
	if _, ok := md.ParamMap["inputCol"]; ok {
		errs = append(errs,
			decodeParam(md, "inputCol", false, &in, decodeJSON[string]),
			decodeParam(md, "outputCol", false, &out, decodeJSON[string]))
		s.Inputs, s.Outputs = []string{in}, []string{out}
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	parts, err := partFiles(filepath.Join(dir, "data"), ".parquet")
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		t, err := openTable(p)
		if err != nil {
			return nil, err
		}
		var col column
		switch {
		case t.has("labelsArray.list.element.list.element"):
			col, err = t.column("labelsArray.list.element.list.element", parquet.ByteArray)
		case t.has("labels.list.element"):
			col, err = t.column("labels.list.element", parquet.ByteArray)
		default:
			err = fmt.Errorf("%s: StringIndexerModel data has neither labels nor labelsArray (columns: %s)", p, t.columnNames())
		}
		if err != nil {
			return nil, err
		}
		err = t.rows(func(r rowValues) error {
			labels, err := r.stringLists(col)
			if err != nil {
				return err
			}
			s.Labels = append(s.Labels, labels...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	s.buildIndex()
	return s, nil
}

// ---- VectorAssembler ----

// VectorAssembler concatenates numeric columns into the feature vector.
type VectorAssembler struct {
	UID       string
	Inputs    []string
	OutputCol string
	// HandleInvalid says what a null or NaN input does: "error" (fail),
	// "skip" (drop the row) or "keep" (NaN in the vector).
	HandleInvalid string
}

// NewVectorAssembler returns an assembler with a uid derived from its
// output column.
func NewVectorAssembler(inputCols []string, outputCol, handleInvalid string) *VectorAssembler {
	return &VectorAssembler{UID: derivedUID("VectorAssembler", outputCol), Inputs: inputCols, OutputCol: outputCol, HandleInvalid: handleInvalid}
}

// SparkClass implements Stage.
func (a *VectorAssembler) SparkClass() string { return ClassVectorAssemble }

// StageUID implements Stage.
func (a *VectorAssembler) StageUID() string { return a.UID }

// InputCols implements Stage.
func (a *VectorAssembler) InputCols() []string { return a.Inputs }

// OutputCols implements Stage.
func (a *VectorAssembler) OutputCols() []string { return []string{a.OutputCol} }

// Params implements Stage.
func (a *VectorAssembler) Params() []Param {
	return []Param{{"inputCols", a.Inputs}, {"outputCol", a.OutputCol}, {"handleInvalid", a.HandleInvalid}}
}

func (a *VectorAssembler) transform(row map[string]any) error {
	vec := make([]float64, 0, len(a.Inputs))
	for _, in := range a.Inputs {
		v := row[in]
		if vs, ok := v.([]float64); ok {
			vec = append(vec, vs...)
			continue
		}
		x, isNull, err := numericValue(v)
		if err != nil {
			return fmt.Errorf("VectorAssembler %s: column %s: %w", a.UID, in, err)
		}
		if isNull || math.IsNaN(x) {
			what := "NaN"
			if isNull {
				what = "null"
			}
			switch a.HandleInvalid {
			case "keep":
				x = math.NaN()
			case "skip":
				return fmt.Errorf("VectorAssembler %s: %s is %s: %w", a.UID, in, what, ErrSkipRow)
			default:
				return fmt.Errorf("VectorAssembler %s: column %s is %s (missing) and handleInvalid = %q; supply a value or pass a pre-assembled {\"features\": [...]} row", a.UID, in, what, a.HandleInvalid)
			}
		}
		vec = append(vec, x)
	}
	row[a.OutputCol] = vec
	return nil
}

// numericValue converts a row value to a double as Spark's VectorAssembler
// accepts it (numbers and booleans); nil is reported as null.
func numericValue(v any) (x float64, isNull bool, err error) {
	switch t := v.(type) {
	case nil:
		return 0, true, nil
	case float64:
		return t, false, nil
	case float32:
		return float64(t), false, nil
	case int:
		return float64(t), false, nil
	case int32:
		return float64(t), false, nil
	case int64:
		return float64(t), false, nil
	case json.Number:
		f, err := strconv.ParseFloat(t.String(), 64)
		if err != nil {
			return 0, false, fmt.Errorf("number %s: %w", t, err)
		}
		return f, false, nil
	case bool:
		if t {
			return 1, false, nil
		}
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("value %v (%T) is not numeric", v, v)
}

func (a *VectorAssembler) write(dir string, cfg *saveConfig) error {
	if err := validHandleInvalid(a.HandleInvalid, "error", "skip", "keep"); err != nil {
		return fmt.Errorf("VectorAssembler %s: %w", a.UID, err)
	}
	params := []jsonField{
		{"handleInvalid", jsonString(a.HandleInvalid)},
		{"inputCols", jsonStrings(a.Inputs)},
		{"outputCol", jsonString(a.OutputCol)},
	}
	defaults := []jsonField{
		{"handleInvalid", jsonString("error")},
		{"outputCol", jsonString(a.UID + "__output")},
	}
	return writeMetadataDir(dir, encodeMetadata(ClassVectorAssemble, cfg.timestamp(), cfg.sparkVersion, a.UID, params, defaults, nil))
}

func readVectorAssembler(md *Metadata) (*VectorAssembler, error) {
	a := &VectorAssembler{UID: md.UID, HandleInvalid: "error"}
	for _, err := range []error{
		decodeParam(md, "inputCols", false, &a.Inputs, decodeJSON[[]string]),
		decodeParam(md, "outputCol", false, &a.OutputCol, decodeJSON[string]),
		decodeParam(md, "handleInvalid", true, &a.HandleInvalid, decodeJSON[string]),
	} {
		if err != nil {
			return nil, err
		}
	}
	if len(a.Inputs) == 0 {
		return nil, fmt.Errorf("%s: VectorAssembler has no inputCols", md.Path)
	}
	if err := validHandleInvalid(a.HandleInvalid, "error", "skip", "keep"); err != nil {
		return nil, fmt.Errorf("%s: %w", md.Path, err)
	}
	return a, nil
}

// ---- Bucketizer ----

// Bucketizer maps a continuous column to bucket indices: bucket i holds
// [Splits[i], Splits[i+1]), the last bucket also holds Splits[len-1].
type Bucketizer struct {
	UID       string
	InputCol  string
	OutputCol string
	Splits    []float64
	// HandleInvalid says what NaN does: "error", "skip" (drop the row) or
	// "keep" (an extra bucket, index len(Splits)-1).
	HandleInvalid string
}

// NewBucketizer returns a Bucketizer with a uid derived from its output
// column.
func NewBucketizer(inputCol, outputCol string, splits []float64, handleInvalid string) *Bucketizer {
	return &Bucketizer{UID: derivedUID("Bucketizer", outputCol), InputCol: inputCol, OutputCol: outputCol, Splits: splits, HandleInvalid: handleInvalid}
}

// SparkClass implements Stage.
func (b *Bucketizer) SparkClass() string { return ClassBucketizer }

// StageUID implements Stage.
func (b *Bucketizer) StageUID() string { return b.UID }

// InputCols implements Stage.
func (b *Bucketizer) InputCols() []string { return []string{b.InputCol} }

// OutputCols implements Stage.
func (b *Bucketizer) OutputCols() []string { return []string{b.OutputCol} }

// Params implements Stage.
func (b *Bucketizer) Params() []Param {
	return []Param{{"inputCol", b.InputCol}, {"outputCol", b.OutputCol}, {"splits", splitStrings(b.Splits)}, {"handleInvalid", b.HandleInvalid}}
}

func splitStrings(s []float64) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = formatSplit(v)
	}
	return out
}

func formatSplit(v float64) string {
	switch {
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsInf(v, 1):
		return "Inf"
	}
	return JavaDoubleString(v)
}

// NumBuckets is the number of output values, counting the NaN bucket of
// handleInvalid "keep".
func (b *Bucketizer) NumBuckets() int {
	n := len(b.Splits) - 1
	if b.HandleInvalid == "keep" {
		n++
	}
	return n
}

// BucketLabel describes bucket i, e.g. "[-15.0, 0.0)"; the last bucket is
// closed ("[30.0, Inf]") and the keep bucket is "NaN".
func (b *Bucketizer) BucketLabel(i int) string {
	switch {
	case i >= 0 && i < len(b.Splits)-2:
		return "[" + formatSplit(b.Splits[i]) + ", " + formatSplit(b.Splits[i+1]) + ")"
	case i == len(b.Splits)-2:
		return "[" + formatSplit(b.Splits[i]) + ", " + formatSplit(b.Splits[i+1]) + "]"
	case i == len(b.Splits)-1 && b.HandleInvalid == "keep":
		return "NaN"
	}
	return ""
}

// Bucket returns the bucket of x with Spark's binarySearchForBuckets
// semantics: NaN goes to the extra bucket with "keep" and fails otherwise
// ("skip" rows are dropped before bucketing: the error wraps ErrSkipRow);
// x equal to the last split is in the last bucket; values outside
// [first, last] fail whatever handleInvalid says.
func (b *Bucketizer) Bucket(x float64) (float64, error) {
	s := b.Splits
	if math.IsNaN(x) {
		switch b.HandleInvalid {
		case "keep":
			return float64(len(s) - 1), nil
		case "skip":
			return 0, fmt.Errorf("Bucketizer %s: NaN in %s: %w", b.UID, b.InputCol, ErrSkipRow)
		}
		return 0, fmt.Errorf("Bucketizer %s encountered NaN in %s; set handleInvalid to keep or skip", b.UID, b.InputCol)
	}
	if x == s[len(s)-1] {
		return float64(len(s) - 2), nil
	}
	// Java's Arrays.binarySearch(double[], key) with Double.compare order.
	lo, hi := 0, len(s)-1
	for lo <= hi {
		mid := int(uint(lo+hi) >> 1)
		switch c := javaCompare(s[mid], x); {
		case c < 0:
			lo = mid + 1
		case c > 0:
			hi = mid - 1
		default:
			return float64(mid), nil
		}
	}
	if lo == 0 || lo == len(s) {
		return 0, fmt.Errorf("Bucketizer %s: value %v of %s is out of the bounds [%v, %v]", b.UID, x, b.InputCol, s[0], s[len(s)-1])
	}
	return float64(lo - 1), nil
}

// javaCompare is Java's Double.compare for non-NaN values: -0.0 < 0.0.
func javaCompare(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	sa, sb := math.Signbit(a), math.Signbit(b)
	switch {
	case sa && !sb:
		return -1
	case !sa && sb:
		return 1
	}
	return 0
}

func (b *Bucketizer) transform(row map[string]any) error {
	x, isNull, err := numericValue(row[b.InputCol])
	if err != nil {
		return fmt.Errorf("Bucketizer %s: column %s: %w", b.UID, b.InputCol, err)
	}
	if isNull {
		// Spark does not call the bucketing function on null: the output is
		// null (with "skip" the row is dropped).
		if b.HandleInvalid == "skip" {
			return fmt.Errorf("Bucketizer %s: %s is null: %w", b.UID, b.InputCol, ErrSkipRow)
		}
		row[b.OutputCol] = nil
		return nil
	}
	k, err := b.Bucket(x)
	if err != nil {
		return err
	}
	row[b.OutputCol] = k
	return nil
}

func (b *Bucketizer) validate() error {
	if len(b.Splits) < 3 {
		return fmt.Errorf("Bucketizer %s: %d splits, want at least 3", b.UID, len(b.Splits))
	}
	for i := 1; i < len(b.Splits); i++ {
		if !(b.Splits[i] > b.Splits[i-1]) {
			return fmt.Errorf("Bucketizer %s: splits must be strictly increasing, got %v then %v", b.UID, b.Splits[i-1], b.Splits[i])
		}
	}
	return validHandleInvalid(b.HandleInvalid, "error", "skip", "keep")
}

func (b *Bucketizer) write(dir string, cfg *saveConfig) error {
	if err := b.validate(); err != nil {
		return err
	}
	params := []jsonField{
		{"handleInvalid", jsonString(b.HandleInvalid)},
		{"inputCol", jsonString(b.InputCol)},
		{"outputCol", jsonString(b.OutputCol)},
		{"splits", jsonDoubles(b.Splits)},
	}
	defaults := []jsonField{
		{"handleInvalid", jsonString("error")},
		{"outputCol", jsonString(b.UID + "__output")},
	}
	return writeMetadataDir(dir, encodeMetadata(ClassBucketizer, cfg.timestamp(), cfg.sparkVersion, b.UID, params, defaults, nil))
}

func readBucketizer(md *Metadata) (*Bucketizer, error) {
	if _, multi := md.ParamMap["splitsArray"]; multi {
		return nil, fmt.Errorf("%s: multi-column Bucketizer (splitsArray) is not supported", md.Path)
	}
	b := &Bucketizer{UID: md.UID, HandleInvalid: "error"}
	for _, err := range []error{
		decodeParam(md, "inputCol", false, &b.InputCol, decodeJSON[string]),
		decodeParam(md, "outputCol", false, &b.OutputCol, decodeJSON[string]),
		decodeParam(md, "splits", false, &b.Splits, decodeDoubles),
		decodeParam(md, "handleInvalid", true, &b.HandleInvalid, decodeJSON[string]),
	} {
		if err != nil {
			return nil, err
		}
	}
	if err := b.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", md.Path, err)
	}
	return b, nil
}
