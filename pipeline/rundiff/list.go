package rundiff

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// ListRow is one run in `datalab runs list`.
type ListRow struct {
	ID          string             `json:"id"`
	Status      string             `json:"status"`
	Experiment  string             `json:"experiment,omitempty"`
	Overrides   map[string]any     `json:"overrides,omitempty"`
	Start       time.Time          `json:"start"`
	DurationSec float64            `json:"duration_sec"`
	Commit      string             `json:"commit,omitempty"`
	Dirty       bool               `json:"dirty"`
	Ran         int                `json:"ran"`
	Cached      int                `json:"cached"`
	Skipped     int                `json:"skipped"`
	Failed      int                `json:"failed"`
	NotRun      int                `json:"not_run"`
	Metrics     map[string]float64 `json:"metrics,omitempty"` // the table's Metrics only
}

// ListTable is `datalab runs list`: runs newest first, with the headline
// metrics of the newest runs as columns.
type ListTable struct {
	Metrics []string  `json:"metrics"`
	Rows    []ListRow `json:"runs"`
}

// List tabulates up to limit runs (all when limit ≤ 0) of runs, which are
// newest first. The metric columns are the headline metrics (HeadlineKeys)
// of the listed runs, newest run first, at most three.
func List(runs []*stagerun.RunRecord, limit int) ListTable {
	if limit > 0 && len(runs) > limit {
		runs = runs[:limit]
	}
	t := ListTable{Metrics: []string{}, Rows: []ListRow{}}
	for _, r := range runs {
		for _, k := range HeadlineKeys(r, headlineCount) {
			if len(t.Metrics) < headlineCount && !slices.Contains(t.Metrics, k) {
				t.Metrics = append(t.Metrics, k)
			}
		}
	}
	for _, r := range runs {
		row := ListRow{
			ID: r.ID, Status: r.Status, Experiment: r.Experiment, Start: r.Start, DurationSec: r.DurationSec,
			Commit: r.Git.Commit, Dirty: r.Git.Dirty, Overrides: runInfo(r).Overrides,
		}
		for _, s := range r.Stages {
			switch s.Status {
			case stagerun.StatusRan:
				row.Ran++
			case stagerun.StatusCached:
				row.Cached++
			case stagerun.StatusSkipped:
				row.Skipped++
			case stagerun.StatusFailed:
				row.Failed++
			default:
				row.NotRun++
			}
		}
		for _, k := range t.Metrics {
			if v, ok := r.Metrics[k]; ok {
				if row.Metrics == nil {
					row.Metrics = map[string]float64{}
				}
				row.Metrics[k] = v
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// JSON returns the table as indented JSON.
func (t ListTable) JSON() ([]byte, error) {
	return marshalJSON(t)
}

// Text renders the table for a terminal.
func (t ListTable) Text() []byte {
	var b bytes.Buffer
	if len(t.Rows) == 0 {
		b.WriteString("no runs recorded yet: `datalab run` writes one under runs/\n")
		return b.Bytes()
	}
	head := []string{"RUN", "STATUS", "EXPERIMENT", "OVERRIDES", "TOOK", "COMMIT", "RAN/CACHED/SKIPPED"}
	right := []bool{false, false, false, false, true, false, true}
	for _, k := range t.Metrics {
		head = append(head, k)
		right = append(right, true)
	}
	rows := [][]string{head}
	for _, r := range t.Rows {
		stages := fmt.Sprintf("%d/%d/%d", r.Ran, r.Cached, r.Skipped)
		if r.Failed > 0 {
			stages += fmt.Sprintf(" %d failed", r.Failed)
		}
		row := []string{r.ID, r.Status, orNone(r.Experiment), formatOverrides(r.Overrides), FormatDuration(r.DurationSec), ShortCommit(r.Commit, r.Dirty), stages}
		for _, k := range t.Metrics {
			if v, ok := r.Metrics[k]; ok {
				row = append(row, FormatNumber(v))
			} else {
				row = append(row, "—")
			}
		}
		rows = append(rows, row)
	}
	writeTextTable(&b, rows, right)
	return b.Bytes()
}

// formatOverrides writes overrides as "k=v, k=v" sorted by key, "—" when
// there are none.
func formatOverrides(ov map[string]any) string {
	if len(ov) == 0 {
		return "—"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(ov)) {
		parts = append(parts, k+"="+stagerun.FormatParam(ov[k]))
	}
	return strings.Join(parts, ", ")
}

// FormatDuration prints seconds as a rounded duration: "1m35s", "0.4s".
func FormatDuration(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// Show renders one run record readably: identity, code, overrides, params
// (those set on the command line marked), data, stages with status,
// duration, reasons and logs, and metrics.
func Show(r *stagerun.RunRecord) []byte {
	var b bytes.Buffer
	title := "run " + r.ID + ": " + r.Status
	if r.Experiment != "" {
		title += " (experiment " + r.Experiment + ")"
	}
	fmt.Fprintln(&b, title)
	targets := "all stages"
	if len(r.Targets) > 0 {
		targets = strings.Join(r.Targets, ", ")
	}
	if r.Force {
		targets += " (--force)"
	}
	facts := [][]string{
		{"started", r.Start.UTC().Format("2006-01-02 15:04:05Z") + ", took " + FormatDuration(r.DurationSec)},
		{"pipeline", r.Pipeline + ", targets: " + targets},
		{"commit", commitLine(r.Git)},
		{"versions", "datalab " + orNone(r.DatalabVersion) + ", " + orNone(r.GoVersion)},
	}
	if r.Remote != "" {
		facts = append(facts, []string{"remote", r.Remote})
	}
	if r.Error != "" {
		facts = append(facts, []string{"error", r.Error})
	}
	writeTextTable(&b, facts, nil)

	if len(r.Overrides) > 0 {
		fmt.Fprintf(&b, "\nOverrides (datalab run --set, datalab exp run)\n")
		var rows [][]string
		for _, k := range slices.Sorted(maps.Keys(r.Overrides)) {
			rows = append(rows, []string{k, "=", stagerun.FormatParam(r.Overrides[k])})
		}
		writeTextTable(&b, rows, nil)
	}
	if len(r.Params) > 0 {
		fmt.Fprintf(&b, "\nParams (%d; * = set by an override)\n", len(r.Params))
		var rows [][]string
		for _, k := range slices.Sorted(maps.Keys(r.Params)) {
			mark := " "
			if overridden(r.Overrides, k) {
				mark = "*"
			}
			rows = append(rows, []string{mark + " " + k, stagerun.FormatParam(r.Params[k])})
		}
		writeTextTable(&b, rows, nil)
	}
	if len(r.Datasets) > 0 {
		fmt.Fprintf(&b, "\nData (%d)\n", len(r.Datasets))
		var rows [][]string
		for _, k := range slices.Sorted(maps.Keys(r.Datasets)) {
			rows = append(rows, []string{k, r.Datasets[k]})
		}
		writeTextTable(&b, rows, nil)
	}
	if len(r.Stages) > 0 {
		fmt.Fprintf(&b, "\nStages (%d)\n", len(r.Stages))
		rows := [][]string{{"STAGE", "STATUS", "TOOK", "ATTEMPTS", "KEY", "WHY / ERRORS", "LOG"}}
		for _, s := range r.Stages {
			why := strings.Join(s.Reasons, "; ")
			if len(s.Errors) > 0 {
				why = strings.Join(s.Errors, "; ")
			}
			if len(s.Fetched) > 0 {
				why = strings.TrimPrefix(why+"; fetched "+strings.Join(s.Fetched, ", "), "; ")
			}
			took, attempts := "—", "—"
			if s.DurationSec > 0 || len(s.Attempts) > 0 {
				took = FormatDuration(s.DurationSec)
			}
			if len(s.Attempts) > 0 {
				attempts = fmt.Sprint(len(s.Attempts))
			}
			rows = append(rows, []string{s.Name, s.Status, took, attempts, shortKey(s.Key), orNone(why), orNone(s.Log)})
		}
		writeTextTable(&b, rows, []bool{false, false, true, true})
		fmt.Fprintln(&b, "  (logs are relative to the pipeline's directory; a published copy under reports/runs has no logs)")
	}
	if len(r.Metrics) > 0 {
		fmt.Fprintf(&b, "\nMetrics (%d)\n", len(r.Metrics))
		var rows [][]string
		for _, k := range slices.Sorted(maps.Keys(r.Metrics)) {
			rows = append(rows, []string{k, FormatNumber(r.Metrics[k])})
		}
		writeTextTable(&b, rows, []bool{false, true})
	} else {
		fmt.Fprintln(&b, "\nMetrics: none recorded (the pipeline file's metrics: section names the files a run reads them from)")
	}
	return b.Bytes()
}

func commitLine(g stagerun.GitState) string {
	if g.Commit == "" {
		return "unknown (" + orNone(g.Error) + ")"
	}
	s := ShortCommit(g.Commit, g.Dirty)
	if g.Branch != "" {
		s += " on " + g.Branch
	}
	if g.Dirty {
		s += " (uncommitted changes to tracked files)"
	}
	return s
}

// overridden reports whether param key was set by an override: the key
// itself, or a part of it (flights.variants.0.forest.max_depth inside
// flights.variants).
func overridden(ov map[string]any, key string) bool {
	for k := range ov {
		if k == key || strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}
