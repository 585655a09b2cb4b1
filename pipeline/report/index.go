package report

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/html"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/evaluate"
)

// IndexEntry is one report or notebook listed by the site index.
type IndexEntry struct {
	Sidecar
	Href string // path relative to the reports directory, slash-separated
}

// MetricDiff is one row of a run-vs-run comparison (like `dvc metrics
// diff`). Old or New is absent (HasOld/HasNew false) when only one run
// reported the metric.
type MetricDiff struct {
	Metric         string
	Old, New       float64
	HasOld, HasNew bool
	HigherIsBetter *bool // nil for metrics of unknown direction
}

// Change is New - Old; meaningful only when both are present.
func (d MetricDiff) Change() float64 { return d.New - d.Old }

// KindDiff compares the newest two runs of one report kind.
type KindDiff struct {
	Kind     string
	Old, New IndexEntry
	Rows     []MetricDiff
}

// Index is the content of reports/index.html.
type Index struct {
	Reports   []IndexEntry // newest first
	Notebooks []IndexEntry // newest first
	Diffs     []KindDiff   // by kind name
}

// BuildIndex scans reportsDir and atomically writes reportsDir/index.html:
// every report under runs/ that has a sidecar (Write makes both), every
// rendered notebook (*.html) under notebooks/, each newest first, and for
// each report kind with two or more runs a metric diff of the newest two.
func BuildIndex(reportsDir string) error {
	idx, err := ScanIndex(reportsDir)
	if err != nil {
		return err
	}
	page, err := idx.Render()
	if err != nil {
		return err
	}
	path := filepath.Join(reportsDir, "index.html")
	if err := atomicfile.WriteFile(path, page); err != nil {
		return fmt.Errorf("write report index: %w", err)
	}
	return nil
}

