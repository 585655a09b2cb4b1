// Package stagerun is the reproducible core of datalab: it reads a pipeline
// file (datalab.yaml) that declares stages with their command, dependencies,
// code, parameters and outputs, orders them into a DAG, and runs only the
// stages whose inputs changed since the last successful run, the way DVC's
// `repro` does. Every run leaves a lock file (datalab.lock, the content hashes
// that make the next run skip work) and a run record (runs/<run-id>/run.json:
// git commit, data set oids, params, timings, attempts and errors).
//
// It sits beside the stage packages rather than in the data flow: stages are
// shell commands (usually `datalab ingest …`, `datalab train …`), so stagerun
// never imports a stage package. The CLI (`datalab run`), the watcher
// (pipeline/watch), Dagger functions and notebooks are shells over Load,
// Pipeline.Plan and Pipeline.Run.
package stagerun

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Pipeline is a parsed pipeline file: the parameters and the stages in a
// valid execution order.
type Pipeline struct {
	// Path is the pipeline file it was loaded from ("" when parsed from bytes).
	Path string
	// Root is the directory stage commands run in; every path in the file is
	// relative to it.
	Root string
	// Params is the nested `params:` map of the file, with Overrides
	// applied.
	Params map[string]any
	// Metrics names the JSON metrics files whose numeric leaves go into
	// run records (the top-level `metrics:` of the file), name → path
	// relative to Root.
	Metrics map[string]string
	// Overrides are the parameters set by Override (datalab run --set,
	// $DATALAB_SET) by dotted key; nil when none.
	Overrides map[string]any
	// Stages are in topological order: every stage comes after the stages
	// producing its dependencies; ties keep the order of the file.
	Stages []*Stage

	byName map[string]*Stage
}

// Stage is one step of the pipeline.
type Stage struct {
	// Name is the key under `stages:`.
	Name string
	// Cmd is the shell command as written, before ${params.…} substitution.
	Cmd string
	// Deps are files or directories the command reads.
	Deps []string
	// Code are files or directories (usually Go packages) whose content is the
	// stage's code version.
	Code []string
	// Params are dotted keys into Pipeline.Params the stage depends on,
	// including every key substituted into Cmd.
	Params []string
	// Outs are files or directories the command must produce.
	Outs []string
	// Retries and RetryDelay, when set, override the run-wide retry policy.
	Retries    *int
	RetryDelay *time.Duration
	// Upstream names the stages producing this stage's dependencies.
	Upstream []string
}

// Stage returns the stage called name, or nil.
func (p *Pipeline) Stage(name string) *Stage { return p.byName[name] }

// Names lists the stage names in execution order.
func (p *Pipeline) Names() []string {
	names := make([]string, len(p.Stages))
	for i, s := range p.Stages {
		names[i] = s.Name
	}
	return names
}

// LockPath is the lock file beside the pipeline file: datalab.yaml →
// datalab.lock.
func (p *Pipeline) LockPath() string {
	base := "datalab.yaml"
	if p.Path != "" {
		base = filepath.Base(p.Path)
	}
	return filepath.Join(p.Root, strings.TrimSuffix(base, filepath.Ext(base))+".lock")
}

// Load reads and validates the pipeline file at path. Stage paths are
// relative to the file's directory.
func Load(path string) (*Pipeline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read pipeline file: %w (create one, or pass --file)", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	p, err := Parse(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p.Path = abs
	return p, nil
}

var (
	stageKeys    = []string{"cmd", "deps", "code", "params", "outs", "retries", "retry_delay"}
	stageNameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	paramRefRE   = regexp.MustCompile(`\$\{params\.([^}]*)\}`)
	paramKeyPart = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

// Parse validates a pipeline file's content; root is the directory its paths
// are relative to. Errors name the stage and the field at fault.
func Parse(data []byte, root string) (*Pipeline, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("want a mapping with `params:` and `stages:` at the top level")
	}
	p := &Pipeline{Root: root, Params: map[string]any{}, byName: map[string]*Stage{}}
	var declared []*Stage
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "params":
			var raw any
			if err := v.Decode(&raw); err != nil {
				return nil, fmt.Errorf("params: %w", err)
			}
			if raw == nil {
				continue
			}
			m, ok := raw.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("params (line %d): want a mapping of names to values", v.Line)
			}
			if err := checkParamTree("params", m); err != nil {
				return nil, err
			}
			p.Params = m
		case "stages":
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue
			}
			if v.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("stages (line %d): want a mapping of stage names to stages", v.Line)
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				s, err := parseStage(v.Content[j], v.Content[j+1])
				if err != nil {
					return nil, err
				}
				if _, dup := p.byName[s.Name]; dup {
					return nil, fmt.Errorf("stage %q is declared twice", s.Name)
				}
				p.byName[s.Name] = s
				declared = append(declared, s)
			}
		case "metrics":
			m, err := parseMetrics(v)
			if err != nil {
				return nil, err
			}
			p.Metrics = m
		default:
			return nil, fmt.Errorf("line %d: unknown top-level key %q (want params, stages, metrics)", k.Line, k.Value)
		}
	}
	for _, s := range declared {
		if err := p.resolveParams(s); err != nil {
			return nil, err
		}
	}
	order, err := linkStages(declared)
	if err != nil {
		return nil, err
	}
	p.Stages = order
	return p, nil
}

