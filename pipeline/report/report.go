// Package report builds self-contained, single-file HTML reports — inline
// CSS, inline SVG plots drawn with gonum/plot, the plot font embedded once —
// and the report site index that lists every run's reports and rendered
// notebooks.
//
// It is the last analysis stage of datalab's one-way flow: pipeline/forest
// scores rows → pipeline/evaluate computes metrics → pipeline/report renders
// them. Use-case code composes a document from generic blocks:
//
//	r := report.New("Match winner, 2022 hold-out")
//	r.Lineage(report.Lineage{Commit: commit, RunID: id, GoVersion: runtime.Version()})
//	r.Section("Data", "Trained on matches before 2022 …")
//	r.MetricsTable("Hold-out metrics", comparisons)
//	r.ROCPlot("ROC", comparisons)
//	r.Headline(comparisons[0].Result)
//	err := r.Write(report.RunPath("reports", id, "matchwinner-binary"))
//
// Write stores the HTML and a JSON sidecar (see Sidecar) next to it;
// BuildIndex reads the sidecars to write reports/index.html. A use case's
// report is published with UseCaseReport.Publish: an input-determined copy
// for the pipeline, the run's report with lineage under
// reports/runs/<run-id>/, and the rebuilt index — the same from the CLI, a
// notebook or a Dagger function. The layout of reports/ is described in
// docs/reports.md.
//
// Output is deterministic: the same calls produce the same bytes. Nothing
// reads the clock — a creation time appears only when Lineage.Created is
// set — maps are printed in key order, and gonum/plot's SVG output depends
// only on the data. All text is escaped by html/template.
package report

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

//go:embed templates/*.gohtml
var templateFiles embed.FS

//go:embed templates/style.css
var styleCSS string

// reportTemplate holds the page, block and index templates.
var reportTemplate = template.Must(template.New("report").Funcs(templateFuncs).ParseFS(templateFiles, "templates/*.gohtml"))

var templateFuncs = template.FuncMap{
	"css": func(s string) template.CSS { return template.CSS(s) },
}

// Report is an HTML document under construction. Its methods append blocks
// in call order; the first error (e.g. a plot that cannot be drawn) is kept
// and returned by Render and Write, so composing code need not check each
// call.
type Report struct {
	title    string
	blocks   []template.HTML
	toc      []tocEntry
	lineage  *Lineage
	headline map[string]float64
	curves   *Curves // the headline result's curves, for diff pages
	plots    int
	err      error
}

type tocEntry struct{ ID, Title string }

// New starts a report with the given title.
func New(title string) *Report {
	return &Report{title: title, headline: map[string]float64{}}
}

// Title returns the report title.
func (r *Report) Title() string { return r.title }

// Err returns the first error recorded while adding blocks.
func (r *Report) Err() error { return r.err }

func (r *Report) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// add renders the named template block with data and appends it.
func (r *Report) add(name string, data any) {
	var buf bytes.Buffer
	if err := reportTemplate.ExecuteTemplate(&buf, name, data); err != nil {
		r.fail(fmt.Errorf("report %q: render %s: %w", r.title, name, err))
		return
	}
	r.blocks = append(r.blocks, template.HTML(buf.String()))
}

// Section starts a titled section (listed in the table of contents) with
// optional paragraphs of plain text.
func (r *Report) Section(title string, paragraphs ...string) {
	id := fmt.Sprintf("s%d", len(r.toc)+1)
	r.toc = append(r.toc, tocEntry{ID: id, Title: title})
	r.add("section", struct {
		ID, Title  string
		Paragraphs []string
	}{id, title, paragraphs})
}

// Paragraph appends paragraphs of plain text to the current section.
func (r *Report) Paragraph(paragraphs ...string) {
	r.add("paragraphs", paragraphs)
}

// Lineage says exactly what produced a report, so a reader can reproduce it.
type Lineage struct {
	Commit    string // git commit of the code
	Dirty     bool   // the work tree had uncommitted changes
	RunID     string // pipeline run id (pipeline/stagerun), used by the site index
	Created   time.Time
	DataOids  map[string]string // data set → content id (e.g. its LFS pointer oid, sha256:…)
	Params    map[string]any    // model and pipeline parameters, by dotted key
	GoVersion string            // runtime.Version() of the run
	// Overrides are the parameters the run was given on the command line
	// (`datalab run --set key=value`, pipeline Overrides), by dotted key;
	// Params already hold their values. The block lists them first,
	// highlighted, and marks the parameters they changed.
	Overrides map[string]any
}

type keyValue struct{ Key, Value string }

// lineageParam is one parameter row of the lineage block.
type lineageParam struct {
	Key        string
	Value      paramValue
	Overridden bool
}

