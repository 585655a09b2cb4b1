package report

import (
	"bytes"
	"fmt"
	"html/template"
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
	"github.com/datalabhq/datalab/pipeline/rundiff"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// IndexEntry is one report or notebook listed by the site index.
type IndexEntry struct {
	Sidecar
	Href string // path relative to the reports directory, slash-separated
}

// KindDiff compares the newest two runs of one report kind.
type KindDiff struct {
	Kind     string
	Old, New IndexEntry
	Rows     []rundiff.MetricChange
}

// RunsPerPage is how many runs one index page lists: index.html the newest,
// index-2.html the next, and so on.
const RunsPerPage = 50

// DAGFile is the stage-graph picture the index shows when IndexOptions.DAG
// is empty: <reportsDir>/pipeline.svg, if present, is inlined.
const DAGFile = "pipeline.svg"

// IndexOptions adds what the reports directory itself does not hold.
type IndexOptions struct {
	// DAG is the pipeline's stage graph as an inline <svg> element (trusted
	// HTML, drawn by datalab), shown on the first index page. Empty: the
	// index inlines <reportsDir>/pipeline.svg if it exists.
	DAG template.HTML
}

// Index is the content of the site's index pages.
type Index struct {
	Runs      []RunEntry   // every run with a report or a published record, newest first
	Reports   []IndexEntry // newest first
	Notebooks []IndexEntry // newest first
	Diffs     []KindDiff   // by kind name
	Trends    []KindTrend  // by kind name
	DAG       template.HTML
}

// BuildIndex scans reportsDir and atomically writes the site's index:
// index.html (the stage graph, trend plots per report kind and headline
// metric, the newest changes, the newest RunsPerPage runs and every
// notebook) and index-2.html, … for older runs; and, under diffs/, the diff
// page of each consecutive pair of runs of a report kind (DiffPageName).
// Pages left over from a longer run list are removed. Same files, same
// bytes.
func BuildIndex(reportsDir string) error {
	return BuildIndexWith(reportsDir, IndexOptions{})
}

// BuildIndexWith is BuildIndex with options.
func BuildIndexWith(reportsDir string, opt IndexOptions) error {
	idx, err := ScanIndex(reportsDir)
	if err != nil {
		return err
	}
	if opt.DAG != "" {
		idx.DAG = opt.DAG
	}
	for _, pair := range idx.ConsecutivePairs() {
		if err := writeDiffPage(reportsDir, idx, pair[0], pair[1]); err != nil {
			return err
		}
	}
	pages, err := idx.RenderPages()
	if err != nil {
		return err
	}
	for i, page := range pages {
		path := filepath.Join(reportsDir, indexPageName(i+1))
		if err := writeIfChanged(path, page); err != nil {
			return fmt.Errorf("write report index: %w", err)
		}
	}
	return removeStalePages(reportsDir, len(pages))
}

// indexPageName is the file of index page n (1-based).
func indexPageName(n int) string {
	if n == 1 {
		return "index.html"
	}
	return fmt.Sprintf("index-%d.html", n)
}

// removeStalePages deletes index-N.html for N beyond the current page
// count (left by a run list that has since shrunk).
func removeStalePages(reportsDir string, pages int) error {
	matches, err := filepath.Glob(filepath.Join(reportsDir, "index-*.html"))
	if err != nil {
		return err
	}
	for _, m := range matches {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), "index-"), ".html"))
		if err != nil || n <= pages {
			continue
		}
		if err := os.Remove(m); err != nil {
			return fmt.Errorf("remove stale index page: %w", err)
		}
	}
	return nil
}

// writeIfChanged writes data atomically unless path already holds exactly
// it, so rebuilding the site does not touch unchanged pages.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return atomicfile.WriteFile(path, data)
}

