package stagerun

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// SetEnv is the environment variable that carries parameter overrides to
// stages (and is the environment equivalent of `datalab run --set`): a JSON
// object of dotted keys to values, {"matches.forests.default.max_depth":12}.
const SetEnv = "DATALAB_SET"

var setKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// ParseSet parses `key.path=value` arguments (datalab run --set), each
// value as YAML: `max_depth=12` is an int, `variants=[form3,elo]` a list,
// `name=x` a string. A key given twice is an error.
func ParseSet(args []string) (map[string]any, error) {
	out := map[string]any{}
	for _, arg := range args {
		key, raw, ok := strings.Cut(arg, "=")
		key = strings.TrimSpace(key)
		if !ok || !setKeyRE.MatchString(key) {
			return nil, fmt.Errorf("--set %q: want key.path=value, e.g. --set matches.forests.default.max_depth=12 (list items by index: flights.variants.0.forest.max_depth=6)", arg)
		}
		var v any
		if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
			return nil, fmt.Errorf("--set %s: value %q is not valid YAML: %w (quote it: --set '%s=\"…\"')", key, raw, err, key)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("--set %s is given twice: give each key once", key)
		}
		out[key] = v
	}
	return out, nil
}

// Override sets parameters by dotted key (numeric segments index lists:
// flights.variants.0.forest.max_depth) and records them in p.Overrides.
// Every key must exist in the file's params, and each value must have the
// type of the value it replaces (an int may replace a float; a list
// replaces a list, a mapping a mapping). An unknown key is an error naming
// the closest existing keys. Stage keys hash the params, so an overridden
// stage is out of date by itself. On error p is unchanged.
func (p *Pipeline) Override(ov map[string]any) error {
	params := deepCopy(p.Params).(map[string]any)
	applied := map[string]any{}
	for _, key := range slices.Sorted(mapKeys(ov)) {
		v, err := setParam(params, key, deepCopy(ov[key]))
		if err != nil {
			if errors.Is(err, errUnknownParam) {
				return fmt.Errorf("override %s: no such parameter in %s%s", key, p.shownPath(), suggest(key, addressableKeys(p.Params)))
			}
			return fmt.Errorf("override %s: %w", key, err)
		}
		applied[key] = v
	}
	saved := p.Params
	p.Params = params
	for _, s := range p.Stages {
		if err := p.resolveParams(s); err != nil {
			p.Params = saved
			return fmt.Errorf("after the overrides: %w", err)
		}
	}
	if p.Overrides == nil {
		p.Overrides = map[string]any{}
	}
	for k, v := range applied {
		p.Overrides[k] = v
	}
	return nil
}

func (p *Pipeline) shownPath() string {
	if p.Path == "" {
		return "the pipeline's params"
	}
	return p.Path + " params"
}

var errUnknownParam = errors.New("unknown parameter")

// setParam replaces the value at key in params and returns the value set
// (an int replacing a float is stored as a float). It resolves key as
// ParamAt does.
func setParam(params map[string]any, key string, v any) (any, error) {
	var parent any = params
	last := key
	if i := strings.LastIndex(key, "."); i >= 0 {
		var ok bool
		if parent, ok = ParamAt(params, key[:i]); !ok {
			return nil, errUnknownParam
		}
		last = key[i+1:]
	}
	old, ok := paramChild(parent, last)
	if !ok {
		return nil, errUnknownParam
	}
	nv, err := sameType(old, v)
	if err != nil {
		return nil, err
	}
	switch c := parent.(type) {
	case map[string]any:
		c[last] = nv
	case []any:
		n, _ := strconv.Atoi(last)
		c[n] = nv
	}
	return nv, nil
}

// ParamAt reads the value at a dotted parameter key, the same keys an
// override names: a segment selects a mapping's key, or — all digits, no
// leading zero — a list's item (flights.variants.0.forest.max_depth).
func ParamAt(params map[string]any, key string) (any, bool) {
	var cur any = params
	for _, part := range strings.Split(key, ".") {
		var ok bool
		if cur, ok = paramChild(cur, part); !ok {
			return nil, false
		}
	}
	return cur, true
}

