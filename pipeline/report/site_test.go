package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// siteRunID is the id of synthetic run i: stagerun's format, one hour
// apart from 2026-11-01.
func siteRunID(i int) string {
	return siteRunTime(i).Format("20060102T150405Z") + fmt.Sprintf("-%06x", i)
}

func siteRunTime(i int) time.Time {
	return time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
}

// writeSiteRun writes synthetic run i into the site dir the way `datalab
// run` leaves it: a binary "matches" report and a three-class "flights"
// report, each with headline metrics and curves from real evaluate results
// (different data per run), and, with record, the run record published
// beside them, its max_depth override varying with i.
func writeSiteRun(t testing.TB, dir string, i int, record bool) {
	t.Helper()
	id := siteRunID(i)
	for _, k := range []struct {
		kind    string
		classes []string
	}{
		{"matches", []string{"not home win", "home win"}},
		{"flights", []string{"early", "on time", "late", "very late"}},
	} {
		comps := sampleComparisons(t, k.classes, 300, uint64(i+1))
		r := New(k.kind + " report of run " + id)
		r.Lineage(Lineage{Commit: fmt.Sprintf("%012x%028x", i, 0), RunID: id, Created: siteRunTime(i)})
		r.Section("Metrics")
		r.MetricsTable("Hold-out", comps)
		r.Headline(comps[0].Result)
		r.HeadlineMetric("baseline_accuracy", comps[2].Result.Accuracy)
		if err := r.Write(RunPath(dir, id, k.kind)); err != nil {
			t.Fatal(err)
		}
	}
	if !record {
		return
	}
	depth := 4 + 2*(i%5)
	rec := &stagerun.RunRecord{
		ID: id, Pipeline: "datalab.yaml", Status: "ok", Start: siteRunTime(i), End: siteRunTime(i).Add(3 * time.Minute), DurationSec: 180,
		Git:       stagerun.GitState{Commit: fmt.Sprintf("%012x%028x", i, 0), Branch: "main"},
		GoVersion: "go1.26.8", DatalabVersion: "dev",
		Datasets: map[string]string{"data/matches.csv": "sha256:aaaa"},
		Params: map[string]any{
			"matches.forests.default.max_depth": depth, "matches.forests.default.trees": 50,
			"flights.variants": []any{map[string]any{"name": "bts", "max_depth": 8}},
		},
		Overrides:  map[string]any{"matches.forests.default.max_depth": depth},
		Experiment: fmt.Sprintf("depth-%d", depth),
		Metrics:    map[string]float64{"matches.holdout.accuracy": 0.6 + 0.001*float64(i), "matches.holdout.log_loss": 0.7 - 0.001*float64(i), "flights.rows": 3000},
	}
	if err := publishRecord(dir, rec); err != nil {
		t.Fatal(err)
	}
}

// writeSite writes n synthetic runs, every third without a run record.
func writeSite(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		writeSiteRun(t, dir, i, i%3 != 1)
	}
	return dir
}