// ScanIndex reads what BuildIndex lists without writing anything.
func ScanIndex(reportsDir string) (*Index, error) {
	if st, err := os.Stat(reportsDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("report index: %s is not a directory (create it, or pass the reports directory): %v", reportsDir, err)
	}
	idx := &Index{}
	records := map[string]*stagerun.RunRecord{}
	runs := filepath.Join(reportsDir, "runs")
	err := walkIfExists(runs, func(path string) error {
		if filepath.Base(path) == RunRecordName && filepath.Dir(filepath.Dir(path)) == runs {
			rec, err := rundiff.ReadRecord(path)
			if err != nil {
				return err
			}
			records[filepath.Base(filepath.Dir(path))] = rec
			return nil
		}
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
	idx.Runs = groupRuns(records, idx.Reports)
	idx.Diffs = diffNewestRuns(idx.Runs)
	idx.Trends = trends(idx.Runs)
	dag, err := os.ReadFile(filepath.Join(reportsDir, DAGFile))
	switch {
	case err == nil:
		idx.DAG = template.HTML(dag)
	case !os.IsNotExist(err):
		return nil, fmt.Errorf("report index: %w", err)
	}
	return idx, nil
}

// ConsecutivePairs lists, for every report kind, each run and the run of
// that kind before it, as [older, newer] run ids, each pair once, in a
// fixed order: the diff pages BuildIndex writes and the index links.
func (idx *Index) ConsecutivePairs() [][2]string {
	seen := map[[2]string]bool{}
	var pairs [][2]string
	byKind := kindRuns(idx.Runs)
	for _, kind := range slices.Sorted(maps.Keys(byKind)) {
		runs := byKind[kind]
		for i := 1; i < len(runs); i++ {
			p := [2]string{runs[i-1].ID, runs[i].ID}
			if !seen[p] {
				seen[p] = true
				pairs = append(pairs, p)
			}
		}
	}
	return pairs
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

// diffNewestRuns compares, for each kind, the reports of its newest two
// runs in the runs table's order (kindRuns) — the pair whose page
// BuildIndex writes. (Ordering by report time instead linked a reversed
// page that no build wrote when a run started first but reported last.)
func diffNewestRuns(runs []RunEntry) []KindDiff {
	byKind := kindRuns(runs)
	var diffs []KindDiff
	for _, kind := range slices.Sorted(maps.Keys(byKind)) {
		kr := byKind[kind]
		if len(kr) < 2 || kr[len(kr)-1].ID == kr[len(kr)-2].ID {
			continue
		}
		newRun, oldRun := kr[len(kr)-1].Report(kind), kr[len(kr)-2].Report(kind)
		diffs = append(diffs, KindDiff{Kind: kind, New: *newRun, Old: *oldRun, Rows: rundiff.CompareMetrics(oldRun.Metrics, newRun.Metrics)})
	}
	return diffs
}

// indexColumns are the headline metrics shown for each report in the list.
var indexColumns = []struct{ Key, Label string }{
	{"accuracy", "Accuracy"}, {"balanced_accuracy", "Balanced acc."}, {"weighted_f1", "Weighted F1"},
	{"log_loss", "Log loss"}, {"auc", "AUC"},
}

// metricRow is one row of a metrics comparison table (index "latest
// changes", diff pages).
type metricRow struct{ Metric, Old, New, Change, Rel, Class string }

// metricRows formats CompareMetrics' rows: "—" where a run lacks the
// metric, the change signed, the relative change in percent, improvements
// "pos" and regressions "neg".
func metricRows(changes []rundiff.MetricChange) []metricRow {
	rows := make([]metricRow, len(changes))
	for i, m := range changes {
		r := metricRow{Metric: m.Key, Old: "—", New: "—", Change: "—", Rel: "—"}
		if m.HasOld {
			r.Old = formatMetric(m.Old)
		}
		if m.HasNew {
			r.New = formatMetric(m.New)
		}
		if m.HasOld && m.HasNew {
			r.Change = signed(m.Abs)
			if m.HasRel {
				r.Rel = signedPercent(m.Rel)
			}
		}
		switch m.Verdict {
		case "better":
			r.Class = "pos"
		case "worse":
			r.Class = "neg"
		}
		rows[i] = r
	}
	return rows
}

// indexPage is what the "index" template renders: page n of the site's run
// list; the first page also carries the graph, trends, latest changes and
// notebooks.
type indexPage struct {
	Style      string
	Page       int
	Pages      int
	Prev, Next string
	TotalRuns  int
	FirstRun   int // 1-based position of the page's first run
	LastRun    int
	Labels     []string
	Runs       []runRow
	DAG        template.HTML
	Trends     []trendView
	Diffs      []diffView
	Notebooks  []notebookRow
	TrendKinds int // kinds with any report, to say why no trend shows
	// NoReportSpan is the colspan of the "no report" cell of a run that
	// has only a record: the report, diff and metric columns.
	NoReportSpan int
}

type runRow struct {
	ID, Time, Experiment, Overrides, Commit, Status, Record string
	Reports                                                 []runReportRow
	Span                                                    int // rows the run's cells span (one per report, at least one)
}

type runReportRow struct {
	Kind, Title, Href string
	Metrics           []string
	DiffHref, PrevRun string
}

type trendView struct {
	Kind   string
	Runs   int
	Charts []template.HTML
}

type diffView struct {
	Kind, OldRun, NewRun, OldHref, NewHref, PageHref string
	Rows                                             []metricRow
}

type notebookRow struct{ Created, Title, Href string }

// RenderPages returns the index pages: [0] is index.html, [1] index-2.html,
// and so on (one page when there are RunsPerPage runs or fewer).
func (idx *Index) RenderPages() ([][]byte, error) {
	var labels []string
	for _, c := range indexColumns {
		labels = append(labels, c.Label)
	}
	prev := previousRuns(idx.Runs)
	pages := max(1, (len(idx.Runs)+RunsPerPage-1)/RunsPerPage)
	out := make([][]byte, pages)
	for n := 1; n <= pages; n++ {
		lo, hi := (n-1)*RunsPerPage, min(n*RunsPerPage, len(idx.Runs))
		page := indexPage{Style: styleCSS + siteCSS, Page: n, Pages: pages, TotalRuns: len(idx.Runs), FirstRun: lo + 1, LastRun: hi, Labels: labels, NoReportSpan: len(labels) + 2}
		if n > 1 {
			page.Prev = indexPageName(n - 1)
		}
		if n < pages {
			page.Next = indexPageName(n + 1)
		}
		for _, r := range idx.Runs[lo:hi] {
			page.Runs = append(page.Runs, runRowOf(r, prev))
		}
		if n == 1 {
			idx.firstPage(&page)
		}
		var buf bytes.Buffer
		if err := reportTemplate.ExecuteTemplate(&buf, "index", page); err != nil {
			return nil, fmt.Errorf("render report index page %d: %w", n, err)
		}
		out[n-1] = buf.Bytes()
	}
	return out, nil
}

// Render returns the first index page (index.html).
func (idx *Index) Render() ([]byte, error) {
	pages, err := idx.RenderPages()
	if err != nil {
		return nil, err
	}
	return pages[0], nil
}

// firstPage adds the stage graph, trends, latest changes and notebooks.
func (idx *Index) firstPage(page *indexPage) {
	page.DAG = idx.DAG
	kinds := map[string]bool{}
	for _, e := range idx.Reports {
		kinds[e.Kind] = true
	}
	page.TrendKinds = len(kinds)
	for _, kt := range idx.Trends {
		v := trendView{Kind: kt.Kind, Runs: kt.Runs}
		for _, mt := range kt.Metrics {
			v.Charts = append(v.Charts, mt.Chart(kt.Kind, kt.Runs))
		}
		page.Trends = append(page.Trends, v)
	}
	for _, d := range idx.Diffs {
		page.Diffs = append(page.Diffs, diffView{
			Kind: d.Kind, OldRun: runLabel(d.Old), NewRun: runLabel(d.New), OldHref: d.Old.Href, NewHref: d.New.Href,
			PageHref: "diffs/" + DiffPageName(reportRunID(d.Old), reportRunID(d.New)) + "#" + kindAnchor(d.Kind),
			Rows:     metricRows(d.Rows),
		})
	}
	for _, e := range idx.Notebooks {
		page.Notebooks = append(page.Notebooks, notebookRow{Created: createdLabel(e.Created), Title: e.Title, Href: e.Href})
	}
}

// previousRuns maps kind → run id → the id of the kind's run before it.
func previousRuns(runs []RunEntry) map[string]map[string]string {
	out := map[string]map[string]string{}
	for kind, kr := range kindRuns(runs) {
		out[kind] = map[string]string{}
		for i := 1; i < len(kr); i++ {
			out[kind][kr[i].ID] = kr[i-1].ID
		}
	}
	return out
}

func runRowOf(r RunEntry, prev map[string]map[string]string) runRow {
	commit, dirty := r.commit()
	row := runRow{ID: r.ID, Time: createdLabel(r.Time()), Commit: shortCommit(commit, dirty), Span: max(1, len(r.Reports))}
	if rec := r.Record; rec != nil {
		row.Experiment, row.Overrides, row.Status = rec.Experiment, overridesText(rec.Overrides), rec.Status
		row.Record = "runs/" + r.ID + "/" + RunRecordName
	}
	for _, e := range r.Reports {
		rr := runReportRow{Kind: e.Kind, Title: e.Title, Href: e.Href}
		for _, c := range indexColumns {
			if v, ok := e.Metrics[c.Key]; ok {
				rr.Metrics = append(rr.Metrics, formatMetric(v))
			} else {
				rr.Metrics = append(rr.Metrics, "")
			}
		}
		if p, ok := prev[e.Kind][r.ID]; ok {
			rr.PrevRun = p
			rr.DiffHref = "diffs/" + DiffPageName(p, r.ID) + "#" + kindAnchor(e.Kind)
		}
		row.Reports = append(row.Reports, rr)
	}
	return row
}

// overridesText lists overrides as "key=value, …" by key, values as
// compact YAML.
func overridesText(ov map[string]any) string {
	parts := make([]string, 0, len(ov))
	for _, k := range slices.Sorted(maps.Keys(ov)) {
		parts = append(parts, k+"="+stagerun.FormatParam(ov[k]))
	}
	return strings.Join(parts, ", ")
}

func createdLabel(t *time.Time) string {
	return runTimeLabel(t, "2006-01-02 15:04:05Z")
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

// signedPercent formats a relative change as a signed percentage.
func signedPercent(v float64) string { return withSign(v, FormatPercent(v)) }

// signed formats a change with its sign and 4 decimals.
func signed(v float64) string { return withSign(v, formatMetric(v)) }

// withSign prefixes the formatted s of v with "+" when v is positive and
// drops the "-" of a negative value that rounds to zero.
func withSign(v float64, s string) string {
	if v > 0 {
		return "+" + s
	}
	if strings.HasPrefix(s, "-") && strings.Trim(s, "-0.%") == "" {
		return s[1:]
	}
	return s
}
