package stagerun

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// parseMetrics reads the top-level `metrics:` mapping: a name for each
// JSON metrics file a stage writes (matches: build/matches/metrics.json).
func parseMetrics(v *yaml.Node) (map[string]string, error) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil, nil
	}
	if v.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("metrics (line %d): want a mapping of names to JSON files, e.g. matches: build/matches/metrics.json", v.Line)
	}
	out := map[string]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, f := v.Content[i], v.Content[i+1]
		if !paramKeyPart.MatchString(k.Value) {
			return nil, fmt.Errorf("metrics (line %d): name %q: use letters, digits, '_' and '-' only", k.Line, k.Value)
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("metrics (line %d): %q is given twice", k.Line, k.Value)
		}
		if f.Kind != yaml.ScalarNode || f.Value == "" {
			return nil, fmt.Errorf("metrics.%s (line %d): want the path of a JSON file", k.Value, f.Line)
		}
		paths, err := pathList(&yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{f}})
		if err != nil {
			return nil, fmt.Errorf("metrics.%s (line %d): %w", k.Value, f.Line, err)
		}
		out[k.Value] = paths[0]
	}
	return out, nil
}

// FlattenMetrics returns the numeric leaves of a JSON metrics file keyed
// "<name>.<path>": objects recurse by key; an array whose elements are all
// objects with a string "name" field recurses by that name
// (matches.variants.form3.holdout.accuracy); other arrays (curves,
// per-row predictions) and non-numeric leaves are left out. Each path
// segment is made a plain word: runs of characters other than letters,
// digits, '_' and '-' become one '-' ("better FIFA rank wins" →
// better-FIFA-rank-wins), so a key never holds a space or a dot and can be
// written in a --fail-on rule.
func FlattenMetrics(name string, data []byte) (map[string]float64, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("metrics %s: not JSON: %w", name, err)
	}
	out := map[string]float64{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case json.Number:
			if f, err := v.Float64(); err == nil {
				out[prefix] = f
			}
		case map[string]any:
			for k, e := range v {
				walk(prefix+"."+metricSegment(k), e)
			}
		case []any:
			names := make([]string, 0, len(v))
			for _, e := range v {
				m, ok := e.(map[string]any)
				if !ok {
					return
				}
				n, ok := m["name"].(string)
				if !ok || n == "" || slices.Contains(names, n) {
					return
				}
				names = append(names, n)
			}
			for i, e := range v {
				walk(prefix+"."+metricSegment(names[i]), e)
			}
		}
	}
	walk(name, v)
	return out, nil
}

var nonWordRE = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// metricSegment makes a JSON key or name one segment of a metric key.
func metricSegment(s string) string {
	s = strings.Trim(nonWordRE.ReplaceAllString(s, "-"), "-")
	if s == "" {
		return "_"
	}
	return s
}

// metricsMemoVersion names the flattening rules in memo file names.
const metricsMemoVersion = "v1"

// flattenFile flattens a metrics file, through a memo in
// <root>/.datalab/metrics/<sha256>.<version>.json: the flights metrics are
// megabytes of JSON, and a run with nothing to do must not parse them again.
func (p *Pipeline) flattenFile(name, abs string, h *hasher) (map[string]float64, error) {
	d, err := h.fileDigest(abs)
	if err != nil {
		return nil, err
	}
	memo := filepath.Join(p.Root, ".datalab", "metrics", name+"-"+d.SHA256+"."+metricsMemoVersion+".json")
	if data, err := os.ReadFile(memo); err == nil {
		var m map[string]float64
		if json.Unmarshal(data, &m) == nil {
			return m, nil
		}
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, err
	}
	m, err := FlattenMetrics(name, data)
	if err != nil {
		return nil, err
	}
	if enc, err := json.Marshal(m); err == nil {
		atomicfile.WriteFile(memo, enc) // a memo: a failed write costs a parse next time
	}
	return m, nil
}

// collectMetrics flattens every declared metrics file present under root;
// a missing file is skipped (the stage writing it did not run yet) and an
// unreadable one logged, so a run record is written either way.
func (p *Pipeline) collectMetrics(log *slog.Logger, h *hasher) map[string]float64 {
	if len(p.Metrics) == 0 {
		return nil
	}
	out := map[string]float64{}
	for _, name := range slices.Sorted(mapKeys(p.Metrics)) {
		rel := p.Metrics[name]
		m, err := p.flattenFile(name, filepath.Join(p.Root, filepath.FromSlash(rel)), h)
		if errors.Is(err, fs.ErrNotExist) {
			log.Info("metrics file not there; not in the run record", "metrics", name, "path", rel)
			continue
		}
		if err == nil {
			for k, v := range m {
				out[k] = v
			}
			continue
		}
		log.Warn("metrics file unreadable; not in the run record", "metrics", name, "path", rel, "err", err)
	}
	return out
}
