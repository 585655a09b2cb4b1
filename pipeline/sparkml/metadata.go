package sparkml

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Metadata is the JSON document Spark's DefaultParamsWriter stores in
// <stage>/metadata/part-00000 (Spark 4: part-00000-<uuid>-c000.txt).
type Metadata struct {
	// Class is the fully qualified Scala class of the stage.
	Class string
	// Timestamp is the save time in milliseconds since the epoch.
	Timestamp int64
	// SparkVersion is the version of Spark that wrote the stage.
	SparkVersion string
	// UID is the stage's unique id, e.g. "StringIndexer_4196176b7f09".
	UID string
	// ParamMap holds the explicitly set params, as JSON values.
	ParamMap map[string]json.RawMessage
	// DefaultParamMap holds the default params; nil before Spark 2.4.
	DefaultParamMap map[string]json.RawMessage
	// Extra holds the stage-specific top-level keys (numFeatures, …).
	Extra map[string]json.RawMessage
	// Path is the file the metadata was read from, for error messages.
	Path string
}

// metadataKeys are the top-level keys every Spark stage writes; anything
// else is a stage-specific extra.
var metadataKeys = []string{"class", "timestamp", "sparkVersion", "uid", "paramMap", "defaultParamMap"}

// ReadMetadata reads the metadata of the stage saved in dir: the single JSON
// line in dir/metadata/part-*. _SUCCESS, .crc and hidden files are ignored.
func ReadMetadata(dir string) (*Metadata, error) {
	mdir := filepath.Join(dir, "metadata")
	parts, err := partFiles(mdir, "")
	if err != nil {
		return nil, err
	}
	var lines [][]byte
	var path string
	for _, p := range parts {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read stage metadata: %w", err)
		}
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) > 0 {
				lines = append(lines, line)
				path = p
			}
		}
	}
	switch len(lines) {
	case 0:
		return nil, fmt.Errorf("%s: stage metadata is empty (truncated save?)", filepath.Join(mdir, "part-00000"))
	case 1:
	default:
		return nil, fmt.Errorf("%s: stage metadata has %d JSON lines, want exactly 1", mdir, len(lines))
	}
	return ParseMetadata(lines[0], path)
}

// ParseMetadata parses one stage metadata document; path names its file in
// error messages. It checks that the fields Spark's reader requires are
// present and have the right JSON types.
func ParseMetadata(data []byte, path string) (*Metadata, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: corrupt stage metadata: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: corrupt stage metadata: trailing data after the JSON object", path)
	}
	if raw == nil {
		return nil, fmt.Errorf("%s: corrupt stage metadata: not a JSON object", path)
	}
	m := &Metadata{Path: path, Extra: map[string]json.RawMessage{}}
	field := func(key string, dst any) error {
		v, ok := raw[key]
		if !ok {
			return fmt.Errorf("%s: stage metadata has no %q field", path, key)
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("%s: stage metadata field %q: %w", path, key, err)
		}
		return nil
	}
	if err := field("class", &m.Class); err != nil {
		return nil, err
	}
	if err := field("uid", &m.UID); err != nil {
		return nil, err
	}
	if err := field("sparkVersion", &m.SparkVersion); err != nil {
		return nil, err
	}
	if err := field("timestamp", &m.Timestamp); err != nil {
		return nil, err
	}
	if err := field("paramMap", &m.ParamMap); err != nil {
		return nil, err
	}
	if m.Class == "" || m.UID == "" {
		return nil, fmt.Errorf("%s: stage metadata has an empty class or uid", path)
	}
	if m.ParamMap == nil {
		return nil, fmt.Errorf("%s: stage metadata field \"paramMap\" is not a JSON object", path)
	}
	if _, _, err := SparkMajorMinor(m.SparkVersion); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, ok := raw["defaultParamMap"]; ok {
		if err := field("defaultParamMap", &m.DefaultParamMap); err != nil {
			return nil, err
		}
		if m.DefaultParamMap == nil {
			m.DefaultParamMap = map[string]json.RawMessage{}
		}
	}
	for k, v := range raw {
		if !slices.Contains(metadataKeys, k) {
			m.Extra[k] = v
		}
	}
	return m, nil
}

// SparkMajorMinor parses the major and minor numbers of a Spark version such
// as "3.3.3" or "4.0.0-preview1".
func SparkMajorMinor(v string) (major, minor int, err error) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, fmt.Errorf("sparkVersion %q is not major.minor[.patch]", v)
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil || major < 1 {
		return 0, 0, fmt.Errorf("sparkVersion %q is not major.minor[.patch]", v)
	}
	return major, minor, nil
}

// param returns the JSON value of a param: the explicitly set value, else
// the default, as Spark resolves it.
func (m *Metadata) param(name string) (json.RawMessage, bool) {
	if v, ok := m.ParamMap[name]; ok {
		return v, true
	}
	v, ok := m.DefaultParamMap[name]
	return v, ok
}

// errMissingParam marks a required param that is absent from both maps.
var errMissingParam = errors.New("missing")

