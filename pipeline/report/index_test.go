package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// fakeRun writes a small report of kind name in run id with the given
// headline metrics.
func fakeRun(t *testing.T, dir, id, name string, created time.Time, metrics map[string]float64) {
	t.Helper()
	r := New(name + " in " + id)
	r.Lineage(Lineage{Commit: "c0ffee" + id, RunID: id, Created: created})
	r.Section("Metrics")
	for k, v := range metrics {
		r.HeadlineMetric(k, v)
	}
	if err := r.Write(RunPath(dir, id, name)); err != nil {
		t.Fatal(err)
	}
}

func TestBuildIndex(t *testing.T) {
	dir := t.TempDir()
	day := func(d int) time.Time { return time.Date(2026, 11, d, 9, 0, 0, 0, time.UTC) }
	const kind = "matchwinner-binary"
	fakeRun(t, dir, "20261101T090000Z-aaaaaa", kind, day(1), map[string]float64{"accuracy": 0.60, "auc": 0.70, "log_loss": 0.70})
	fakeRun(t, dir, "20261102T090000Z-bbbbbb", kind, day(2), map[string]float64{"accuracy": 0.65, "auc": 0.72, "log_loss": 0.66, "brier": 0.40})
	fakeRun(t, dir, "20261102T090000Z-bbbbbb", "flights-delay", day(2), map[string]float64{"accuracy": 0.5})
	fakeRun(t, dir, "20261103T090000Z-cccccc", kind, day(3), map[string]float64{"accuracy": 0.6725, "auc": 0.71, "log_loss": 0.61, "rows": 571})

	// A notebook without a sidecar (title and mtime) and one with.
	nb := filepath.Join(dir, "notebooks", "eda.html")
	if err := atomicfile.WriteFile(nb, []byte(`<!doctype html><title>Matches EDA &amp; ranks</title><p>x`)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(nb, day(4), day(4)); err != nil {
		t.Fatal(err)
	}
	nb2 := filepath.Join(dir, "notebooks", "flights", "delays.html")
	if err := atomicfile.WriteFile(nb2, []byte(`<!doctype html><title>ignored</title>`)); err != nil {
		t.Fatal(err)
	}
	created := day(5)
	if err := writeSidecarForTest(SidecarPath(nb2), Sidecar{Title: "Flight delays", HTML: "delays.html", Created: &created}); err != nil {
		t.Fatal(err)
	}
	// A sidecar whose report is missing is skipped, not listed.
	if err := writeSidecarForTest(filepath.Join(dir, "runs", "orphan", "gone.report.json"), Sidecar{Kind: "gone", HTML: "gone.html"}); err != nil {
		t.Fatal(err)
	}

	idx, err := ScanIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range idx.Reports {
		order = append(order, e.RunID+"/"+e.Kind)
	}
	want := []string{
		"20261103T090000Z-cccccc/" + kind,
		"20261102T090000Z-bbbbbb/flights-delay",
		"20261102T090000Z-bbbbbb/" + kind,
		"20261101T090000Z-aaaaaa/" + kind,
	}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("reports in order\n%q\nwant\n%q", order, want)
	}
	if idx.Reports[0].Href != "runs/20261103T090000Z-cccccc/"+kind+".html" {
		t.Errorf("href = %q", idx.Reports[0].Href)
	}
	if len(idx.Notebooks) != 2 || idx.Notebooks[0].Title != "Flight delays" || idx.Notebooks[1].Title != "Matches EDA & ranks" ||
		idx.Notebooks[1].Href != "notebooks/eda.html" || !idx.Notebooks[1].Created.Equal(day(4)) {
		t.Errorf("notebooks = %+v", idx.Notebooks)
	}

	// Only the kind with several runs is diffed, newest (run c) against run b.
	if len(idx.Diffs) != 1 {
		t.Fatalf("%d diffs, want 1", len(idx.Diffs))
	}
	d := idx.Diffs[0]
	if d.Kind != kind || d.New.RunID != "20261103T090000Z-cccccc" || d.Old.RunID != "20261102T090000Z-bbbbbb" {
		t.Fatalf("diff compares %s %s → %s", d.Kind, d.Old.RunID, d.New.RunID)
	}
	type row struct {
		metric         string
		old, new       float64
		hasOld, hasNew bool
	}
	wantRows := []row{
		{"accuracy", 0.65, 0.6725, true, true},
		{"auc", 0.72, 0.71, true, true},
		{"brier", 0.40, 0, true, false},
		{"log_loss", 0.66, 0.61, true, true},
		{"rows", 0, 571, false, true},
	}
	if len(d.Rows) != len(wantRows) {
		t.Fatalf("diff rows = %+v", d.Rows)
	}
	for i, w := range wantRows {
		g := d.Rows[i]
		if g.Key != w.metric || g.Old != w.old || g.New != w.new || g.HasOld != w.hasOld || g.HasNew != w.hasNew {
			t.Errorf("diff row %d = %+v, want %+v", i, g, w)
		}
	}
	if c := d.Rows[0].Abs; c < 0.0224999 || c > 0.0225001 {
		t.Errorf("accuracy change = %v", c)
	}

	if err := BuildIndex(dir); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	doc := parse(t, page)
	diff := elements(doc, "table")[0]
	if attr(diff, "class") != "diff" {
		t.Fatalf("first table is %q, want the diff", attr(diff, "class"))
	}
	cells := rowCells(diff)
	wantCells := []string{
		"accuracy| 0.6500|num 0.6725|num +0.0225|num pos +3.5%|num pos", // higher is better: improvement
		"auc| 0.7200|num 0.7100|num -0.0100|num neg -1.4%|num neg",
		"brier| 0.4000|num —|num —|num —|num",
		"log_loss| 0.6600|num 0.6100|num -0.0500|num pos -7.6%|num pos", // lower is better: improvement
		"rows| —|num 571|num —|num —|num",
	}
	if strings.Join(cells, "\n") != strings.Join(wantCells, "\n") {
		t.Errorf("diff table:\n%s\nwant:\n%s", strings.Join(cells, "\n"), strings.Join(wantCells, "\n"))
	}
	runsTable := elements(doc, "table")[1]
	if attr(runsTable, "class") != "runs" {
		t.Fatalf("second table is %q, want the runs", attr(runsTable, "class"))
	}
	var reportLinks, diffLinks []string
	for _, a := range elements(runsTable, "a") {
		switch href := attr(a, "href"); {
		case strings.HasPrefix(href, "diffs/"):
			diffLinks = append(diffLinks, href)
		default:
			reportLinks = append(reportLinks, href)
		}
	}
	wantLinks := []string{
		"runs/20261103T090000Z-cccccc/" + kind + ".html",
		"runs/20261102T090000Z-bbbbbb/flights-delay.html",
		"runs/20261102T090000Z-bbbbbb/" + kind + ".html",
		"runs/20261101T090000Z-aaaaaa/" + kind + ".html",
	}
	if strings.Join(reportLinks, " ") != strings.Join(wantLinks, " ") {
		t.Errorf("report links\n%q\nwant\n%q", reportLinks, wantLinks)
	}
	// Each run of a kind links its diff against the previous run of that
	// kind, and the page exists.
	wantDiffs := []string{
		"diffs/20261102T090000Z-bbbbbb..20261103T090000Z-cccccc.html#kind-" + kind,
		"diffs/20261101T090000Z-aaaaaa..20261102T090000Z-bbbbbb.html#kind-" + kind,
	}
	if strings.Join(diffLinks, " ") != strings.Join(wantDiffs, " ") {
		t.Errorf("diff links\n%q\nwant\n%q", diffLinks, wantDiffs)
	}
	for _, l := range diffLinks {
		if !fileExists(filepath.Join(dir, filepath.FromSlash(strings.Split(l, "#")[0]))) {
			t.Errorf("diff page %s not written", l)
		}
	}
	if !strings.Contains(textOf(elements(doc, "table")[2]), "Matches EDA & ranks") {
		t.Error("notebook table lacks the notebook title")
	}
	if bytes.Contains(page, []byte("gone")) {
		t.Error("orphan sidecar listed")
	}

	// Same files ⇒ same bytes.
	if err := BuildIndex(dir); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	if !bytes.Equal(page, again) {
		t.Error("index changed between two builds of the same directory")
	}
}