// checkParamTree rejects parameter keys that cannot be addressed with a
// dotted name (non-string keys, dots inside a key).
func checkParamTree(at string, m map[string]any) error {
	for k, v := range m {
		if !paramKeyPart.MatchString(k) {
			return fmt.Errorf("%s: key %q: use letters, digits, '_' and '-' only (dots separate levels)", at, k)
		}
		switch v := v.(type) {
		case map[string]any:
			if err := checkParamTree(at+"."+k, v); err != nil {
				return err
			}
		case map[any]any:
			return fmt.Errorf("%s.%s: mapping keys must be strings", at, k)
		}
	}
	return nil
}

func parseStage(k, v *yaml.Node) (*Stage, error) {
	name := k.Value
	if !stageNameRE.MatchString(name) {
		return nil, fmt.Errorf("line %d: stage name %q: use letters, digits, '_', '-' and '.'", k.Line, name)
	}
	if v.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("stage %s (line %d): want a mapping with cmd, deps, outs, …", name, v.Line)
	}
	s := &Stage{Name: name}
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		fk, fv := v.Content[i], v.Content[i+1]
		field := fk.Value
		if !slices.Contains(stageKeys, field) {
			return nil, fmt.Errorf("stage %s (line %d): unknown field %q (want one of %s)", name, fk.Line, field, strings.Join(stageKeys, ", "))
		}
		if seen[field] {
			return nil, fmt.Errorf("stage %s (line %d): field %q given twice", name, fk.Line, field)
		}
		seen[field] = true
		var err error
		switch field {
		case "cmd":
			if fv.Kind != yaml.ScalarNode {
				err = errors.New("want a string")
			}
			s.Cmd = strings.TrimSpace(fv.Value)
		case "deps":
			s.Deps, err = pathList(fv)
		case "code":
			s.Code, err = codeList(fv)
		case "outs":
			s.Outs, err = pathList(fv)
		case "params":
			s.Params, err = stringList(fv)
		case "retries":
			var n int
			if err = fv.Decode(&n); err == nil && n < 0 {
				err = errors.New("want 0 or more")
			}
			s.Retries = &n
		case "retry_delay":
			var d time.Duration
			if fv.Kind != yaml.ScalarNode {
				err = errors.New("want a duration such as 30s or 5m")
			} else if d, err = time.ParseDuration(fv.Value); err == nil && d < 0 {
				err = errors.New("want a non-negative duration")
			}
			s.RetryDelay = &d
		}
		if err != nil {
			return nil, fmt.Errorf("stage %s: %s (line %d): %w", name, field, fv.Line, err)
		}
	}
	if s.Cmd == "" {
		return nil, fmt.Errorf("stage %s: cmd is missing or empty", name)
	}
	return s, nil
}

func stringList(n *yaml.Node) ([]string, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errors.New("want a list")
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode || c.Value == "" {
			return nil, fmt.Errorf("line %d: want a non-empty string", c.Line)
		}
		if slices.Contains(out, c.Value) {
			return nil, fmt.Errorf("line %d: %q listed twice", c.Line, c.Value)
		}
		out = append(out, c.Value)
	}
	return out, nil
}

