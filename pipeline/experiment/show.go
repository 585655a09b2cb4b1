package experiment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/datalabhq/datalab/pipeline/rundiff"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// headlineCompanions are the metrics shown beside each headline accuracy
// (rundiff.HeadlineKeys) when they exist under the same prefix: the
// three-way score and the probability quality of the same model.
var headlineCompanions = []string{"accuracy", "rps", "log_loss", "auc"}

// ShowOptions choose the rows and columns of Show.
type ShowOptions struct {
	// Metrics are globs ('*' matches any run of characters, dots included; rundiff.MatchGlob) over metric keys;
	// empty means the headline metrics: per use case the served model's
	// hold-out accuracy (rundiff.HeadlineKeys) with its RPS, log loss and
	// AUC.
	Metrics []string
	// SortBy is a metric key (or a unique suffix of one, such as
	// holdout.accuracy) to order the experiments by, best first.
	SortBy string
	// All lists failed, cancelled and queued experiments too (default: done
	// and running ones).
	All bool
}

// Table is experiments × changed params × metrics.
type Table struct {
	// Params are the keys any experiment overrides, sorted.
	Params []string `json:"params"`
	// Metrics are the metric keys shown.
	Metrics []string `json:"metrics"`
	// Rows: the workspace's last run first (Baseline), then the
	// experiments.
	Rows []Row `json:"rows"`
}

// Row is one experiment, or the workspace's own last run.
type Row struct {
	Name     string             `json:"name"`
	Baseline bool               `json:"baseline,omitempty"`
	Status   string             `json:"status"`
	RunID    string             `json:"run_id,omitempty"`
	Params   map[string]any     `json:"params"`
	Metrics  map[string]float64 `json:"metrics"`
}

