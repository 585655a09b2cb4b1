package report

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/datalabhq/datalab/internal/browsertest"
	"github.com/datalabhq/datalab/pipeline/evaluate"
)

// TestReportInBrowser opens the sample report in headless Chromium: no
// console errors, every plot laid out with a real size and visible text,
// the plot font loaded from the page itself, tables filled. The screenshot
// goes to REPORT_SCREENSHOT if set (for a person to look at), else to a
// temporary directory.
func TestReportInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	dir := t.TempDir()
	path := RunPath(dir, "run-1", "sample")
	if err := sampleReport(t).Write(path); err != nil {
		t.Fatal(err)
	}
	srv, b := openSite(t, dir, 90*time.Second)
	b.Do(t, chromedp.Navigate(srv+"/runs/run-1/sample.html"))

	checkSVGs(t, b, "svg", samplePlots, 100, 100)
	// Each SVG's text must be rendered with width (labels, ticks, legend).
	texts := browsertest.Get(t, b, chromedp.Evaluate[[]int](
		`Array.from(document.querySelectorAll("svg")).map(s => Array.from(s.querySelectorAll("text")).filter(e => e.getBBox().width > 0).length)`))
	for i, n := range texts {
		if n < 5 {
			t.Errorf("SVG %d has %d visible text elements", i, n)
		}
	}
	fontOK := browsertest.Get(t, b, chromedp.Evaluate[bool](
		`document.fonts.ready.then(() => Array.from(document.fonts).some(f => f.family.replace(/"/g, "") === "Liberation Sans" && f.status === "loaded"))`,
		chromedp.EvalAwaitPromise))
	if !fontOK {
		t.Error("the embedded Liberation Sans @font-face did not load")
	}
	cells := browsertest.Get(t, b, chromedp.Evaluate[int](`document.querySelectorAll("table.metrics td").length`))
	if cells != 2*3*11 {
		t.Errorf("metrics tables have %d cells, want 66 (2 tables × 3 rows × name, n and 9 metrics)", cells)
	}
	best := browsertest.Get(t, b, chromedp.Text("table.metrics td.best"))
	if best == "" {
		t.Error("no highlighted best value")
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	if p := os.Getenv("REPORT_SCREENSHOT"); p != "" {
		shot = p
	}
	// Quality 100 makes Chromium return PNG (lower qualities give JPEG).
	png := browsertest.Get(t, b, chromedp.FullScreenshot(100))
	if len(png) < 10_000 || string(png[1:4]) != "PNG" {
		t.Errorf("screenshot is %d bytes, not a PNG", len(png))
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}

	// The index links to the report.
	b.Do(t, chromedp.Navigate(srv+"/index.html"))
	link := browsertest.Get(t, b, chromedp.Evaluate[string](`document.querySelector("table.runs a[href^='runs/']").getAttribute("href")`))
	if link != "runs/run-1/sample.html" {
		t.Errorf("index links to %q", link)
	}
	if p := os.Getenv("REPORT_SCREENSHOT"); p != "" {
		if err := os.WriteFile(p[:len(p)-len(filepath.Ext(p))]+"-index.png", browsertest.Get(t, b, chromedp.FullScreenshot(100)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if errs := b.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("console errors: %q", errs)
	}
}

// openSite builds the index of the site in dir, serves the directory over
// HTTP and starts a browser; it returns the site's URL and the browser.
func openSite(t *testing.T, dir string, timeout time.Duration) (string, *browsertest.Browser) {
	t.Helper()
	if err := BuildIndex(dir); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL, browsertest.New(t, timeout)
}

// box is an element's laid-out size in CSS pixels.
type box struct{ W, H float64 }

// checkSVGs requires want elements matching selector (SVGs) on the current
// page, each laid out at least minW×minH CSS pixels.
func checkSVGs(t *testing.T, b *browsertest.Browser, selector string, want int, minW, minH float64) {
	t.Helper()
	boxes := browsertest.Get(t, b, chromedp.Evaluate[[]box](
		`Array.from(document.querySelectorAll(`+strconv.Quote(selector)+`)).map(s => { const r = s.getBoundingClientRect(); return {W: r.width, H: r.height}; })`))
	if len(boxes) != want {
		t.Fatalf("%d elements match %q, want %d", len(boxes), selector, want)
	}
	for i, s := range boxes {
		if s.W < minW || s.H < minH {
			t.Errorf("%s %d laid out at %.0f×%.0f px, want at least %.0f×%.0f", selector, i, s.W, s.H, minW, minH)
		}
	}
}

// emptyCells counts the cells of the tables matching selector that have no
// text, and all their cells.
func emptyCells(t *testing.T, b *browsertest.Browser, selector string) (empty, all int) {
	t.Helper()
	cells := browsertest.Get(t, b, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll(`+strconv.Quote(selector+" td")+`)).map(td => td.textContent.trim())`))
	for _, c := range cells {
		if c == "" {
			empty++
		}
	}
	return empty, len(cells)
}

// keepScreenshot writes a full-page PNG to REPORT_SCREENSHOT with suffix
// (e.g. /tmp/report-site-index.png) when that variable is set.
func keepScreenshot(t *testing.T, b *browsertest.Browser, suffix string) {
	t.Helper()
	if p := os.Getenv("REPORT_SCREENSHOT"); p != "" {
		b.Screenshot(t, p[:len(p)-len(filepath.Ext(p))]+"-"+suffix+".png")
	}
}

// TestSiteInBrowser opens the report site of 55 synthetic runs (two index
// pages) in headless Chromium: the front page's trend plots, the second
// page of runs, and a diff page reached from the index — no console
// errors, every plot laid out at a real size with its points, tables
// filled, paging links working.
func TestSiteInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	srv, b := openSite(t, writeSite(t, 55), 120*time.Second)

	b.Do(t, chromedp.Navigate(srv+"/index.html"))
	wantTrends := 2 * (len((&evaluate.Result{}).Metrics()) + 1) // two kinds × (headline metrics + baseline_accuracy)
	checkSVGs(t, b, "section.trend svg", wantTrends, 300, 180)
	points := browsertest.Get(t, b, chromedp.Evaluate[[]int](
		`Array.from(document.querySelectorAll("section.trend svg")).map(s => Array.from(s.querySelectorAll("circle")).filter(c => c.getBBox().width > 0 && c.querySelector("title")).length)`))
	for i, n := range points {
		if n != 55 {
			t.Errorf("trend plot %d shows %d points with tooltips, want 55", i, n)
		}
	}
	labels := browsertest.Get(t, b, chromedp.Evaluate[int](
		`Array.from(document.querySelectorAll("section.trend svg text")).filter(e => e.getBBox().width > 0).length`))
	if labels < wantTrends*6 {
		t.Errorf("%d visible labels over %d trend plots", labels, wantTrends)
	}
	rows := browsertest.Get(t, b, chromedp.Evaluate[int](`document.querySelectorAll("table.runs tr[id^=run-]").length`))
	if rows != RunsPerPage {
		t.Errorf("front page lists %d runs, want %d", rows, RunsPerPage)
	}
	if empty, all := emptyCells(t, b, "table.diff"); all == 0 || empty != 0 {
		t.Errorf("latest changes: %d of %d cells empty", empty, all)
	}
	keepScreenshot(t, b, "site-index")

	// Older runs are on the next page.
	next := browsertest.Get(t, b, chromedp.Evaluate[string](`document.querySelector("a[rel=next]").getAttribute("href")`))
	b.Do(t, chromedp.Navigate(srv+"/"+next))
	rows = browsertest.Get(t, b, chromedp.Evaluate[int](`document.querySelectorAll("table.runs tr[id^=run-]").length`))
	if next != "index-2.html" || rows != 5 {
		t.Errorf("next page %q lists %d runs, want index-2.html with 5", next, rows)
	}
	prev := browsertest.Get(t, b, chromedp.Evaluate[string](`document.querySelector("a[rel=prev]").getAttribute("href")`))
	if prev != "index.html" {
		t.Errorf("prev link %q", prev)
	}
	keepScreenshot(t, b, "site-page2")

	// The newest run's diff against the previous one, as the index links it.
	b.Do(t, chromedp.Navigate(srv+"/index.html"))
	diff := browsertest.Get(t, b, chromedp.Evaluate[string](`document.querySelector("table.runs a[href^='diffs/']").getAttribute("href")`))
	b.Do(t, chromedp.Navigate(srv+"/"+diff))
	checkSVGs(t, b, "svg", 4, 350, 300) // ROC and calibration of two kinds
	curves := browsertest.Get(t, b, chromedp.Evaluate[[]int](
		`Array.from(document.querySelectorAll("svg")).map(s => Array.from(s.querySelectorAll("polyline")).filter(p => p.getBBox().width > 0).length)`))
	if want := []int{8, 2, 2, 2}; !slices.Equal(curves, want) {
		t.Errorf("visible curves per plot %v, want %v", curves, want)
	}
	for _, sel := range []string{"table.runpair", "table.diff", "table.confusion"} {
		if empty, all := emptyCells(t, b, sel); all == 0 || empty != 0 {
			t.Errorf("%s: %d of %d cells empty", sel, empty, all)
		}
	}
	confusions := browsertest.Get(t, b, chromedp.Evaluate[int](`document.querySelectorAll("div.pair table.confusion").length`))
	if confusions != 4 {
		t.Errorf("%d confusion tables side by side, want 4", confusions)
	}
	keepScreenshot(t, b, "site-diff")
	if errs := b.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("console errors: %q", errs)
	}
}