// pathList reads a list of slash-separated paths relative to the root, in
// clean form, refusing absolute paths and paths leaving the root: a stage
// that reads outside the repository is not reproducible from it.
func pathList(n *yaml.Node) ([]string, error) {
	list, err := stringList(n)
	if err != nil {
		return nil, err
	}
	for i, p := range list {
		if list[i], err = insidePath(p); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// insidePath cleans p, a path that must stay inside the pipeline's
// directory.
func insidePath(p string) (string, error) {
	clean := path.Clean(filepath.ToSlash(p))
	if path.IsAbs(clean) || filepath.IsAbs(p) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("path %q: want a path inside the pipeline's directory", p)
	}
	return clean, nil
}

// codeList is pathList for code entries, which may also name a Go
// package of the checkout as pkg:<dir> (GoPackagePrefix).
func codeList(n *yaml.Node) ([]string, error) {
	list, err := stringList(n)
	if err != nil {
		return nil, err
	}
	for i, p := range list {
		dir, isPkg := strings.CutPrefix(p, GoPackagePrefix)
		clean, err := insidePath(dir)
		if err != nil || (isPkg && clean == ".") {
			return nil, fmt.Errorf("code path %q: want a path inside the pipeline's directory", p)
		}
		if isPkg {
			clean = GoPackagePrefix + clean
		}
		list[i] = clean
	}
	return list, nil
}

// resolveParams checks the stage's param keys exist and adds every key
// substituted into cmd, so a param used in the command always counts.
func (p *Pipeline) resolveParams(s *Stage) error {
	for _, m := range paramRefRE.FindAllStringSubmatch(s.Cmd, -1) {
		if !slices.Contains(s.Params, m[1]) {
			s.Params = append(s.Params, m[1])
		}
	}
	for _, key := range s.Params {
		if _, ok := p.Param(key); !ok {
			return fmt.Errorf("stage %s: param %q is not defined under params: (defined: %s)", s.Name, key, strings.Join(p.ParamKeys(), ", "))
		}
	}
	return nil
}

// Param looks up a dotted key such as "train.num_trees" or, indexing a
// list, "flights.variants.0.forest.max_depth" (see ParamAt).
func (p *Pipeline) Param(key string) (any, bool) {
	return ParamAt(p.Params, key)
}

// DecodeParam decodes the parameter subtree at key (e.g. "matches") into
// dst, rejecting fields dst does not have, so a stage's typed configuration
// comes from the same params block the runner hashes.
func (p *Pipeline) DecodeParam(key string, dst any) error {
	v, ok := p.Param(key)
	if !ok {
		return fmt.Errorf("%s has no params.%s", p.Path, key)
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("%s params.%s: %w", p.Path, key, err)
	}
	return nil
}

// ParamKeys lists every leaf parameter as a sorted dotted key.
func (p *Pipeline) ParamKeys() []string {
	var keys []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
				walk(prefix+k+".", sub)
				continue
			}
			keys = append(keys, prefix+k)
		}
	}
	walk("", p.Params)
	sort.Strings(keys)
	return keys
}

// FlatParams returns every leaf parameter keyed by its dotted name.
func (p *Pipeline) FlatParams() map[string]any {
	out := map[string]any{}
	for _, k := range p.ParamKeys() {
		out[k], _ = p.Param(k)
	}
	return out
}

// Command returns the stage's command with every ${params.key} replaced by
// the parameter's value: scalars as written, lists and mappings in canonical
// form. Values are not shell-quoted; quote them in the command if needed.
func (p *Pipeline) Command(s *Stage) string {
	return p.commandWith(s, func(key string) any {
		v, _ := p.Param(key)
		return v
	})
}

// commandWith substitutes the values given by param into the stage's command.
func (p *Pipeline) commandWith(s *Stage, param func(key string) any) string {
	return paramRefRE.ReplaceAllStringFunc(s.Cmd, func(ref string) string {
		v := param(paramRefRE.FindStringSubmatch(ref)[1])
		if str, ok := v.(string); ok {
			return str
		}
		return canonical(v)
	})
}

// canonical renders a parameter value deterministically (sorted map keys,
// type-distinguishing), for hashing and for comparing with the lock.
func canonical(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case float64:
		// Integral floats print like ints: YAML writes 1.0 back as 1.
		if math.Abs(v) < 1e15 && v == math.Trunc(v) {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		return strconv.Quote(v)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = canonical(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = strconv.Quote(k) + ":" + canonical(v[k])
		}
		return "{" + strings.Join(parts, ",") + "}"
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	default:
		return fmt.Sprintf("%T(%v)", v, v)
	}
}

