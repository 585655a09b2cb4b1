// Package rundiff compares pipeline runs: it loads the run records that
// `datalab run` writes (runs/<id>/run.json, and the copies the report site
// publishes under reports/runs/<id>/run.json), resolves a run reference
// ("latest", an id prefix, an experiment name, …), diffs two runs' params,
// metrics, data, code and stage keys, renders the diff as text, JSON or
// Markdown for a pull-request comment, and evaluates regression-gate rules
// (`datalab runs diff BASE HEAD --fail-on 'matches.served.holdout.accuracy < -0.005'`).
//
// It sits after pipeline/stagerun (whose RunRecord it reads) and
// pipeline/evaluate (which knows each metric's direction) and before the
// shells: cmd/datalab's `runs` and `exp show`, and the report site's diff
// pages, which render a Diff in HTML.
package rundiff

import (
	"encoding/json"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// Diff is the comparison of a base run A with a head run B: what changed
// from A to B. Every change is B − A.
type Diff struct {
	A RunInfo `json:"base"`
	B RunInfo `json:"head"`
	// Params are the changed params (all of them with Options.All, the
	// unchanged ones with Changed false), by dotted key. A structured param
	// (a list of mappings, a mapping) that changed is broken down to the
	// leaves that differ: flights.variants.0.forest.max_depth, the same
	// addressing as `datalab run --set`.
	Params []ParamChange `json:"params"`
	// Metrics are every metric of either run, sorted by key; use
	// MetricChange.Changed to keep the changed ones.
	Metrics []MetricChange `json:"metrics"`
	// Data are the data sets (run record datasets) whose oid differs.
	Data []DataChange `json:"data"`
	Code CodeChange   `json:"code"`
	// Stages are the stages whose cache key differs (or that only one run
	// has).
	Stages []StageChange `json:"stages"`
	// Headline are the keys of the metrics that summarise the runs
	// (HeadlineKeys of the head, then of the base), shown first.
	Headline []string `json:"headline,omitempty"`
}

// RunInfo identifies one side of a Diff.
type RunInfo struct {
	ID          string         `json:"id"`
	Experiment  string         `json:"experiment,omitempty"`
	Status      string         `json:"status"`
	Start       time.Time      `json:"start"`
	DurationSec float64        `json:"duration_sec"`
	Commit      string         `json:"commit,omitempty"`
	Branch      string         `json:"branch,omitempty"`
	Dirty       bool           `json:"dirty"`
	Overrides   map[string]any `json:"overrides,omitempty"`
}

// ParamChange is one parameter in a Diff. Old or New is absent (HasOld or
// HasNew false) when only one run has the parameter. Values are
// JSON-shaped: float64, string, bool, nil, []any, map[string]any.
type ParamChange struct {
	Key     string `json:"key"`
	Old     any    `json:"old,omitempty"`
	New     any    `json:"new,omitempty"`
	HasOld  bool   `json:"has_old"`
	HasNew  bool   `json:"has_new"`
	Changed bool   `json:"changed"`
}

// MetricChange is one metric in a Diff. Old or New is absent (HasOld or
// HasNew false) when only one run reported it. Abs is New − Old and Rel is
// Abs / |Old|, both meaningful only when both are present; Rel is
// undefined (HasRel false) when Old is 0 and New is not (when both are 0 it
// is 0).
type MetricChange struct {
	Key    string  `json:"key"`
	Old    float64 `json:"old"`
	New    float64 `json:"new"`
	HasOld bool    `json:"has_old"`
	HasNew bool    `json:"has_new"`
	Abs    float64 `json:"abs"`
	Rel    float64 `json:"rel"`
	HasRel bool    `json:"has_rel"`
	// HigherIsBetter is the metric's direction (from pipeline/evaluate's
	// headline metrics, matched on the key's last segment), nil when unknown.
	HigherIsBetter *bool `json:"higher_is_better,omitempty"`
	// Verdict is "better" or "worse" for a changed metric of known
	// direction, else empty.
	Verdict string `json:"verdict,omitempty"`
}

// Changed reports whether the metric differs between the runs (a value
// that changed, or a metric only one run has).
func (m MetricChange) Changed() bool {
	return m.HasOld != m.HasNew || (m.HasOld && m.Old != m.New)
}

// DataChange is a data set whose oid (sha256) differs, or that only one
// run depends on.
type DataChange struct {
	Key string `json:"key"`
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
}

// CodeChange compares the runs' git state and tool versions.
type CodeChange struct {
	OldCommit  string `json:"old_commit,omitempty"`
	NewCommit  string `json:"new_commit,omitempty"`
	OldDirty   bool   `json:"old_dirty"`
	NewDirty   bool   `json:"new_dirty"`
	OldBranch  string `json:"old_branch,omitempty"`
	NewBranch  string `json:"new_branch,omitempty"`
	OldGo      string `json:"old_go,omitempty"`
	NewGo      string `json:"new_go,omitempty"`
	OldDatalab string `json:"old_datalab,omitempty"`
	NewDatalab string `json:"new_datalab,omitempty"`
}

// Changed reports whether the code may differ: another commit, a dirty
// tree on either side (uncommitted edits are unknown), or another Go or
// datalab version.
func (c CodeChange) Changed() bool {
	return c.OldCommit != c.NewCommit || c.OldDirty || c.NewDirty || c.OldGo != c.NewGo || c.OldDatalab != c.NewDatalab
}

// StageChange is a stage whose cache key differs between the runs. A key
// is empty when the stage did not get one in that run (not run, or absent).
type StageChange struct {
	Name      string `json:"name"`
	OldKey    string `json:"old_key,omitempty"`
	NewKey    string `json:"new_key,omitempty"`
	OldStatus string `json:"old_status,omitempty"`
	NewStatus string `json:"new_status,omitempty"`
}

// Options tune Compare.
type Options struct {
	// All lists every param, the unchanged ones with Changed false.
	All bool
}

// Compare diffs run a (the base) against run b (the head).
func Compare(a, b *stagerun.RunRecord, opt Options) Diff {
	return Diff{
		A:       runInfo(a),
		B:       runInfo(b),
		Params:  CompareParams(a.Params, b.Params, opt.All),
		Metrics: CompareMetrics(a.Metrics, b.Metrics),
		Data:    compareData(a.Datasets, b.Datasets),
		Code: CodeChange{
			OldCommit: a.Git.Commit, NewCommit: b.Git.Commit,
			OldDirty: a.Git.Dirty, NewDirty: b.Git.Dirty,
			OldBranch: a.Git.Branch, NewBranch: b.Git.Branch,
			OldGo: a.GoVersion, NewGo: b.GoVersion,
			OldDatalab: a.DatalabVersion, NewDatalab: b.DatalabVersion,
		},
		Stages:   compareStages(a.Stages, b.Stages),
		Headline: headlineOfBoth(a, b),
	}
}

func runInfo(r *stagerun.RunRecord) RunInfo {
	info := RunInfo{
		ID: r.ID, Experiment: r.Experiment, Status: r.Status, Start: r.Start, DurationSec: r.DurationSec,
		Commit: r.Git.Commit, Branch: r.Git.Branch, Dirty: r.Git.Dirty,
	}
	if len(r.Overrides) > 0 {
		info.Overrides = map[string]any{}
		for k, v := range r.Overrides {
			info.Overrides[k] = jsonShaped(v)
		}
	}
	return info
}

// Empty reports whether the runs did the same thing: no param, metric,
// data, code or stage-key change.
func (d Diff) Empty() bool {
	return d.ChangedParams() == 0 && len(d.ChangedMetrics()) == 0 && len(d.Data) == 0 && !d.Code.Changed() && len(d.Stages) == 0
}

// ChangedParams counts the params that changed (Params also holds the
// unchanged ones under Options.All).
func (d Diff) ChangedParams() int {
	n := 0
	for _, p := range d.Params {
		if p.Changed {
			n++
		}
	}
	return n
}

// ChangedMetrics returns the metrics that differ.
func (d Diff) ChangedMetrics() []MetricChange {
	var out []MetricChange
	for _, m := range d.Metrics {
		if m.Changed() {
			out = append(out, m)
		}
	}
	return out
}

// Metric returns the named metric's change, if either run has it.
func (d Diff) Metric(key string) (MetricChange, bool) {
	i, ok := slices.BinarySearchFunc(d.Metrics, key, func(m MetricChange, k string) int { return strings.Compare(m.Key, k) })
	if !ok {
		return MetricChange{}, false
	}
	return d.Metrics[i], true
}

// CompareParams diffs two flat param sets (RunRecord.Params: dotted key →
// value), sorted by key; with all, unchanged params are listed too.
func CompareParams(old, new map[string]any, all bool) []ParamChange {
	var out []ParamChange
	for _, k := range unionKeys(old, new) {
		ov, hasOld := old[k]
		nv, hasNew := new[k]
		ov, nv = jsonShaped(ov), jsonShaped(nv)
		switch {
		case hasOld != hasNew:
			out = append(out, ParamChange{Key: k, Old: ov, New: nv, HasOld: hasOld, HasNew: hasNew, Changed: true})
		case reflect.DeepEqual(ov, nv):
			if all {
				out = append(out, ParamChange{Key: k, Old: ov, New: nv, HasOld: true, HasNew: true})
			}
		default:
			out = append(out, leafChanges(k, ov, nv)...)
		}
	}
	return out
}

// leafChanges breaks a changed structured value down to what differs:
// mappings key by key, lists of mappings or lists element by element when
// both have the same length. Anything else (scalars, lists of scalars, a
// list whose length changed) is one change of the whole value.
func leafChanges(key string, old, new any) []ParamChange {
	if reflect.DeepEqual(old, new) {
		return nil
	}
	om, okOld := old.(map[string]any)
	nm, okNew := new.(map[string]any)
	if okOld && okNew {
		var out []ParamChange
		for _, k := range unionKeys(om, nm) {
			ov, hasOld := om[k]
			nv, hasNew := nm[k]
			if hasOld != hasNew {
				out = append(out, ParamChange{Key: key + "." + k, Old: ov, New: nv, HasOld: hasOld, HasNew: hasNew, Changed: true})
				continue
			}
			out = append(out, leafChanges(key+"."+k, ov, nv)...)
		}
		return out
	}
	ol, okOld := old.([]any)
	nl, okNew := new.([]any)
	if okOld && okNew && len(ol) == len(nl) && (hasStructure(ol) || hasStructure(nl)) {
		var out []ParamChange
		for i := range ol {
			out = append(out, leafChanges(key+"."+strconv.Itoa(i), ol[i], nl[i])...)
		}
		return out
	}
	return []ParamChange{{Key: key, Old: old, New: new, HasOld: true, HasNew: true, Changed: true}}
}

func hasStructure(list []any) bool {
	for _, v := range list {
		switch v.(type) {
		case map[string]any, []any:
			return true
		}
	}
	return false
}

// jsonShaped returns v as encoding/json would decode it (float64 numbers,
// []any, map[string]any), so a record read from disk and one built in
// memory compare equal.
func jsonShaped(v any) any {
	switch v.(type) {
	case nil, string, bool, float64:
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return stagerun.FormatParam(v)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return stagerun.FormatParam(v)
	}
	return out
}

func unionKeys[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// CompareMetrics compares two flat metric sets (RunRecord.Metrics, or a
// report sidecar's headline metrics): every key of either, sorted, with
// absolute and relative change and, where known, direction and verdict.
// A headline metric of pipeline/evaluate holding evaluate.Undefined (an
// AUC with no value) counts as absent.
func CompareMetrics(old, new map[string]float64) []MetricChange {
	keys := unionKeys(old, new)
	out := make([]MetricChange, 0, len(keys))
	for _, k := range keys {
		m := MetricChange{Key: k, HigherIsBetter: HigherIsBetter(k)}
		m.Old, m.HasOld = old[k]
		m.New, m.HasNew = new[k]
		if m.HigherIsBetter != nil {
			m.HasOld = m.HasOld && evaluate.Defined(m.Old)
			m.HasNew = m.HasNew && evaluate.Defined(m.New)
		}
		if !m.HasOld {
			m.Old = 0
		}
		if !m.HasNew {
			m.New = 0
		}
		if m.HasOld && m.HasNew {
			m.Abs = m.New - m.Old
			switch {
			case m.Abs == 0:
				m.HasRel = true
			case m.Old != 0:
				m.Rel, m.HasRel = m.Abs/math.Abs(m.Old), true
			}
			if m.HigherIsBetter != nil && m.Abs != 0 {
				m.Verdict = "worse"
				if (m.Abs > 0) == *m.HigherIsBetter {
					m.Verdict = "better"
				}
			}
		}
		out = append(out, m)
	}
	return out
}

// HigherIsBetter is the direction of a metric key, from the last segment of
// its dotted key matched against pipeline/evaluate's headline metrics
// ("….holdout.accuracy" → true, "….log_loss" → false); nil when unknown.
func HigherIsBetter(key string) *bool {
	last := key[strings.LastIndexByte(key, '.')+1:]
	for _, m := range (&evaluate.Result{}).Metrics() {
		if m.Key == last {
			hib := m.HigherIsBetter
			return &hib
		}
	}
	return nil
}

func compareData(old, new map[string]string) []DataChange {
	var out []DataChange
	for _, k := range unionKeys(old, new) {
		if old[k] != new[k] {
			out = append(out, DataChange{Key: k, Old: old[k], New: new[k]})
		}
	}
	return out
}

func compareStages(old, new []stagerun.StageRecord) []StageChange {
	byName := map[string]*StageChange{}
	var order []string
	get := func(name string) *StageChange {
		c, ok := byName[name]
		if !ok {
			c = &StageChange{Name: name}
			byName[name] = c
			order = append(order, name)
		}
		return c
	}
	for _, s := range old {
		c := get(s.Name)
		c.OldKey, c.OldStatus = s.Key, s.Status
	}
	for _, s := range new {
		c := get(s.Name)
		c.NewKey, c.NewStatus = s.Key, s.Status
	}
	var out []StageChange
	for _, name := range order {
		if c := byName[name]; c.OldKey != c.NewKey {
			out = append(out, *c)
		}
	}
	return out
}
