package report

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/datalabhq/datalab/internal/browsertest"
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
	if err := BuildIndex(dir); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()

	b := browsertest.New(t, 90*time.Second)
	b.Do(t, chromedp.Navigate(srv.URL+"/runs/run-1/sample.html"))

	type box struct{ W, H float64 }
	svgs := browsertest.Get(t, b, chromedp.Evaluate[[]box](
		`Array.from(document.querySelectorAll("svg")).map(s => { const r = s.getBoundingClientRect(); return {W: r.width, H: r.height}; })`))
	if len(svgs) != samplePlots {
		t.Fatalf("%d SVGs in the page, want %d", len(svgs), samplePlots)
	}
	for i, s := range svgs {
		if s.W < 100 || s.H < 100 {
			t.Errorf("SVG %d laid out at %.0f×%.0f px", i, s.W, s.H)
		}
	}
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
	b.Do(t, chromedp.Navigate(srv.URL+"/index.html"))
	link := browsertest.Get(t, b, chromedp.Evaluate[string](`document.querySelector("table.reports a").getAttribute("href")`))
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
