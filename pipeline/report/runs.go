package report

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// RunRecordName is the file name of a run record published into the site:
// <reportsDir>/runs/<run-id>/run.json, beside the run's reports.
const RunRecordName = "run.json"

// RunEntry is one pipeline run in the site: its published run record, if
// any, and the reports it wrote. A run appears in the site when it has
// either.
type RunEntry struct {
	ID      string
	Record  *stagerun.RunRecord // nil when the run's record was not published
	Reports []IndexEntry        // by kind
}

// Time is when the run started (its record), else the newest creation time
// of its reports; nil when neither says.
func (r RunEntry) Time() *time.Time {
	if r.Record != nil && !r.Record.Start.IsZero() {
		t := r.Record.Start.UTC()
		return &t
	}
	var newest *time.Time
	for _, e := range r.Reports {
		if e.Created != nil && (newest == nil || e.Created.After(*newest)) {
			newest = e.Created
		}
	}
	return newest
}

// Report returns the run's report of the given kind, or nil.
func (r RunEntry) Report(kind string) *IndexEntry {
	for i := range r.Reports {
		if r.Reports[i].Kind == kind {
			return &r.Reports[i]
		}
	}
	return nil
}

// commit is the run's git commit and dirty flag: the record's, else the
// first report's.
func (r RunEntry) commit() (string, bool) {
	if r.Record != nil && r.Record.Git.Commit != "" {
		return r.Record.Git.Commit, r.Record.Git.Dirty
	}
	for _, e := range r.Reports {
		if e.Commit != "" {
			return e.Commit, e.Dirty
		}
	}
	return "", false
}

// PublishRun copies a run record into the report site —
// <reportsDir>/runs/<id>/run.json, deterministic JSON, written atomically —
// and rebuilds the index, so the site lists the run with its experiment,
// overrides and parameters, and diff pages can compare its parameters.
// `datalab run` and `datalab exp run` call it for every run that wrote a
// report.
func PublishRun(reportsDir string, rec *stagerun.RunRecord) error {
	if err := publishRecord(reportsDir, rec); err != nil {
		return err
	}
	return BuildIndex(reportsDir)
}

// publishRecord is PublishRun without the index rebuild.
func publishRecord(reportsDir string, rec *stagerun.RunRecord) error {
	if rec == nil || !validRunID(rec.ID) {
		return fmt.Errorf("publish run record: invalid run id %q", runIDOf(rec))
	}
	if err := os.MkdirAll(reportsDir, 0o755); err != nil {
		return fmt.Errorf("publish run %s: %w", rec.ID, err)
	}
	data, err := evaluate.MarshalDeterministic(rec)
	if err != nil {
		return fmt.Errorf("publish run %s: %w", rec.ID, err)
	}
	path := filepath.Join(reportsDir, "runs", rec.ID, RunRecordName)
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("publish run %s: %w", rec.ID, err)
	}
	return nil
}

func runIDOf(rec *stagerun.RunRecord) string {
	if rec == nil {
		return ""
	}
	return rec.ID
}

// validRunID accepts ids usable as one path component (stagerun ids,
// "matches-<hash>" fallbacks): no separators, no dot-only names.
func validRunID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, `/\`) && !strings.Contains(id, "..")
}

// groupRuns assembles the site's runs from the published records (by run
// directory name) and the reports (by sidecar run id, else directory),
// newest first.
func groupRuns(records map[string]*stagerun.RunRecord, reports []IndexEntry) []RunEntry {
	byID := map[string]*RunEntry{}
	entry := func(id string) *RunEntry {
		if e, ok := byID[id]; ok {
			return e
		}
		e := &RunEntry{ID: id}
		byID[id] = e
		return e
	}
	for id, rec := range records {
		entry(id).Record = rec
	}
	for _, r := range reports {
		e := entry(reportRunID(r))
		e.Reports = append(e.Reports, r)
	}
	runs := make([]RunEntry, 0, len(byID))
	for _, e := range byID {
		slices.SortFunc(e.Reports, func(a, b IndexEntry) int { return strings.Compare(a.Kind+"\x00"+a.Href, b.Kind+"\x00"+b.Href) })
		runs = append(runs, *e)
	}
	slices.SortFunc(runs, runsNewestFirst)
	return runs
}

// reportRunID is the run a report belongs to: its sidecar's run id, else
// the directory under runs/ it sits in.
func reportRunID(e IndexEntry) string {
	if e.RunID != "" {
		return e.RunID
	}
	parts := strings.Split(e.Href, "/")
	if len(parts) >= 3 && parts[0] == "runs" {
		return parts[1]
	}
	return e.Href
}

// runsNewestFirst orders by time, then id, both descending; undated last.
func runsNewestFirst(a, b RunEntry) int {
	ta, tb := a.Time(), b.Time()
	if ta != nil && tb != nil && !ta.Equal(*tb) {
		return tb.Compare(*ta)
	}
	if (ta == nil) != (tb == nil) {
		if ta == nil {
			return 1
		}
		return -1
	}
	return strings.Compare(b.ID, a.ID)
}

// kindRuns lists, per report kind, the runs that have a report of that kind,
// oldest first (runs are newest first).
func kindRuns(runs []RunEntry) map[string][]RunEntry {
	out := map[string][]RunEntry{}
	for i := len(runs) - 1; i >= 0; i-- {
		for _, e := range runs[i].Reports {
			out[e.Kind] = append(out[e.Kind], runs[i])
		}
	}
	return out
}