// paramChild returns the item part names in the mapping or list c.
func paramChild(c any, part string) (any, bool) {
	switch c := c.(type) {
	case map[string]any:
		v, ok := c[part]
		return v, ok
	case []any:
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 || n >= len(c) || strconv.Itoa(n) != part {
			return nil, false
		}
		return c[n], true
	}
	return nil, false
}

// sameType checks v may replace old and returns it in old's numeric type.
func sameType(old, v any) (any, error) {
	ko, kv := kindOf(old), kindOf(v)
	switch {
	case ko == "null" || ko == kv:
		return v, nil
	case ko == "float" && kv == "int":
		return toFloat(v), nil
	}
	return nil, fmt.Errorf("the file has %s %s, the override gives %s %s: give a %s", article(ko), ko, article(kv), kv, ko)
}

func article(kind string) string {
	if strings.IndexByte("aeiou", kind[0]) >= 0 {
		return "an"
	}
	return "a"
}

// kindOf names a parameter value's YAML type.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case int, int64, uint64:
		return "int"
	case float64:
		return "float"
	case string:
		return "string"
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	case time.Time:
		return "timestamp"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case uint64:
		return float64(n)
	}
	return v.(float64)
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// addressableKeys lists every dotted key an override can name: leaves,
// mappings and lists, and list items by index.
func addressableKeys(params map[string]any) []string {
	var keys []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if prefix != "" {
			keys = append(keys, prefix)
			prefix += "."
		}
		switch c := v.(type) {
		case map[string]any:
			for k, e := range c {
				walk(prefix+k, e)
			}
		case []any:
			for i, e := range c {
				walk(prefix+strconv.Itoa(i), e)
			}
		}
	}
	walk("", params)
	sort.Strings(keys)
	return keys
}

// suggest names the keys closest to key by edit distance (at most three,
// only those reasonably close).
func suggest(key string, keys []string) string {
	near := ClosestKeys(key, keys, 3)
	if len(near) == 0 {
		return " (see `params:` in the pipeline file for the keys)"
	}
	return "; did you mean " + strings.Join(near, ", ") + "?"
}

// ClosestKeys returns up to n of keys closest to key by edit distance,
// closest first (ties in the order given), leaving out those too far to be
// a misspelling (more than max(3, len(key)/2) edits). It answers "did you
// mean" for unknown parameters and for unknown metrics in gate rules.
func ClosestKeys(key string, keys []string, n int) []string {
	type cand struct {
		key  string
		dist int
	}
	var cs []cand
	for _, k := range keys {
		cs = append(cs, cand{k, editDistance(key, k)})
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].dist < cs[j].dist })
	limit := max(3, len(key)/2)
	var near []string
	for _, c := range cs {
		if len(near) == n || c.dist > limit {
			break
		}
		near = append(near, c.key)
	}
	return near
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// OverridesJSON renders overrides as the canonical JSON of DATALAB_SET
// (sorted keys); "" for none.
func OverridesJSON(ov map[string]any) (string, error) {
	if len(ov) == 0 {
		return "", nil
	}
	b, err := json.Marshal(ov)
	if err != nil {
		return "", fmt.Errorf("encode overrides: %w", err)
	}
	return string(b), nil
}

// ParseOverridesJSON reads DATALAB_SET's JSON object; integral numbers
// written without a fraction or exponent decode as ints, like YAML.
func ParseOverridesJSON(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf(`want a JSON object of dotted keys to values, e.g. {"matches.forests.default.max_depth":12}: %w`, err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	for k := range raw {
		if !setKeyRE.MatchString(k) {
			return nil, fmt.Errorf("key %q: want a dotted parameter key", k)
		}
	}
	return fromJSON(raw).(map[string]any), nil
}

func fromJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		if !strings.ContainsAny(v.String(), ".eE") {
			if n, err := v.Int64(); err == nil {
				return int(n)
			}
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = fromJSON(e)
		}
	case []any:
		for i, e := range v {
			v[i] = fromJSON(e)
		}
	}
	return v
}