func readPage(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runIDsOn lists the run ids a page's runs table shows, in order.
func runIDsOn(t testing.TB, page []byte) []string {
	t.Helper()
	var ids []string
	for _, tr := range elements(parse(t, page), "tr") {
		if id := attr(tr, "id"); strings.HasPrefix(id, "run-") {
			ids = append(ids, strings.TrimPrefix(id, "run-"))
		}
	}
	return ids
}

func TestIndexPaging(t *testing.T) {
	for _, n := range []int{0, 1, 50, 51, 120} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			for i := range n {
				// Records only: paging must not depend on reports.
				rec := &stagerun.RunRecord{ID: siteRunID(i), Status: "ok", Start: siteRunTime(i)}
				if err := publishRecord(dir, rec); err != nil {
					t.Fatal(err)
				}
			}
			if err := BuildIndex(dir); err != nil {
				t.Fatal(err)
			}
			wantPages := max(1, (n+RunsPerPage-1)/RunsPerPage)
			var all []string
			for p := 1; p <= wantPages; p++ {
				page := readPage(t, filepath.Join(dir, indexPageName(p)))
				ids := runIDsOn(t, page)
				if want := min(RunsPerPage, n-(p-1)*RunsPerPage); len(ids) != max(want, 0) {
					t.Errorf("page %d lists %d runs, want %d", p, len(ids), want)
				}
				all = append(all, ids...)
				doc := parse(t, page)
				var prev, next string
				for _, a := range elements(doc, "a") {
					switch attr(a, "rel") {
					case "prev":
						prev = attr(a, "href")
					case "next":
						next = attr(a, "href")
					}
				}
				if p > 1 && prev != indexPageName(p-1) || p == 1 && prev != "" {
					t.Errorf("page %d: prev link %q", p, prev)
				}
				if p < wantPages && next != indexPageName(p+1) || p == wantPages && next != "" {
					t.Errorf("page %d: next link %q", p, next)
				}
				// Only the front page has trends and notebooks.
				if hasNotebooks := bytes.Contains(page, []byte(`id="notebooks"`)); hasNotebooks != (p == 1) {
					t.Errorf("page %d: notebooks section present = %v", p, hasNotebooks)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, indexPageName(wantPages+1))); !os.IsNotExist(err) {
				t.Errorf("page %d exists: %v", wantPages+1, err)
			}
			// Every run once, newest first.
			if len(all) != n {
				t.Fatalf("%d runs listed over all pages, want %d", len(all), n)
			}
			for k, id := range all {
				if id != siteRunID(n-1-k) {
					t.Fatalf("run %d listed is %s, want %s", k, id, siteRunID(n-1-k))
				}
			}
			if n == 0 && !bytes.Contains(readPage(t, filepath.Join(dir, "index.html")), []byte("No reports yet.")) {
				t.Error("empty index does not say so")
			}
		})
	}
}