// Show tabulates the experiments with the workspace's last successful run
// (not an experiment's) as the baseline row: its params are the pipeline
// file's values.
func (l *Lab) Show(opts ShowOptions) (*Table, error) {
	recs, err := l.List()
	if err != nil {
		return nil, err
	}
	p, err := stagerun.Load(l.PipelinePath())
	if err != nil {
		return nil, err
	}
	t := &Table{}
	params := map[string]bool{}
	for _, r := range recs {
		if !opts.All && r.Status != StatusDone && r.Status != StatusRunning {
			continue
		}
		for k := range r.Overrides {
			params[k] = true
		}
		t.Rows = append(t.Rows, Row{Name: r.Name, Status: r.Status, RunID: r.RunID, Params: r.Overrides, Metrics: r.Metrics})
	}
	t.Params = slices.Sorted(maps.Keys(params))
	base := Row{Name: "workspace", Baseline: true, Status: "no run yet", Params: map[string]any{}}
	runs, err := rundiff.Load(l.RunsDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	byID := map[string]*stagerun.RunRecord{}
	for _, run := range runs { // newest first
		byID[run.ID] = run
		if base.RunID == "" && run.Experiment == "" && run.Status == "ok" {
			base.Status, base.RunID, base.Metrics = "last run", run.ID, run.Metrics
		}
	}
	for _, k := range t.Params {
		if v, ok := p.Param(k); ok {
			base.Params[k] = v
		}
	}
	t.Rows = append([]Row{base}, t.Rows...)

	t.Metrics = pickMetrics(t.Rows, opts.Metrics, byID)
	if opts.SortBy != "" {
		key, err := resolveMetric(t.Rows, opts.SortBy)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(t.Metrics, key) {
			t.Metrics = append(t.Metrics, key)
		}
		higher := rundiff.HigherIsBetter(key)
		exps := t.Rows[1:]
		sort.SliceStable(exps, func(i, j int) bool {
			a, aok := exps[i].Metrics[key]
			b, bok := exps[j].Metrics[key]
			if aok != bok {
				return aok // experiments without the metric last
			}
			if higher != nil && !*higher {
				return a < b
			}
			return a > b
		})
	}
	return t, nil
}

// pickMetrics returns the metric keys of rows matching globs, or the
// headline metrics of each row's run when there are no globs; sorted.
func pickMetrics(rows []Row, globs []string, runs map[string]*stagerun.RunRecord) []string {
	found := map[string]bool{}
	for _, r := range rows {
		if len(globs) > 0 {
			for k := range r.Metrics {
				for _, g := range globs {
					if rundiff.MatchGlob(g, k) {
						found[k] = true
					}
				}
			}
			continue
		}
		run := runs[r.RunID]
		if run == nil {
			run = &stagerun.RunRecord{Metrics: r.Metrics}
		}
		for _, k := range rundiff.HeadlineKeys(run, len(r.Metrics)) {
			found[k] = true
			prefix := k[:strings.LastIndexByte(k, '.')+1]
			for _, c := range headlineCompanions {
				if _, ok := r.Metrics[prefix+c]; ok {
					found[prefix+c] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(found))
}

// resolveMetric finds the metric key named exactly, or ending in
// "."+name in exactly one key.
func resolveMetric(rows []Row, name string) (string, error) {
	all := map[string]bool{}
	for _, r := range rows {
		for k := range r.Metrics {
			all[k] = true
		}
	}
	if all[name] {
		return name, nil
	}
	var found []string
	for k := range all {
		if strings.HasSuffix(k, "."+name) {
			found = append(found, k)
		}
	}
	sort.Strings(found)
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return "", fmt.Errorf("--sort-by %s matches %d metrics: %s; give more of the key", name, len(found), strings.Join(found, ", "))
	case len(all) == 0:
		return "", fmt.Errorf("--sort-by %s: no experiment has metrics yet (the pipeline file's metrics: names the files)", name)
	}
	// Name the keys ending like the request (accuracy → every
	// ….accuracy), at most ten: a run has hundreds of metrics.
	last := name[strings.LastIndexByte(name, '.')+1:]
	var near []string
	for _, k := range slices.Sorted(maps.Keys(all)) {
		if strings.HasSuffix(k, "."+last) && len(near) < 10 {
			near = append(near, k)
		}
	}
	hint := "datalab runs show ID lists a run's metrics"
	if len(near) > 0 {
		hint = "similar: " + strings.Join(near, ", ") + "; " + hint
	}
	return "", fmt.Errorf("--sort-by %s: no such metric (%s)", name, hint)
}

// Text renders the table for a terminal: one row per experiment, the
// baseline first; "–" where a run has no value.
func (t *Table) Text() []byte {
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(t.header(), "\t"))
	for _, r := range t.Rows {
		fmt.Fprintln(w, strings.Join(t.cells(r), "\t"))
	}
	w.Flush()
	return b.Bytes()
}

// Markdown renders the table as a GitHub table (for a pull-request
// comment).
func (t *Table) Markdown() []byte {
	var b bytes.Buffer
	head := t.header()
	for i, h := range head {
		head[i] = "`" + h + "`"
	}
	head[0], head[1] = "experiment", "status"
	fmt.Fprintf(&b, "| %s |\n", strings.Join(head, " | "))
	fmt.Fprintf(&b, "|%s\n", strings.Repeat("---|", len(head)))
	for _, r := range t.Rows {
		cells := t.cells(r)
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		if r.Baseline {
			cells[0] = "*" + cells[0] + "*"
		}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	return b.Bytes()
}

// JSON renders the table as indented JSON.
func (t *Table) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func (t *Table) header() []string {
	h := []string{"EXPERIMENT", "STATUS"}
	h = append(h, t.Params...)
	return append(h, t.Metrics...)
}

func (t *Table) cells(r Row) []string {
	c := []string{r.Name, r.Status}
	for _, k := range t.Params {
		v, ok := r.Params[k]
		if !ok {
			c = append(c, "–")
			continue
		}
		c = append(c, stagerun.FormatParam(v))
	}
	for _, k := range t.Metrics {
		v, ok := r.Metrics[k]
		if !ok || math.IsNaN(v) {
			c = append(c, "–")
			continue
		}
		c = append(c, strconv.FormatFloat(v, 'f', 4, 64))
	}
	return c
}