// LoadEnv is Load followed by the overrides in $DATALAB_SET, so a stage
// command (and any CLI command reading params) sees the parameters of the
// run that started it.
func LoadEnv(path string) (*Pipeline, error) {
	p, err := Load(path)
	if err != nil {
		return nil, err
	}
	s := os.Getenv(SetEnv)
	if strings.TrimSpace(s) == "" {
		return p, nil
	}
	ov, err := ParseOverridesJSON(s)
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %w", SetEnv, s, err)
	}
	if err := p.Override(ov); err != nil {
		return nil, fmt.Errorf("%s: %w (unset it or fix the key)", SetEnv, err)
	}
	return p, nil
}

// SaveOverrides writes the override values into the pipeline file at path
// (datalab run --set … --save), atomically. Only the text of each
// overridden value changes: comments, blank lines and the rest of the
// layout stay as they are. A scalar is replaced in place; a list or
// mapping is written in flow style ([a, b], {k: v}) where the old value
// was, comments inside an old block value are dropped.
func SaveOverrides(path string, ov map[string]any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("save overrides: %w", err)
	}
	p, err := Parse(data, ".")
	if err != nil {
		return fmt.Errorf("save overrides: %s: %w", path, err)
	}
	if err := p.Override(ov); err != nil {
		return fmt.Errorf("save overrides: %w", err)
	}
	out, err := spliceOverrides(data, p.Overrides)
	if err != nil {
		return fmt.Errorf("save overrides to %s: %w", path, err)
	}
	// The edited text must parse to exactly the overridden params.
	q, err := Parse(out, ".")
	if err != nil {
		return fmt.Errorf("save overrides to %s: the edited file does not parse (%w); it was not written", path, err)
	}
	if canonical(q.Params) != canonical(p.Params) {
		return fmt.Errorf("save overrides to %s: the edited file would not hold the overridden values; it was not written (edit it by hand)", path)
	}
	return atomicfile.WriteFile(path, out)
}