// ScanIndex reads what BuildIndex lists without writing anything.
func ScanIndex(reportsDir string) (*Index, error) {
	if st, err := os.Stat(reportsDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("report index: %s is not a directory (create it, or pass the reports directory): %v", reportsDir, err)
	}
	idx := &Index{}
	runs := filepath.Join(reportsDir, "runs")
	err := walkIfExists(runs, func(path string) error {
		if !strings.HasSuffix(path, SidecarSuffix) {
			return nil
		}
		sc, err := ReadSidecar(path)
		if err != nil {
			return err
		}
		htmlPath := filepath.Join(filepath.Dir(path), sc.HTML)
		if sc.HTML == "" || strings.ContainsAny(sc.HTML, `/\`) || !fileExists(htmlPath) {
			slog.Warn("report index: sidecar without its report, skipped", "sidecar", path, "html", sc.HTML)
			return nil
		}
		idx.Reports = append(idx.Reports, IndexEntry{Sidecar: sc, Href: relHref(reportsDir, htmlPath)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	notebooks := filepath.Join(reportsDir, "notebooks")
	err = walkIfExists(notebooks, func(path string) error {
		if filepath.Ext(path) != ".html" {
			return nil
		}
		e, err := notebookEntry(reportsDir, path)
		if err != nil {
			return err
		}
		idx.Notebooks = append(idx.Notebooks, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(idx.Reports, newestFirst)
	slices.SortFunc(idx.Notebooks, newestFirst)
	idx.Diffs = diffNewestRuns(idx.Reports)
	return idx, nil
}

func walkIfExists(root string, fn func(path string) error) error {
	if _, err := os.Stat(root); os.IsNotExist(err) {
		return nil
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		return fn(path)
	})
	if err != nil {
		return fmt.Errorf("report index: scan %s: %w", root, err)
	}
	return nil
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

func relHref(root, path string) string {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		rel = path
	}
	return filepath.ToSlash(rel)
}

// notebookEntry describes a rendered notebook: its sidecar if it has one,
// otherwise its <title> (or file name) and modification time.
func notebookEntry(reportsDir, path string) (IndexEntry, error) {
	e := IndexEntry{Href: relHref(reportsDir, path)}
	if sc := SidecarPath(path); fileExists(sc) {
		s, err := ReadSidecar(sc)
		if err != nil {
			return e, err
		}
		e.Sidecar = s
	}
	e.Kind = "notebook"
	if e.HTML == "" {
		e.HTML = filepath.Base(path)
	}
	if e.Title == "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return e, fmt.Errorf("report index: %w", err)
		}
		e.Title = htmlTitle(data)
		if e.Title == "" {
			e.Title = strings.TrimSuffix(filepath.Base(path), ".html")
		}
	}
	if e.Created == nil {
		st, err := os.Stat(path)
		if err != nil {
			return e, fmt.Errorf("report index: %w", err)
		}
		t := st.ModTime().UTC().Truncate(time.Second)
		e.Created = &t
	}
	return e, nil
}

// htmlTitle returns the text of the first <title> element.
func htmlTitle(page []byte) string {
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		return ""
	}
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "title" {
			var b strings.Builder
			for c := range n.ChildNodes() {
				if c.Type == html.TextNode {
					b.WriteString(c.Data)
				}
			}
			return strings.TrimSpace(b.String())
		}
	}
	return ""
}

// newestFirst orders by creation time, then run id (stagerun ids sort by
// start time), both descending, then by kind and path for stability.
func newestFirst(a, b IndexEntry) int {
	if a.Created != nil && b.Created != nil && !a.Created.Equal(*b.Created) {
		return b.Created.Compare(*a.Created)
	}
	if (a.Created == nil) != (b.Created == nil) {
		if a.Created == nil {
			return 1 // undated after dated
		}
		return -1
	}
	if c := strings.Compare(b.RunID, a.RunID); c != 0 {
		return c
	}
	if c := strings.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return strings.Compare(a.Href, b.Href)
}

// diffNewestRuns compares, for each kind, the newest two of the reports
// (which are sorted newest first).
func diffNewestRuns(reports []IndexEntry) []KindDiff {
	byKind := map[string][]IndexEntry{}
	for _, e := range reports {
		byKind[e.Kind] = append(byKind[e.Kind], e)
	}
	var diffs []KindDiff
	for _, kind := range slices.Sorted(maps.Keys(byKind)) {
		runs := byKind[kind]
		if len(runs) < 2 {
			continue
		}
		diffs = append(diffs, KindDiff{Kind: kind, New: runs[0], Old: runs[1], Rows: DiffMetrics(runs[1].Metrics, runs[0].Metrics)})
	}
	return diffs
}

// DiffMetrics compares two metric sets: evaluate's headline metrics first
// in their usual order, then any others by name.
func DiffMetrics(old, new map[string]float64) []MetricDiff {
	direction := map[string]bool{}
	var keys []string
	for _, m := range (&evaluate.Result{}).Metrics() {
		direction[m.Key] = m.HigherIsBetter
		if _, inOld := old[m.Key]; inOld {
			keys = append(keys, m.Key)
		} else if _, inNew := new[m.Key]; inNew {
			keys = append(keys, m.Key)
		}
	}
	var extra []string
	for _, set := range []map[string]float64{old, new} {
		for k := range set {
			if _, known := direction[k]; !known && !slices.Contains(extra, k) {
				extra = append(extra, k)
			}
		}
	}
	slices.Sort(extra)
	keys = append(keys, extra...)
	rows := make([]MetricDiff, len(keys))
	for i, k := range keys {
		d := MetricDiff{Metric: k}
		d.Old, d.HasOld = old[k]
		d.New, d.HasNew = new[k]
		if hib, ok := direction[k]; ok {
			d.HigherIsBetter = &hib
		}
		rows[i] = d
	}
	return rows
}

// indexColumns are the headline metrics shown for each report in the list.
var indexColumns = []struct{ Key, Label string }{
	{"accuracy", "Accuracy"}, {"balanced_accuracy", "Balanced acc."}, {"weighted_f1", "Weighted F1"},
	{"log_loss", "Log loss"}, {"auc", "AUC"},
}

// Render returns the index page.
func (idx *Index) Render() ([]byte, error) {
	type reportRow struct {
		Created, RunID, Title, Href, Kind, Commit string
		Metrics                                   []string
	}
	type diffRow struct{ Metric, Old, New, Change, Class string }
	type diffTable struct {
		Kind, OldRun, NewRun, OldHref, NewHref string
		Rows                                   []diffRow
	}
	var labels []string
	for _, c := range indexColumns {
		labels = append(labels, c.Label)
	}
	row := func(e IndexEntry) reportRow {
		r := reportRow{RunID: e.RunID, Title: e.Title, Href: e.Href, Kind: e.Kind, Commit: shortCommit(e.Commit, e.Dirty)}
		if e.Created != nil {
			r.Created = e.Created.UTC().Format("2006-01-02 15:04:05Z")
		}
		for _, c := range indexColumns {
			if v, ok := e.Metrics[c.Key]; ok {
				r.Metrics = append(r.Metrics, formatMetric(v))
			} else {
				r.Metrics = append(r.Metrics, "")
			}
		}
		return r
	}
	var reports, notebooks []reportRow
	for _, e := range idx.Reports {
		reports = append(reports, row(e))
	}
	for _, e := range idx.Notebooks {
		notebooks = append(notebooks, row(e))
	}
	var diffs []diffTable
	for _, d := range idx.Diffs {
		t := diffTable{Kind: d.Kind, OldRun: runLabel(d.Old), NewRun: runLabel(d.New), OldHref: d.Old.Href, NewHref: d.New.Href}
		for _, m := range d.Rows {
			r := diffRow{Metric: m.Metric, Old: "—", New: "—", Change: "—"}
			if m.HasOld {
				r.Old = formatMetric(m.Old)
			}
			if m.HasNew {
				r.New = formatMetric(m.New)
			}
			if m.HasOld && m.HasNew {
				r.Change = signed(m.Change())
				if m.HigherIsBetter != nil && m.Change() != 0 {
					r.Class = "neg"
					if (m.Change() > 0) == *m.HigherIsBetter {
						r.Class = "pos"
					}
				}
			}
			t.Rows = append(t.Rows, r)
		}
		diffs = append(diffs, t)
	}
	var buf bytes.Buffer
	err := reportTemplate.ExecuteTemplate(&buf, "index", struct {
		Style              string
		Labels             []string
		Reports, Notebooks []reportRow
		Diffs              []diffTable
	}{styleCSS, labels, reports, notebooks, diffs})
	if err != nil {
		return nil, fmt.Errorf("render report index: %w", err)
	}
	return buf.Bytes(), nil
}

func shortCommit(c string, dirty bool) string {
	if len(c) > 12 {
		c = c[:12]
	}
	if dirty {
		c += " (dirty)"
	}
	return c
}

func runLabel(e IndexEntry) string {
	if e.RunID != "" {
		return e.RunID
	}
	return e.Href
}

// formatMetric prints counts (whole numbers) as integers and everything
// else like FormatFloat.
func formatMetric(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) >= 1 && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return FormatFloat(v)
}

// signed formats a change with its sign and 4 decimals.
func signed(v float64) string {
	s := formatMetric(v)
	if v > 0 {
		return "+" + s
	}
	if s == "-0.0000" {
		return "0.0000"
	}
	return s
}