// decodeParam decodes param name into dst with decode; a missing param
// leaves dst untouched when optional, else it is an error naming the file.
func decodeParam[T any](m *Metadata, name string, optional bool, dst *T, decode func(json.RawMessage) (T, error)) error {
	v, ok := m.param(name)
	if !ok {
		if optional {
			return nil
		}
		return fmt.Errorf("%s: param %q: %w", m.Path, name, errMissingParam)
	}
	x, err := decode(v)
	if err != nil {
		return fmt.Errorf("%s: param %q: %w", m.Path, name, err)
	}
	*dst = x
	return nil
}

func decodeJSON[T any](v json.RawMessage) (T, error) {
	var x T
	err := json.Unmarshal(v, &x)
	return x, err
}

// decodeDouble decodes a Spark DoubleParam value: a JSON number or one of
// the strings "NaN", "-Inf", "Inf" Spark uses for non-finite values.
func decodeDouble(v json.RawMessage) (float64, error) {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return parseSparkDoubleString(s)
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		return 0, fmt.Errorf("want a number or \"NaN\"/\"-Inf\"/\"Inf\": %w", err)
	}
	return f, nil
}

func parseSparkDoubleString(s string) (float64, error) {
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "Inf":
		return math.Inf(1), nil
	}
	return 0, fmt.Errorf("cannot decode %q to a double", s)
}

// decodeDoubles decodes a Spark DoubleArrayParam value.
func decodeDoubles(v json.RawMessage) ([]float64, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, err
	}
	out := make([]float64, len(items))
	for i, it := range items {
		f, err := decodeDouble(it)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		out[i] = f
	}
	return out, nil
}

// jsonField is one key of a JSON object written in a fixed order, so that
// the same model always produces the same bytes.
type jsonField struct {
	Key   string
	Value json.RawMessage
}

// encodeObject writes fields as a compact JSON object in the given order.
func encodeObject(fields []jsonField) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(f.Key))
		b.WriteByte(':')
		b.Write(f.Value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// encodeMetadata renders stage metadata the way DefaultParamsWriter does:
// class, timestamp, sparkVersion, uid, paramMap, defaultParamMap, then the
// stage-specific extra keys.
func encodeMetadata(class string, timestamp int64, sparkVersion, uid string, params, defaults, extra []jsonField) []byte {
	fields := []jsonField{
		{"class", jsonString(class)},
		{"timestamp", jsonInt(timestamp)},
		{"sparkVersion", jsonString(sparkVersion)},
		{"uid", jsonString(uid)},
		{"paramMap", encodeObject(params)},
		{"defaultParamMap", encodeObject(defaults)},
	}
	return encodeObject(append(fields, extra...))
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

func jsonStrings(s []string) json.RawMessage {
	if s == nil {
		s = []string{}
	}
	b, _ := json.Marshal(s)
	return b
}

func jsonInt[T ~int | ~int32 | ~int64](v T) json.RawMessage {
	return json.RawMessage(strconv.FormatInt(int64(v), 10))
}

func jsonBool(v bool) json.RawMessage { return json.RawMessage(strconv.FormatBool(v)) }

// jsonDouble encodes a double as Spark's DoubleParam does: non-finite values
// as the strings "NaN", "-Inf", "Inf", finite values in Java's
// Double.toString form (always with a fraction or exponent, e.g. 0.0 or
// 1.0E-4), because Spark's decoder rejects a JSON integer for a double.
func jsonDouble(v float64) json.RawMessage {
	switch {
	case math.IsNaN(v):
		return jsonString("NaN")
	case math.IsInf(v, -1):
		return jsonString("-Inf")
	case math.IsInf(v, 1):
		return jsonString("Inf")
	}
	return json.RawMessage(JavaDoubleString(v))
}

func jsonDoubles(vs []float64) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonDouble(v))
	}
	b.WriteByte(']')
	return b.Bytes()
}

// JavaDoubleString formats a finite double like Java's Double.toString
// (shortest round-trip digits): plain notation with at least one fraction
// digit for 1e-3 <= |v| < 1e7, otherwise d.dddE±n.
func JavaDoubleString(v float64) string {
	if v == 0 {
		if math.Signbit(v) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(v); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(v, 'e', -1, 64) // e.g. 1.5e-05, 1e+07
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// partFiles lists dir's part-* files (sorted), ignoring _SUCCESS, checksum
// and hidden files; ext, when set, filters by suffix (".parquet").
func partFiles(dir, ext string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, "part-") || strings.HasSuffix(name, ".crc") {
			continue
		}
		if ext != "" && !strings.HasSuffix(name, ext) {
			continue
		}
		out = append(out, filepath.Join(dir, name))
	}
	if len(out) == 0 {
		if ext != "" {
			return nil, fmt.Errorf("%s: no part-*%s files (incomplete save?)", dir, ext)
		}
		return nil, fmt.Errorf("%s: no part-* files (incomplete save?)", dir)
	}
	slices.Sort(out)
	return out, nil
}
