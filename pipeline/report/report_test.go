package report

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/datalabhq/datalab/pipeline/evaluate"
)

// syntheticProba draws n rows of k-class probabilities with some signal
// (the true class gets extra weight), quantised to 1/50 like a 50-tree
// forest's averaged votes.
func syntheticProba(rng *rand.Rand, n, k int, signal float64) ([]int, [][]float64) {
	y := make([]int, n)
	proba := make([][]float64, n)
	for i := range n {
		y[i] = rng.IntN(k)
		votes := make([]float64, k)
		for range 50 {
			c := rng.IntN(k)
			if rng.Float64() < signal {
				c = y[i]
			}
			votes[c]++
		}
		for c := range votes {
			votes[c] /= 50
		}
		proba[i] = votes
	}
	return y, proba
}

// sampleComparisons returns a forest-like model, a weaker variant and a
// hard-prediction baseline on the same synthetic rows.
func sampleComparisons(t testing.TB, classes []string, n int, seed uint64) []evaluate.Comparison {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	y, proba := syntheticProba(rng, n, len(classes), 0.06)
	forest, err := evaluate.Classification(classes, y, proba)
	if err != nil {
		t.Fatal(err)
	}
	_, weak := syntheticProba(rand.New(rand.NewPCG(seed, 8)), n, len(classes), 0)
	// The weak variant sees the same truth with mostly-noise scores.
	for i := range weak {
		for c := range weak[i] {
			weak[i][c] = 0.8*weak[i][c] + 0.2*proba[i][c]
		}
	}
	variant, err := evaluate.Classification(classes, y, weak)
	if err != nil {
		t.Fatal(err)
	}
	pred := make([]int, n)
	for i := range pred {
		pred[i] = 0 // "always the first class"
	}
	base, err := evaluate.FromPredictions(classes, y, pred)
	if err != nil {
		t.Fatal(err)
	}
	return []evaluate.Comparison{{Name: "forest", Result: forest}, {Name: "noisy forest", Result: variant}, {Name: "baseline: always " + classes[0], Result: base}}
}

// samplePlots is how many <svg> elements sampleReport draws.
const samplePlots = 5

// sampleReport exercises every block type.
func sampleReport(t testing.TB) *Report {
	t.Helper()
	binary := sampleComparisons(t, []string{"not home win", "home win"}, 571, 1)
	three := sampleComparisons(t, []string{"home win", "draw", "away win"}, 900, 2)
	r := New("Sample evaluation report")
	r.Lineage(Lineage{
		Commit: "0123456789abcdef0123456789abcdef01234567", Dirty: true, RunID: "20261123T121400Z-1a2b3c",
		Created:   time.Date(2026, 11, 23, 12, 14, 0, 0, time.UTC),
		DataOids:  map[string]string{"matches": "sha256:aaaa", "flights": "sha256:bbbb"},
		Params:    map[string]any{"trees": 50, "min_instances": 10, "seed": 1, "features": []string{"rank", "points"}},
		GoVersion: "go1.26.8",
	})
	r.Section("Binary task", "Home win against anything else, trained before 2022.", "Second paragraph.")
	r.MetricsTable("Binary hold-out metrics", binary)
	r.Confusion("Binary confusion (forest)", binary[0].Result)
	r.PerClass("Binary per-class metrics (forest)", binary[0].Result)
	r.ROCPlot("Binary ROC", binary)
	r.CalibrationPlot("Binary calibration", binary[:2])
	r.Section("Three classes")
	r.MetricsTable("3-class hold-out metrics", three)
	r.Confusion("3-class confusion (forest)", three[0].Result)
	r.ROCPlot("3-class ROC (one-vs-rest)", three[:1])
	r.CalibrationPlot("3-class calibration (top-class confidence)", three[:2])
	r.Section("Model")
	r.BarChart("Feature importances", []string{"home_team_fifa_rank", "away_team_fifa_rank", "home_team_total_fifa_points", "year", "home_team_continent"},
		[]float64{0.31, 0.27, 0.2, 0.12, 0.1})
	r.Table("Training data", []string{"Split", "Rows", "Share"}, [][]string{{"train", "23350", "97.6%"}, {"test", "571", "2.4%"}})
	r.Headline(binary[0].Result)
	r.HeadlineMetric("baseline_accuracy", binary[2].Result.Accuracy)
	return r
}

func render(t testing.TB, r *Report) []byte {
	t.Helper()
	page, err := r.Render()
	if err != nil {
		t.Fatal(err)
	}
	return page
}