func TestBuildIndexEmptyAndMissing(t *testing.T) {
	dir := t.TempDir()
	if err := BuildIndex(dir); err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	if !bytes.Contains(page, []byte("No reports yet.")) {
		t.Error("empty index does not say so")
	}
	if err := BuildIndex(filepath.Join(dir, "missing")); err == nil {
		t.Error("BuildIndex of a missing directory succeeded")
	}
	bad := filepath.Join(dir, "runs", "r", "x.report.json")
	if err := atomicfile.WriteFile(bad, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if err := BuildIndex(dir); err == nil || !strings.Contains(err.Error(), "x.report.json") {
		t.Errorf("corrupt sidecar: %v", err)
	}
}

func writeSidecarForTest(path string, s Sidecar) error {
	data, err := marshalSidecar(s)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data)
}

// TestLatestDiffLinksAWrittenPage: run A started first but reported last
// (parallel experiments). The latest-diff link must name the page the build
// writes (runs-table order, A..B), not a reversed B..A that none writes.
func TestLatestDiffLinksAWrittenPage(t *testing.T) {
	dir := t.TempDir()
	const kind = "matchwinner-binary"
	at := func(m int) time.Time { return time.Date(2026, 11, 1, 10, m, 0, 0, time.UTC) }
	a, b := "20261101T100000Z-aaaaaa", "20261101T100100Z-bbbbbb"
	fakeRun(t, dir, a, kind, at(5), map[string]float64{"accuracy": 0.6})
	fakeRun(t, dir, b, kind, at(3), map[string]float64{"accuracy": 0.7})
	// Published in the order the runs ended, as the pipeline does. (In map
	// order the test was flaky: publishing b first orders the runs by the
	// reports' times for a moment and writes b..a, and diff pages are never
	// pruned.)
	for _, r := range []struct {
		id    string
		start time.Time
	}{{a, at(0)}, {b, at(1)}} {
		if err := PublishRun(dir, &stagerun.RunRecord{ID: r.id, Start: r.start, Status: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := BuildIndex(dir); err != nil {
		t.Fatal(err)
	}
	written, err := filepath.Glob(filepath.Join(dir, "diffs", "*.html"))
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 1 || filepath.Base(written[0]) != DiffPageName(a, b) {
		t.Errorf("diff pages written: %v, want only %s", written, DiffPageName(a, b))
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, el := range elements(parse(t, page), "a") {
		if href := attr(el, "href"); strings.HasPrefix(href, "diffs/") {
			if !fileExists(filepath.Join(dir, filepath.FromSlash(strings.Split(href, "#")[0]))) {
				t.Errorf("index links %s, which the build did not write", href)
			}
		}
	}
}