func TestIndexPagingStableAndShrinks(t *testing.T) {
	dir := writeSite(t, 55)
	if err := BuildIndex(dir); err != nil {
		t.Fatal(err)
	}
	files := func() map[string][]byte {
		out := map[string][]byte{}
		for _, pattern := range []string{"index*.html", "diffs/*.html"} {
			m, _ := filepath.Glob(filepath.Join(dir, pattern))
			for _, f := range m {
				out[f] = readPage(t, f)
			}
		}
		return out
	}
	first := files()
	if len(first) < 3 {
		t.Fatalf("only %d pages written", len(first))
	}
	if err := BuildIndex(dir); err != nil {
		t.Fatal(err)
	}
	second := files()
	for f, b := range first {
		if !bytes.Equal(b, second[f]) {
			t.Errorf("%s changed between two builds of the same site", f)
		}
	}
	// Fewer runs: the second page goes away.
	for i := range 10 {
		if err := os.RemoveAll(filepath.Join(dir, "runs", siteRunID(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := BuildIndex(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index-2.html")); !os.IsNotExist(err) {
		t.Errorf("index-2.html left behind with 45 runs: %v", err)
	}
}

func TestIndexRunRows(t *testing.T) {
	dir := writeSite(t, 3)
	if err := BuildIndex(dir); err != nil {
		t.Fatal(err)
	}
	page := readPage(t, filepath.Join(dir, "index.html"))
	doc := parse(t, page)
	runs := tableByClass(t, doc, "runs")
	rows := elements(runs, "tr")[1:]
	if len(rows) != 6 { // 3 runs × 2 reports
		t.Fatalf("%d rows in the runs table, want 6", len(rows))
	}
	// Newest run (2) has a record: experiment, overrides, commit, run.json.
	first := textOf(rows[0])
	for _, want := range []string{siteRunID(2), "2026-11-01 02:00:00Z", "depth-8", "matches.forests.default.max_depth=8", "000000000002", "run.json", "flights", "vs previous"} {
		if !strings.Contains(first, want) {
			t.Errorf("newest run row %q lacks %q", first, want)
		}
	}
	// Run 1 has no record: no experiment, but its reports and commit.
	if txt := textOf(rows[2]); strings.Contains(txt, "depth-") || strings.Contains(txt, "run.json") || !strings.Contains(txt, "000000000001") {
		t.Errorf("run without record row: %q", txt)
	}
	// Headline metric cells are filled for every report.
	for i, tr := range rows {
		nums := 0
		for _, td := range elements(tr, "td") {
			if strings.Contains(attr(td, "class"), "num") && textOf(td) != "" {
				nums++
			}
		}
		if nums != len(indexColumns) {
			t.Errorf("row %d has %d metric cells filled, want %d", i, nums, len(indexColumns))
		}
	}
	if !fileExists(filepath.Join(dir, "runs", siteRunID(2), RunRecordName)) {
		t.Error("run record not published")
	}
}

func tableByClass(t testing.TB, doc *html.Node, class string) *html.Node {
	t.Helper()
	for _, tbl := range elements(doc, "table") {
		if attr(tbl, "class") == class {
			return tbl
		}
	}
	t.Fatalf("no table of class %q", class)
	return nil
}

func TestTrends(t *testing.T) {
	dir := writeSite(t, 4)
	idx, err := ScanIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Trends) != 2 || idx.Trends[0].Kind != "flights" || idx.Trends[1].Kind != "matches" {
		t.Fatalf("trends for %+v", idx.Trends)
	}
	m := idx.Trends[1]
	var keys []string
	for _, mt := range m.Metrics {
		keys = append(keys, mt.Key)
	}
	// evaluate's headline order, then the extra metric.
	var want string
	for _, m := range (&evaluate.Result{}).Metrics() {
		want += m.Key + " "
	}
	want += "baseline_accuracy"
	if strings.Join(keys, " ") != want {
		t.Errorf("matches trend metrics %q, want %q", strings.Join(keys, " "), want)
	}
	acc := m.Metrics[0]
	if len(acc.Points) != 4 {
		t.Fatalf("%d accuracy points, want 4", len(acc.Points))
	}
	for i, p := range acc.Points {
		e := idx.run(siteRunID(i)).Report("matches")
		if p.Index != i || p.RunID != siteRunID(i) || p.Value != e.Metrics["accuracy"] || p.Href != "runs/"+siteRunID(i)+"/matches.html" {
			t.Errorf("point %d = %+v", i, p)
		}
	}
	if acc.Points[0].Note != "experiment depth-4; matches.forests.default.max_depth=4" || acc.Points[1].Note != "" {
		t.Errorf("notes %q %q", acc.Points[0].Note, acc.Points[1].Note)
	}

	// The chart: sized, one linked point per run with a tooltip, labelled
	// axes.
	svg := string(acc.Chart("matches", 4))
	doc := parse(t, []byte("<!doctype html><body>"+svg))
	root := elements(doc, "svg")[0]
	if attr(root, "width") == "" || attr(root, "height") == "" || !strings.HasPrefix(attr(root, "viewBox"), "0 0 ") {
		t.Errorf("chart not sized: %v", root.Attr)
	}
	circles := elements(root, "circle")
	if len(circles) != 4 {
		t.Fatalf("%d points drawn, want 4", len(circles))
	}
	for i, c := range circles {
		tip := textOf(c)
		if !strings.Contains(tip, "Accuracy = "+formatMetric(acc.Points[i].Value)) || !strings.Contains(tip, siteRunID(i)) {
			t.Errorf("point %d tooltip %q", i, tip)
		}
		if c.Parent.Data != "a" || attr(c.Parent, "href") != acc.Points[i].Href {
			t.Errorf("point %d not linked to its report", i)
		}
	}
	text := textOf(root)
	for _, want := range []string{"Nov 1 00:00", "Nov 1 03:00", "runs, oldest → newest", "Accuracy"} {
		if !strings.Contains(text, want) {
			t.Errorf("chart text lacks %q: %q", want, text)
		}
	}
	// The points rise and fall with the values: higher value, smaller y.
	for i := 1; i < len(circles); i++ {
		dy := cy(t, circles[i]) - cy(t, circles[i-1])
		dv := acc.Points[i].Value - acc.Points[i-1].Value
		if dv != 0 && (dy < 0) != (dv > 0) {
			t.Errorf("points %d→%d: value change %v drawn as y change %v", i-1, i, dv, dy)
		}
	}

	// One run of a kind: no trend yet, and the page says why.
	one := t.TempDir()
	writeSiteRun(t, one, 0, true)
	if err := BuildIndex(one); err != nil {
		t.Fatal(err)
	}
	if page := readPage(t, filepath.Join(one, "index.html")); !bytes.Contains(page, []byte("a trend appears with the second run")) {
		t.Error("single-run index does not explain the missing trend")
	}
}

func cy(t testing.TB, n *html.Node) float64 {
	t.Helper()
	var v float64
	if _, err := fmt.Sscan(attr(n, "cy"), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDiffPage(t *testing.T) {
	dir := writeSite(t, 4)
	path, err := WriteDiff(dir, siteRunID(0), "latest")
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, "diffs", siteRunID(0)+".."+siteRunID(3)+".html") {
		t.Errorf("diff page at %s", path)
	}
	page := readPage(t, path)
	doc := parse(t, page)

	// Parameters: only the changed one, from the run records.
	params := tableByClass(t, doc, "params")
	if rows := elements(params, "tr")[1:]; len(rows) != 1 || textOf(rows[0]) != "matches.forests.default.max_depth410" {
		t.Errorf("params diff: %q", textOf(params))
	}
	// Pipeline metrics from the records, direction-aware.
	tables := elements(doc, "table")
	var metricTables []*html.Node
	for _, tb := range tables {
		if attr(tb, "class") == "diff" {
			metricTables = append(metricTables, tb)
		}
	}
	if len(metricTables) != 3 { // pipeline metrics, flights, matches
		t.Fatalf("%d metric tables, want 3", len(metricTables))
	}
	cells := rowCells
	wantPipeline := []string{
		"matches.holdout.accuracy| 0.6000|num 0.6030|num +0.0030|num pos +0.5%|num pos",
		"matches.holdout.log_loss| 0.7000|num 0.6970|num -0.0030|num pos -0.4%|num pos",
	}
	if got := cells(metricTables[0]); strings.Join(got, "\n") != strings.Join(wantPipeline, "\n") {
		t.Errorf("pipeline metrics:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantPipeline, "\n"))
	}
	if !bytes.Contains(page, []byte("1 other metrics unchanged.")) {
		t.Error("unchanged pipeline metric not counted")
	}
	// Headline metrics of the matches reports: every metric with both
	// values, change and relative change.
	idx, err := ScanIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	ea, eb := idx.run(siteRunID(0)).Report("matches"), idx.run(siteRunID(3)).Report("matches")
	rows := cells(metricTables[2])
	if len(rows) != len(ea.Metrics) {
		t.Fatalf("matches metrics rows %d, want %d", len(rows), len(ea.Metrics))
	}
	accRow := "accuracy| " + formatMetric(ea.Metrics["accuracy"]) + "|num " + formatMetric(eb.Metrics["accuracy"]) + "|num " + signed(eb.Metrics["accuracy"]-ea.Metrics["accuracy"])
	if !strings.HasPrefix(rows[0], accRow) {
		t.Errorf("accuracy row %q, want prefix %q", rows[0], accRow)
	}

	// Curves: ROC and calibration overlaid (two series each, A dashed),
	// confusion matrices side by side.
	svgs := elements(doc, "svg")
	if len(svgs) != 4 { // ROC + calibration for each of the two kinds
		t.Fatalf("%d SVGs, want 4", len(svgs))
	}
	flightsROC, matchesROC, matchesCal := svgs[0], svgs[2], svgs[3]
	if n := len(elements(matchesROC, "polyline")); n != 2 {
		t.Errorf("binary ROC overlay has %d curves, want 2", n)
	}
	if n := len(elements(flightsROC, "polyline")); n != 8 {
		t.Errorf("4-class ROC overlay has %d curves, want 8 (4 classes × 2 runs)", n)
	}
	dashed := 0
	for _, pl := range elements(matchesROC, "polyline") {
		if attr(pl, "stroke-dasharray") != "" {
			dashed++
		}
	}
	if dashed != 1 {
		t.Errorf("%d dashed ROC curves, want 1 (run A)", dashed)
	}
	if n := len(elements(matchesCal, "polyline")); n != 2 {
		t.Errorf("calibration overlay has %d lines, want 2", n)
	}
	if tips := elements(matchesCal, "circle"); len(tips) < 4 || !strings.Contains(textOf(tips[0]), "rows, predicted") {
		t.Errorf("calibration markers: %d", len(tips))
	}
	var confusions []*html.Node
	for _, div := range elements(doc, "div") {
		if attr(div, "class") == "pair" {
			confusions = append(confusions, elements(div, "table")...)
		}
	}
	if len(confusions) != 4 { // two runs × two kinds
		t.Fatalf("%d confusion tables side by side, want 4", len(confusions))
	}
	matchesA := confusions[2]
	total := 0
	for _, td := range elements(matchesA, "td") {
		if strings.Contains(attr(td, "class"), " h") { // the shaded count cells
			var v int
			fmt.Sscan(textOf(td), &v)
			total += v
		}
	}
	if total != 300 {
		t.Errorf("matches confusion of run A sums to %d, want 300", total)
	}
	// Links go back up from diffs/.
	for _, a := range elements(doc, "a") {
		if href := attr(a, "href"); !strings.HasPrefix(href, "../") && !strings.HasPrefix(href, "#") {
			t.Errorf("link %q not relative to diffs/", href)
		}
	}
	// Same runs, same bytes.
	if _, err := WriteDiff(dir, siteRunID(0), siteRunID(3)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(page, readPage(t, path)) {
		t.Error("diff page changed when written again")
	}
	if bytes.Contains(page, []byte("<script")) || regexp.MustCompile(`(src|href)="https?:`).Match(page) {
		t.Error("diff page is not self-contained")
	}
}

func TestDiffPageWithoutRecordsOrCurves(t *testing.T) {
	dir := writeSite(t, 2) // run 1 has no record
	// A third run whose report predates curves in sidecars.
	old := New("old matches")
	old.Lineage(Lineage{RunID: "20261201T000000Z-old000", Created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	old.HeadlineMetric("accuracy", 0.5)
	if err := old.Write(RunPath(dir, "20261201T000000Z-old000", "matches")); err != nil {
		t.Fatal(err)
	}
	path, err := WriteDiff(dir, siteRunID(0), siteRunID(1))
	if err != nil {
		t.Fatal(err)
	}
	if page := readPage(t, path); !bytes.Contains(page, []byte("No published run record for "+siteRunID(1))) {
		t.Error("diff page does not say why parameters are not compared")
	}
	path, err = WriteDiff(dir, siteRunID(1), "20261201T000000Z-old")
	if err != nil {
		t.Fatal(err)
	}
	page := readPage(t, path)
	for _, want := range []string{"No curves to overlay", "Only run " + siteRunID(1) + " has a flights report."} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("diff page lacks %q", want)
		}
	}
	if _, err := WriteDiff(dir, siteRunID(0), "nosuchrun"); err == nil || !strings.Contains(err.Error(), "nosuchrun") {
		t.Errorf("unknown run: %v", err)
	}
}

func TestSidecarCurves(t *testing.T) {
	// A curve with far more points than a sidecar keeps.
	n := 5000
	x, y := make([]float64, n), make([]float64, n)
	for i := range n {
		x[i] = float64(i) / float64(n-1)
		y[i] = 1 - (1-x[i])*(1-x[i])
	}
	xs, ys := downsampleCurve(x, y, MaxSidecarROCPoints)
	if len(xs) > MaxSidecarROCPoints || len(xs) < MaxSidecarROCPoints/2 || len(xs) != len(ys) {
		t.Fatalf("downsampled to %d/%d points", len(xs), len(ys))
	}
	if xs[0] != 0 || ys[0] != 0 || xs[len(xs)-1] != 1 || ys[len(ys)-1] != 1 {
		t.Error("end points lost")
	}
	for i := 1; i < len(xs); i++ {
		if xs[i] <= xs[i-1] {
			t.Fatalf("points out of order at %d", i)
		}
		if d := ys[i] - (1 - (1-xs[i])*(1-xs[i])); d > 2e-6 || d < -2e-6 {
			t.Fatalf("point %d off the curve by %v", i, d)
		}
	}

	// A report's sidecar carries its headline result's curves, small and
	// stable.
	comps := sampleComparisons(t, []string{"a", "b", "c"}, 20000, 3)
	dir := t.TempDir()
	write := func(name string) []byte {
		r := New("curves")
		r.Headline(comps[0].Result)
		path := RunPath(dir, "r1", name)
		if err := r.Write(path); err != nil {
			t.Fatal(err)
		}
		return readPage(t, SidecarPath(path))
	}
	a, b := write("x"), write("y")
	if !bytes.Equal(bytes.ReplaceAll(a, []byte(`"x`), []byte(`"y`)), b) {
		t.Error("same result, different sidecars")
	}
	sc, err := ReadSidecar(filepath.Join(dir, "runs", "r1", "x.report.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := sc.Curves
	if c == nil || len(c.Classes) != 3 || len(c.ROC) != 3 || len(c.Calibration) != evaluate.CalibrationBins || len(c.Confusion) != 3 {
		t.Fatalf("sidecar curves = %+v", c)
	}
	for i, cv := range c.ROC {
		if len(cv.FPR) > MaxSidecarROCPoints || cv.AUC != round6(comps[0].Result.ROC[i].AUC) {
			t.Errorf("curve %s: %d points, AUC %v", cv.Class, len(cv.FPR), cv.AUC)
		}
	}
	if len(a) > 40_000 {
		t.Errorf("sidecar is %d bytes", len(a))
	}
	t.Logf("sidecar of a 3-class result over 20000 rows: %d bytes; ROC points %d → %d", len(a), len(comps[0].Result.ROC[0].FPR), len(c.ROC[0].FPR))
}

func TestPublishRunRejectsBadIDs(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{"", "..", "a/b", `a\b`, "x..y"} {
		if err := PublishRun(dir, &stagerun.RunRecord{ID: id}); err == nil {
			t.Errorf("PublishRun accepted id %q", id)
		}
	}
	if err := PublishRun(dir, nil); err == nil {
		t.Error("PublishRun accepted a nil record")
	}
	// A corrupt published record is an error naming it.
	bad := filepath.Join(dir, "runs", "r1", RunRecordName)
	if err := os.MkdirAll(filepath.Dir(bad), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := BuildIndex(dir); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("corrupt record: %v", err)
	}
}

// rowCells lists a table's body rows as "text|class text|class …".
func rowCells(tb *html.Node) []string {
	var out []string
	for _, tr := range elements(tb, "tr")[1:] {
		var tds []string
		for _, td := range elements(tr, "td") {
			tds = append(tds, textOf(td)+"|"+attr(td, "class"))
		}
		out = append(out, strings.Join(tds, " "))
	}
	return out
}