// spliceOverrides replaces each overridden value's text in data.
func spliceOverrides(data []byte, ov map[string]any) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	params := mappingValue(doc.Content[0], "params")
	if params == nil {
		return nil, errors.New("no params: mapping")
	}
	lines := splitLines(data)
	type edit struct {
		start, end int // byte offsets
		text       string
	}
	var edits []edit
	for key, v := range ov {
		keyNode, valNode, container := params, params, params
		var parentKey *yaml.Node
		for _, part := range strings.Split(key, ".") {
			parentKey = nil
			container = valNode
			switch valNode.Kind {
			case yaml.MappingNode:
				for i := 0; i+1 < len(valNode.Content); i += 2 {
					if valNode.Content[i].Value == part {
						parentKey = valNode.Content[i]
						keyNode, valNode = valNode.Content[i], valNode.Content[i+1]
						break
					}
				}
			case yaml.SequenceNode:
				n, _ := strconv.Atoi(part)
				if n < len(valNode.Content) {
					keyNode, valNode = valNode, valNode.Content[n]
					parentKey = keyNode
				}
			}
			if parentKey == nil {
				return nil, fmt.Errorf("key %s not found in the file", key)
			}
		}
		start, end, err := nodeSpan(data, lines, container, keyNode, valNode)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		text := flowYAML(v)
		if valNode.Kind != yaml.ScalarNode && valNode.Style&yaml.FlowStyle == 0 {
			text = " " + text // block value: it now follows the key's colon
		}
		edits = append(edits, edit{start, end, text})
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].start > edits[j].start })
	out := append([]byte{}, data...)
	for i, e := range edits {
		if i > 0 && e.end > edits[i-1].start {
			return nil, errors.New("overrides of a value and of a key inside it: give one of them")
		}
		out = append(out[:e.start:e.start], append([]byte(e.text), out[e.end:]...)...)
	}
	return out, nil
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// splitLines returns the byte offset of the start of each line (1-based
// line n starts at lines[n-1]).
func splitLines(data []byte) []int {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// nodeSpan finds the byte range of a value's text. Scalars and flow
// collections span from their first character to their last; a block
// collection spans from just after its key's colon to the end of its last
// line with content.
func nodeSpan(data []byte, lines []int, container, keyNode, val *yaml.Node) (int, int, error) {
	offset := func(line, col int) int { return lines[line-1] + col - 1 }
	if val.Kind == yaml.AliasNode || val.Anchor != "" {
		return 0, 0, errors.New("the value uses a YAML anchor or alias; edit the file by hand")
	}
	start := offset(val.Line, val.Column)
	if val.Kind == yaml.ScalarNode {
		switch val.Style {
		case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
			return start, quotedEnd(data, start), nil
		case yaml.LiteralStyle, yaml.FoldedStyle:
			return 0, 0, errors.New("the value is a block string (| or >); edit the file by hand")
		}
		// A plain scalar ends at a comment, a flow indicator or the line end.
		end := start
		for end < len(data) && data[end] != '\n' && !(data[end] == '#' && end > start && (data[end-1] == ' ' || data[end-1] == '\t')) {
			if c := data[end]; (c == ',' || c == ']' || c == '}') && container.Style&yaml.FlowStyle != 0 {
				break
			}
			end++
		}
		for end > start && (data[end-1] == ' ' || data[end-1] == '\t') {
			end--
		}
		if string(data[start:end]) != val.Value && !plainMatches(data[start:end], val.Value) {
			return 0, 0, errors.New("a multi-line value; edit the file by hand")
		}
		return start, end, nil
	}
	if val.Style&yaml.FlowStyle != 0 {
		return start, flowEnd(data, start), nil
	}
	// Block collection: from after the key's colon to the last content line
	// indented deeper than the key (or a sequence at the key's own indent).
	if keyNode.Kind != yaml.ScalarNode {
		return 0, 0, errors.New("a block collection inside a list; edit the file by hand")
	}
	colon := bytes.IndexByte(data[offset(keyNode.Line, keyNode.Column):], ':')
	if colon < 0 {
		return 0, 0, errors.New("cannot find the key's colon")
	}
	from := offset(keyNode.Line, keyNode.Column) + colon + 1
	lineEnd := func(n int) int {
		if n < len(lines) {
			return lines[n] - 1
		}
		return len(data)
	}
	end := lineEnd(keyNode.Line)
	// Stop before key-level content; trailing blank and comment lines stay.
	for n := keyNode.Line + 1; n <= len(lines); n++ {
		text := string(data[lines[n-1]:lineEnd(n)])
		trimmed := strings.TrimLeft(text, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(text) - len(trimmed)
		if indent < keyNode.Column-1 || (indent == keyNode.Column-1 && !(val.Kind == yaml.SequenceNode && strings.HasPrefix(trimmed, "-"))) {
			break
		}
		end = lineEnd(n)
	}
	// Keep a comment on the key's own line.
	if c := bytes.Index(data[from:lineEnd(keyNode.Line)], []byte(" #")); c >= 0 && end == lineEnd(keyNode.Line) {
		end = from + c
	}
	return from, end, nil
}

func plainMatches(text []byte, value string) bool {
	var v string
	return yaml.Unmarshal(text, &v) == nil && v == value
}

// quotedEnd returns the offset after the closing quote of the quoted
// scalar starting at start.
func quotedEnd(data []byte, start int) int {
	q := data[start]
	for i := start + 1; i < len(data); i++ {
		switch {
		case q == '"' && data[i] == '\\':
			i++
		case data[i] == q && q == '\'' && i+1 < len(data) && data[i+1] == '\'':
			i++
		case data[i] == q:
			return i + 1
		}
	}
	return len(data)
}

// flowEnd returns the offset after the bracket closing the flow collection
// starting at start.
func flowEnd(data []byte, start int) int {
	depth := 0
	for i := start; i < len(data); i++ {
		switch data[i] {
		case '"', '\'':
			i = quotedEnd(data, i) - 1
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(data)
}

var plainSafeRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_./-]*$`)

// flowYAML renders v on one line in YAML flow style.
func flowYAML(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		var back any
		if plainSafeRE.MatchString(v) && yaml.Unmarshal([]byte(v), &back) == nil && back == v {
			return v
		}
		b, _ := json.Marshal(v)
		return string(b)
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatFloat(v, 'f', 1, 64)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = flowYAML(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := slices.Sorted(mapKeys(v))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = flowYAML(k) + ": " + flowYAML(v[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	}
	return canonical(v)
}