func parse(t testing.TB, page []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

func elements(doc *html.Node, tag string) []*html.Node {
	var out []*html.Node
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == tag {
			out = append(out, n)
		}
	}
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

// tableByCaption finds the table whose caption starts with prefix.
func tableByCaption(t testing.TB, doc *html.Node, prefix string) *html.Node {
	t.Helper()
	for _, tbl := range elements(doc, "table") {
		for _, c := range elements(tbl, "caption") {
			if strings.HasPrefix(textOf(c), prefix) {
				return tbl
			}
		}
	}
	t.Fatalf("no table captioned %q", prefix)
	return nil
}

func TestReportStructure(t *testing.T) {
	page := render(t, sampleReport(t))
	doc := parse(t, page)

	if got := len(elements(doc, "svg")); got != samplePlots {
		t.Errorf("%d <svg> elements, want %d", got, samplePlots)
	}
	for _, svg := range elements(doc, "svg") {
		if len(elements(svg, "text")) == 0 || len(elements(svg, "path")) == 0 {
			t.Errorf("SVG %q has no text or no paths", attr(svg, "aria-label"))
		}
	}
	if len(elements(doc, "script")) != 0 || len(elements(doc, "link")) != 0 || len(elements(doc, "img")) != 0 {
		t.Error("report references or runs external content; it must be self-contained")
	}
	if bytes.Contains(page, []byte("http://")) && !bytes.Contains(page, []byte(`xmlns="http://www.w3.org/2000/svg"`)) {
		t.Error("report contains an http:// URL")
	}
	if !bytes.Contains(page, []byte(`@font-face{font-family:"Liberation Sans"`)) {
		t.Error("plot font not embedded")
	}
	if n := bytes.Count(page, []byte("@font-face")); n != 1 {
		t.Errorf("%d @font-face rules, want the plot font once", n)
	}

	// Metrics table: header + one row per comparison, a best cell per column.
	mt := tableByCaption(t, doc, "Binary hold-out metrics")
	rows := elements(mt, "tr")
	if len(rows) != 4 {
		t.Fatalf("metrics table has %d rows, want header + 3", len(rows))
	}
	if got := len(elements(rows[0], "th")); got != 2+9 {
		t.Errorf("metrics header has %d columns, want 11 (name, n, 9 metrics)", got)
	}
	if got := textOf(elements(rows[1], "td")[0]); got != "forest" {
		t.Errorf("first metrics row is %q", got)
	}
	best := 0
	for _, td := range elements(mt, "td") {
		if strings.Contains(attr(td, "class"), "best") {
			best++
		}
	}
	if best < 8 {
		t.Errorf("%d best cells, want at least one per metric column", best)
	}

	// Confusion table: 2×2 plus labels and totals, counts add up to n.
	ct := tableByCaption(t, doc, "Binary confusion")
	crows := elements(ct, "tr")
	if len(crows) != 3 {
		t.Fatalf("confusion table has %d rows", len(crows))
	}
	if got := textOf(elements(crows[1], "td")[3]) + "+" + textOf(elements(crows[2], "td")[3]); got == "+" {
		t.Error("confusion totals empty")
	}

	// Calibration table under the plot: 10 bins.
	if got := len(elements(tableByCaption(t, doc, "Binary calibration — bins"), "tr")); got != 11 {
		t.Errorf("calibration table has %d rows, want header + 10", got)
	}
	// Lineage: sorted data ids and params.
	dl := textOf(elements(doc, "dl")[0])
	for _, want := range []string{"dirty", "20261123T121400Z-1a2b3c", "2026-11-23T12:14:00Z", "data: flights", "param: features", "[rank, points]"} {
		if !strings.Contains(dl, want) {
			t.Errorf("lineage lacks %q", want)
		}
	}
	if strings.Index(dl, "data: flights") > strings.Index(dl, "data: matches") {
		t.Error("data ids not in key order")
	}
	// Table of contents links to the three sections.
	if got := len(elements(elements(doc, "nav")[0], "a")); got != 3 {
		t.Errorf("table of contents has %d links", got)
	}
}

func TestReportDeterministic(t *testing.T) {
	a := render(t, sampleReport(t))
	b := render(t, sampleReport(t))
	if !bytes.Equal(a, b) {
		i := 0
		for i < len(a) && i < len(b) && a[i] == b[i] {
			i++
		}
		t.Fatalf("two renders differ at byte %d: %q vs %q", i, a[i:min(i+80, len(a))], b[i:min(i+80, len(b))])
	}
	r := sampleReport(t)
	if !bytes.Equal(render(t, r), render(t, r)) {
		t.Fatal("rendering the same report twice differs")
	}
}

func TestReportEscapes(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	res, err := evaluate.FromPredictions([]string{evil, "b&b"}, []int{0, 1, 1}, []int{0, 1, 0})
	if err != nil {
		t.Fatal(err)
	}
	comps := []evaluate.Comparison{{Name: evil, Result: res}}
	r := New(evil)
	r.Section(evil, evil)
	r.Lineage(Lineage{Commit: evil, Params: map[string]any{evil: evil}})
	r.Table(evil, []string{evil}, [][]string{{evil}})
	r.MetricsTable(evil, comps)
	r.Confusion(evil, res)
	r.ROCPlot(evil, comps)
	r.CalibrationPlot(evil, comps)
	r.BarChart(evil, []string{evil}, []float64{1})
	page := render(t, r)
	if bytes.Contains(page, []byte("<script")) {
		i := bytes.Index(page, []byte("<script"))
		t.Fatalf("unescaped <script> in output: %q", page[max(0, i-80):i+40])
	}
	doc := parse(t, page)
	if n := len(elements(doc, "script")); n != 0 {
		t.Fatalf("%d script elements", n)
	}
	if !strings.Contains(textOf(elements(doc, "title")[0]), evil) {
		t.Error("title text lost instead of escaped")
	}
	// Text inside the SVG plots (legend, axis labels) is escaped as well.
	found := false
	for _, svg := range elements(doc, "svg") {
		if strings.Contains(textOf(svg), "<script>") {
			found = true
		}
	}
	if !found {
		t.Error("legend/label text with markup not found in any SVG")
	}
}

func TestWriteReportAndSidecar(t *testing.T) {
	dir := t.TempDir()
	path := RunPath(dir, "20261123T121400Z-1a2b3c", "matchwinner-binary")
	if err := sampleReport(t).Write(path); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(page, render(t, sampleReport(t))) {
		t.Error("written report differs from Render")
	}
	sc, err := ReadSidecar(filepath.Join(dir, "runs", "20261123T121400Z-1a2b3c", "matchwinner-binary.report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Kind != "matchwinner-binary" || sc.HTML != "matchwinner-binary.html" || sc.RunID != "20261123T121400Z-1a2b3c" ||
		sc.Title != "Sample evaluation report" || !sc.Dirty || sc.Created == nil || sc.Created.Year() != 2026 {
		t.Errorf("sidecar = %+v", sc)
	}
	for _, k := range []string{"accuracy", "auc", "log_loss", "baseline_accuracy"} {
		if _, ok := sc.Metrics[k]; !ok {
			t.Errorf("sidecar lacks metric %s", k)
		}
	}
	if err := New("x").Write(filepath.Join(dir, "x.htm")); err == nil {
		t.Error("Write accepted a name not ending in .html")
	}
}

func TestReportErrorsSurface(t *testing.T) {
	r := New("broken")
	r.BarChart("mismatch", []string{"a", "b"}, []float64{1})
	r.MetricsTable("none", nil)
	if _, err := r.Render(); err == nil || !strings.Contains(err.Error(), "2 labels for 1 values") {
		t.Fatalf("Render error = %v, want the first recorded error", err)
	}
	if err := r.Write(filepath.Join(t.TempDir(), "broken.html")); err == nil {
		t.Fatal("Write succeeded on a broken report")
	}
}

func TestThinBoundsPoints(t *testing.T) {
	n := 1_000_000
	x, y := make([]float64, n), make([]float64, n)
	for i := range n {
		x[i] = float64(i) / float64(n-1)
		y[i] = x[i] * x[i]
	}
	pts := thin(x, y)
	if len(pts) > 2*maxCurvePoints+2 {
		t.Errorf("thinned to %d points", len(pts))
	}
	if pts[0].X != 0 || pts[len(pts)-1].X != 1 || pts[len(pts)-1].Y != 1 {
		t.Error("thinning lost an end point")
	}
}

// TestBody: the blocks without the page, escaped like the page, and the
// first error instead of a fragment.
func TestBody(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	r := New("t")
	r.Section("Drift", evil)
	r.Table("c", []string{"a", "b"}, [][]string{{"1", evil}})
	body, err := r.Body()
	if err != nil {
		t.Fatal(err)
	}
	page := string(render(t, r))
	for _, want := range []string{`<h2 id="s1">Drift</h2>`, "<caption>c</caption>", "&lt;script&gt;"} {
		if !strings.Contains(string(body), want) || !strings.Contains(page, want) {
			t.Errorf("body or page lacks %q", want)
		}
	}
	for _, unwanted := range []string{"<script", "<style", "<title", "<nav"} {
		if strings.Contains(string(body), unwanted) {
			t.Errorf("body has %q", unwanted)
		}
	}
	r.BarChart("bad", []string{"a"}, []float64{1, 2})
	if _, err := r.Body(); err == nil {
		t.Error("Body of a report with an error: no error")
	}
}