// Lineage appends a lineage block and records run id, commit and creation
// time for the sidecar. Overrides, data ids and parameters are listed in key
// order; structured parameters are rendered readably (see stagerun.FormatParam).
func (r *Report) Lineage(l Lineage) {
	r.lineage = &l
	commit := l.Commit
	if commit == "" {
		commit = "unknown"
	}
	if l.Dirty {
		commit += " (dirty: uncommitted changes)"
	}
	rows := []keyValue{{"Commit", commit}}
	if l.RunID != "" {
		rows = append(rows, keyValue{"Run", l.RunID})
	}
	if !l.Created.IsZero() {
		rows = append(rows, keyValue{"Created", l.Created.UTC().Format(time.RFC3339)})
	}
	if l.GoVersion != "" {
		rows = append(rows, keyValue{"Go", l.GoVersion})
	}
	var data, overrides []keyValue
	for _, k := range slices.Sorted(maps.Keys(l.DataOids)) {
		data = append(data, keyValue{k, l.DataOids[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(l.Overrides)) {
		overrides = append(overrides, keyValue{k, stagerun.FormatParam(l.Overrides[k])})
	}
	var params []lineageParam
	for _, k := range slices.Sorted(maps.Keys(l.Params)) {
		params = append(params, lineageParam{Key: k, Value: formatParam(l.Params[k]), Overridden: overridden(k, l.Overrides)})
	}
	r.add("lineage", struct {
		Rows, Data, Overrides []keyValue
		Params                []lineageParam
	}{rows, data, overrides, params})
}

// overridden reports whether an override set the parameter key or a value
// inside it (an override of flights.variants.0.forest.max_depth changes
// flights.variants).
func overridden(key string, overrides map[string]any) bool {
	for k := range overrides {
		if k == key || strings.HasPrefix(k, key+".") || strings.HasPrefix(key, k+".") {
			return true
		}
	}
	return false
}

// table is what the "table" template renders; Best marks highlighted cells.
type table struct {
	Caption string
	Header  []string
	Rows    [][]cell
	Class   string
}

type cell struct {
	Text  string
	Class string // CSS class: "best", "h0".."h9" (heat), "num"
	Title string // tooltip
}

// Table appends a table of preformatted cells (see FormatFloat and
// FormatPercent for numbers). Rows shorter than the header are padded.
func (r *Report) Table(caption string, header []string, rows [][]string) {
	t := table{Caption: caption, Header: header}
	for i, row := range rows {
		if len(row) > len(header) && len(header) > 0 {
			r.fail(fmt.Errorf("report %q: table %q row %d has %d cells for %d columns", r.title, caption, i, len(row), len(header)))
			return
		}
		cells := make([]cell, max(len(header), len(row)))
		for j := range cells {
			if j < len(row) {
				cells[j] = cell{Text: row[j], Class: numericClass(row[j])}
			}
		}
		t.Rows = append(t.Rows, cells)
	}
	r.add("table", t)
}

// numericClass right-aligns cells that look like numbers.
func numericClass(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), "%")
	if s == "" {
		return ""
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789.-+eE,", c) {
			return ""
		}
	}
	return "num"
}

// Headline records the metrics of res as this report's headline numbers:
// the sidecar carries them, the site index shows them and diffs them
// between runs. The sidecar also keeps res's ROC, calibration and confusion
// (see Curves) for the diff pages that overlay two runs.
func (r *Report) Headline(res *evaluate.Result) {
	r.curves = curvesOf(res)
	for _, m := range res.Metrics() {
		if evaluate.Defined(m.Value) { // an undefined AUC is left out rather than diffed
			r.headline[m.Key] = m.Value
		}
	}
}

// HeadlineMetric records one extra headline number under key (snake_case,
// e.g. "baseline_accuracy").
func (r *Report) HeadlineMetric(key string, value float64) {
	r.headline[key] = value
}

// Render writes the complete HTML document to a buffer.
func (r *Report) Render() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	var buf bytes.Buffer
	err := reportTemplate.ExecuteTemplate(&buf, "page", struct {
		Title    string
		TOC      []tocEntry
		Blocks   []template.HTML
		Style    string
		FontFace string
	}{r.title, r.toc, r.blocks, styleCSS, fontFaceCSS(r.plots > 0)})
	if err != nil {
		return nil, fmt.Errorf("report %q: render page: %w", r.title, err)
	}
	return buf.Bytes(), nil
}

// Body returns the blocks added so far without the page around them (no
// head, style or table of contents), for a page that embeds a report's
// section in its own layout: the match dashboard shows the drift section
// this way. Section ids are the report's own (s1, s2, …).
func (r *Report) Body() (template.HTML, error) {
	if r.err != nil {
		return "", r.err
	}
	var b strings.Builder
	for _, blk := range r.blocks {
		b.WriteString(string(blk))
		b.WriteByte('\n')
	}
	return template.HTML(b.String()), nil
}

// Write atomically writes the report to path (…/<name>.html) and its sidecar
// to SidecarPath(path). The report kind in the sidecar is <name>, so reports
// written under the same name in different runs are compared by the index.
func (r *Report) Write(path string) error {
	if filepath.Ext(path) != ".html" {
		return fmt.Errorf("report %q: write %s: the file name must end in .html", r.title, path)
	}
	page, err := r.Render()
	if err != nil {
		return err
	}
	side, err := marshalSidecar(r.Sidecar(filepath.Base(path)))
	if err != nil {
		return fmt.Errorf("report %q: sidecar: %w", r.title, err)
	}
	if err := atomicfile.WriteFile(path, page); err != nil {
		return fmt.Errorf("report %q: write %s: %w", r.title, path, err)
	}
	// The sidecar goes last: the index only lists reports whose HTML exists.
	if err := atomicfile.WriteFile(SidecarPath(path), side); err != nil {
		return fmt.Errorf("report %q: write sidecar: %w", r.title, err)
	}
	return nil
}

// KeyValues renders a map as "k1=v1 k2=v2 …" sorted by key, for compact
// parameter cells in tables.
func KeyValues(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}
