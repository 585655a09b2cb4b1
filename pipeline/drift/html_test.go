package drift

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/pipeline/report"
)

func TestSectionHTML(t *testing.T) {
	ref, cur := basePopulation(), basePopulation()
	cur.ageMean += 5
	cur.newTourneys = 0.1
	res := mustCompare(t, ref.draw(1, 5000), cur.draw(2, 5000), Options{})
	page := renderSection(t, res)
	html := page
	age, tourney := feature(t, res, "age"), feature(t, res, "tournament")
	for _, want := range []string{
		`<h2 id="s1">Drift against the reference</h2>`,
		"<p>Verdict: drift. 5000 current rows against 5000 reference rows; drift in age, tournament.</p>",
		"<caption>Features: 5000 reference rows, 5000 current rows</caption>",
		"<th scope=\"col\">Feature</th><th scope=\"col\">Kind</th><th scope=\"col\">Status</th><th scope=\"col\">PSI</th>",
		// The feature rows, with the status and the figures.
		"<tr><td>age</td><td>numeric</td><td>drift</td><td class=\"num\">" + report.FormatFloat(age.PSI) + "</td><td class=\"num\">" + report.FormatFloat(*age.ReferenceMean) + "</td>",
		"<tr><td>income</td><td>numeric</td><td>ok</td>",
		"<tr><td>elo</td><td>numeric</td><td>ok</td>",
		"<tr><td>tournament</td><td>categorical</td><td>drift</td><td class=\"num\">" + report.FormatFloat(tourney.PSI) + "</td><td></td><td></td>",
		"<td>" + report.FormatPercent(tourney.UnseenShare) + " (New Cup ",
		"category the reference never has (alert threshold 5.0%)",
		"<tr><td>predicted class</td><td>categorical</td><td>ok</td>",
		// The bins of the predicted classes and of each flagged feature.
		"<caption>Predicted classes (PSI ",
		"<tr><td>home</td>",
		"<caption>Bins of age (PSI " + report.FormatFloat(age.PSI) + ", drift)</caption>",
		"<tr><td>(unseen)</td><td class=\"num\">0.0%</td>",
		"≥ alert threshold 0.2500",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the section lacks %q", want)
		}
	}
	for _, unwanted := range []string{"<script", "javascript:", " on" + "click=", "Bins of income", "Bins of team"} {
		if strings.Contains(strings.ToLower(html), strings.ToLower(unwanted)) {
			t.Errorf("the section has %q", unwanted)
		}
	}
}

func TestSectionTooFewRows(t *testing.T) {
	p := basePopulation()
	res := mustCompare(t, p.draw(1, 5000), p.draw(2, 10), Options{})
	page := renderSection(t, res)
	for _, want := range []string{"Verdict: too few rows. 10 current rows against 5000 reference rows, at least 1000 each are needed.", "<tr><td>age</td><td>numeric</td><td>too few rows</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the section lacks %q", want)
		}
	}
}

func TestWritePage(t *testing.T) {
	ref, cur := basePopulation(), basePopulation()
	cur.classes = []float64{0.2, 0.3, 0.5}
	res := mustCompare(t, ref.draw(1, 3000), cur.draw(2, 3000), Options{})
	path := filepath.Join(t.TempDir(), "monitor-matches.html")
	if err := WritePage(path, "Drift: matches@champion", res, "Model version sha256:abc, requests of the last 24 hours."); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<!DOCTYPE html>", "<title>Drift: matches@champion</title>", `<a href="#s1">Window</a><a href="#s2">Drift against the reference</a>`,
		"<p>Model version sha256:abc, requests of the last 24 hours.</p>", "<caption>Predicted classes (PSI "} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(string(page), "<script") {
		t.Error("the page has a script")
	}
	side, err := report.ReadSidecar(report.SidecarPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if side.Kind != "monitor-matches" || side.Metrics["max_psi"] != res.MaxPSI() || side.Metrics["features_drifted"] != 1 {
		t.Errorf("sidecar %+v", side)
	}
}

// renderSection renders a page holding only the section of res.
func renderSection(t *testing.T, res *Result) string {
	t.Helper()
	rep := report.New("Monitor")
	Section(rep, res)
	page, err := rep.Render()
	if err != nil {
		t.Fatal(err)
	}
	return string(page)
}

// TestSectionHTMLFragment: the fragment the dashboard embeds is the section
// and its tables, after the about paragraphs, with no page around it.
func TestSectionHTMLFragment(t *testing.T) {
	ref, cur := basePopulation(), basePopulation()
	cur.ageMean += 5
	res := mustCompare(t, ref.draw(1, 3000), cur.draw(2, 3000), Options{})
	frag, err := SectionHTML(res, "Version abc, the last 24 hours.")
	if err != nil {
		t.Fatal(err)
	}
	html := string(frag)
	page := renderSection(t, res)
	if i, j := strings.Index(html, "<p>Version abc, the last 24 hours.</p>"), strings.Index(html, `<h2 id="s1">Drift against the reference</h2>`); i < 0 || j < i {
		t.Errorf("the fragment lacks the about paragraph before the section:\n%s", html)
	}
	if !strings.Contains(page, html[strings.Index(html, "<h2"):]) {
		t.Error("the fragment's section differs from the page's")
	}
	for _, unwanted := range []string{"<html", "<head", "<style", "<nav", "<script"} {
		if strings.Contains(html, unwanted) {
			t.Errorf("the fragment has %q", unwanted)
		}
	}
}