// linkStages finds each stage's upstream stages (a dep equal to, inside, or
// containing another stage's out) and returns a topological order that keeps
// the file's order where the DAG allows. Overlapping outs and cycles are
// errors naming the stages.
func linkStages(declared []*Stage) ([]*Stage, error) {
	type owner struct {
		stage string
		out   string
	}
	var outs []owner
	for _, s := range declared {
		for _, o := range s.Outs {
			for _, prev := range outs {
				if overlaps(prev.out, o) {
					if prev.stage == s.Name {
						return nil, fmt.Errorf("stage %s: outs %q and %q overlap", s.Name, prev.out, o)
					}
					return nil, fmt.Errorf("stages %s and %s both produce %q: give each output one producing stage", prev.stage, s.Name, longer(prev.out, o))
				}
			}
			outs = append(outs, owner{s.Name, o})
		}
	}
	for _, s := range declared {
		s.Upstream = nil
		for _, d := range s.Deps {
			for _, o := range outs {
				if overlaps(d, o.out) {
					if o.stage == s.Name {
						return nil, fmt.Errorf("stage %s depends on its own output %q", s.Name, o.out)
					}
					if !slices.Contains(s.Upstream, o.stage) {
						s.Upstream = append(s.Upstream, o.stage)
					}
				}
			}
		}
	}
	// Kahn's algorithm, always taking the earliest declared ready stage.
	indeg := map[string]int{}
	downstream := map[string][]string{}
	for _, s := range declared {
		indeg[s.Name] = len(s.Upstream)
		for _, u := range s.Upstream {
			downstream[u] = append(downstream[u], s.Name)
		}
	}
	done := map[string]bool{}
	var order []*Stage
	for len(order) < len(declared) {
		progressed := false
		for _, s := range declared {
			if done[s.Name] || indeg[s.Name] > 0 {
				continue
			}
			done[s.Name] = true
			order = append(order, s)
			for _, d := range downstream[s.Name] {
				indeg[d]--
			}
			progressed = true
			break
		}
		if !progressed {
			return nil, fmt.Errorf("stages form a cycle: %s", strings.Join(findCycle(declared, done), " → "))
		}
	}
	return order, nil
}

// findCycle returns one cycle among the stages not yet ordered, as a path
// that ends where it starts.
func findCycle(declared []*Stage, done map[string]bool) []string {
	byName := map[string]*Stage{}
	for _, s := range declared {
		byName[s.Name] = s
	}
	var start *Stage
	for _, s := range declared {
		if !done[s.Name] {
			start = s
			break
		}
	}
	// Every remaining stage has a remaining upstream; walking upstream must
	// revisit a stage.
	seenAt := map[string]int{}
	var path []string
	cur := start
	for {
		if i, ok := seenAt[cur.Name]; ok {
			cyc := append([]string{}, path[i:]...)
			slices.Reverse(cyc)
			// Start at the stage declared first, for a stable message.
			first := 0
			for j, name := range cyc {
				if declaredIndex(declared, name) < declaredIndex(declared, cyc[first]) {
					first = j
				}
			}
			cyc = append(cyc[first:], cyc[:first]...)
			return append(cyc, cyc[0])
		}
		seenAt[cur.Name] = len(path)
		path = append(path, cur.Name)
		for _, u := range cur.Upstream {
			if !done[u] {
				cur = byName[u]
				break
			}
		}
	}
}

func declaredIndex(declared []*Stage, name string) int {
	return slices.IndexFunc(declared, func(s *Stage) bool { return s.Name == name })
}

// overlaps reports whether two clean slash paths are equal or one contains
// the other.
func overlaps(a, b string) bool {
	if a == b || a == "." || b == "." {
		return true
	}
	return strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

func longer(a, b string) string {
	if len(a) > len(b) {
		return a
	}
	return b
}

// Select returns the stages needed for targets (all when empty): the
// targets and everything upstream of them, in execution order. An unknown
// name is an error listing the known ones.
func (p *Pipeline) Select(targets []string) ([]*Stage, error) {
	if len(targets) == 0 {
		return p.Stages, nil
	}
	want := map[string]bool{}
	var add func(name string)
	add = func(name string) {
		if want[name] {
			return
		}
		want[name] = true
		for _, u := range p.byName[name].Upstream {
			add(u)
		}
	}
	for _, t := range targets {
		if p.byName[t] == nil {
			return nil, fmt.Errorf("unknown stage %q; known stages: %s", t, strings.Join(p.Names(), ", "))
		}
		add(t)
	}
	var sel []*Stage
	for _, s := range p.Stages {
		if want[s.Name] {
			sel = append(sel, s)
		}
	}
	return sel, nil
}

// Producers names the stages whose outs hold the given paths (an out equal
// to, inside or containing each path), in execution order, so a caller that
// needs only some files (datalab up: the served models) can run just the
// stages producing them and their upstream ones. A path no stage produces
// is an error naming it.
func (p *Pipeline) Producers(paths []string) ([]string, error) {
	want := map[string]bool{}
	for _, raw := range paths {
		clean := path.Clean(filepath.ToSlash(raw))
		found := false
		for _, s := range p.Stages {
			for _, o := range s.Outs {
				if overlaps(clean, o) {
					want[s.Name], found = true, true
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("no stage of %s produces %s", p.Path, raw)
		}
	}
	var names []string
	for _, s := range p.Stages {
		if want[s.Name] {
			names = append(names, s.Name)
		}
	}
	return names, nil
}
