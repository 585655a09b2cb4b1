package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/rundiff"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// siteCSS styles the site's own pages (index, diff pages) on top of
// style.css.
//
//go:embed templates/site.css
var siteCSS string

// DiffPageName is the file, under <reportsDir>/diffs/, of the page that
// compares run a (the base) with run b (the head).
func DiffPageName(a, b string) string { return a + ".." + b + ".html" }

// DiffPath is where WriteDiff puts the page comparing runs a and b.
func DiffPath(reportsDir, a, b string) string {
	return filepath.Join(reportsDir, "diffs", DiffPageName(a, b))
}

func kindAnchor(kind string) string { return "kind-" + kind }

// WriteDiff writes the diff page of two runs of the site in reportsDir —
// parameters, pipeline metrics, and per report kind the headline metrics,
// ROC and calibration curves overlaid and confusion matrices side by side —
// to DiffPath and returns that path. a and b are run references as
// Index.ResolveRun takes them; a is the base, b the head.
func WriteDiff(reportsDir, a, b string) (string, error) {
	idx, err := ScanIndex(reportsDir)
	if err != nil {
		return "", err
	}
	ra, err := idx.ResolveRun(a)
	if err != nil {
		return "", err
	}
	rb, err := idx.ResolveRun(b)
	if err != nil {
		return "", err
	}
	if err := writeDiffPage(reportsDir, idx, ra.ID, rb.ID); err != nil {
		return "", err
	}
	return DiffPath(reportsDir, ra.ID, rb.ID), nil
}

// ResolveRun finds a run of the site: a full run id, or any reference
// rundiff.Resolve takes (latest, latest~N, an experiment name, commit:SHA,
// a unique prefix of a run id). A run that has reports but no published
// record is known by its id and time only.
func (idx *Index) ResolveRun(ref string) (RunEntry, error) {
	recs := make([]*stagerun.RunRecord, len(idx.Runs))
	for i, r := range idx.Runs {
		if r.ID == ref {
			return r, nil
		}
		recs[i] = r.Record
		if recs[i] == nil {
			recs[i] = &stagerun.RunRecord{ID: r.ID}
			if t := r.Time(); t != nil {
				recs[i].Start = *t
			}
		}
	}
	rec, err := rundiff.Resolve(recs, ref)
	if err != nil {
		return RunEntry{}, fmt.Errorf("report site: %w", err)
	}
	return *idx.run(rec.ID), nil
}

func (idx *Index) run(id string) *RunEntry {
	for i := range idx.Runs {
		if idx.Runs[i].ID == id {
			return &idx.Runs[i]
		}
	}
	return nil
}

func writeDiffPage(reportsDir string, idx *Index, a, b string) error {
	ra, rb := idx.run(a), idx.run(b)
	if ra == nil || rb == nil {
		return fmt.Errorf("diff page %s..%s: run not in the site %s", a, b, reportsDir)
	}
	page, err := renderDiff(*ra, *rb)
	if err != nil {
		return err
	}
	if err := writeIfChanged(DiffPath(reportsDir, a, b), page); err != nil {
		return fmt.Errorf("write diff page: %w", err)
	}
	return nil
}

// diffPage is what the "diffpage" template renders.
type diffPage struct {
	Style      string
	A, B       diffRun
	ParamsNote string // why parameters cannot be compared; empty when they are
	Params     []paramRow
	Data       []paramRow
	Code       []paramRow
	Metrics    []metricRow // run-record metrics that changed
	Unchanged  int         // run-record metrics that did not
	Kinds      []kindDiff
}

type diffRun struct {
	ID, Time, Experiment, Overrides, Commit, Status, Record string
}

type paramRow struct{ Key, Old, New string }

type kindDiff struct {
	Kind, Anchor string
	AHref, BHref string // the two reports, "" when a run has none of this kind
	Note         string
	Metrics      []metricRow
	ROC          template.HTML
	Calibration  template.HTML
	CurveNotes   []string
	Confusion    []table
}

// renderDiff renders the page comparing run a (base) with run b (head);
// links are relative to diffs/.
func renderDiff(a, b RunEntry) ([]byte, error) {
	p := diffPage{Style: styleCSS + siteCSS, A: diffRunOf(a), B: diffRunOf(b)}
	switch {
	case a.Record == nil || b.Record == nil:
		var missing []string
		for _, r := range []RunEntry{a, b} {
			if r.Record == nil {
				missing = append(missing, r.ID)
			}
		}
		p.ParamsNote = fmt.Sprintf("No published run record for %s (reports written outside `datalab run`, or a site from before run records were published): parameters, data and pipeline metrics cannot be compared.",
			strings.Join(missing, " and "))
	default:
		d := rundiff.Compare(a.Record, b.Record, rundiff.Options{})
		for _, c := range d.Params {
			p.Params = append(p.Params, paramRow{Key: c.Key, Old: presentValue(c.Old, c.HasOld), New: presentValue(c.New, c.HasNew)})
		}
		for _, c := range d.Data {
			p.Data = append(p.Data, paramRow{Key: c.Key, Old: orDash(c.Old), New: orDash(c.New)})
		}
		p.Code = codeRows(d.Code)
		changed := d.ChangedMetrics()
		p.Metrics = metricRows(changed)
		p.Unchanged = len(d.Metrics) - len(changed)
	}
	kinds := map[string]bool{}
	for _, r := range []RunEntry{a, b} {
		for _, e := range r.Reports {
			kinds[e.Kind] = true
		}
	}
	for _, kind := range slices.Sorted(maps.Keys(kinds)) {
		p.Kinds = append(p.Kinds, kindDiffOf(kind, a, b))
	}
	var buf bytes.Buffer
	if err := reportTemplate.ExecuteTemplate(&buf, "diffpage", p); err != nil {
		return nil, fmt.Errorf("render diff page %s..%s: %w", a.ID, b.ID, err)
	}
	return buf.Bytes(), nil
}

func diffRunOf(r RunEntry) diffRun {
	commit, dirty := r.commit()
	d := diffRun{ID: r.ID, Time: createdLabel(r.Time()), Commit: shortCommit(commit, dirty)}
	if rec := r.Record; rec != nil {
		d.Experiment, d.Overrides, d.Status = rec.Experiment, overridesText(rec.Overrides), rec.Status
		d.Record = "../runs/" + r.ID + "/" + RunRecordName
	}
	return d
}

func presentValue(v any, ok bool) string {
	if !ok {
		return "—"
	}
	return stagerun.FormatParam(v)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// codeRows lists what differs in the code: commit, dirty flags, versions.
func codeRows(c rundiff.CodeChange) []paramRow {
	var rows []paramRow
	if c.OldCommit != c.NewCommit || c.OldDirty || c.NewDirty {
		rows = append(rows, paramRow{"commit", shortCommit(orDash(c.OldCommit), c.OldDirty), shortCommit(orDash(c.NewCommit), c.NewDirty)})
	}
	if c.OldGo != c.NewGo {
		rows = append(rows, paramRow{"Go", orDash(c.OldGo), orDash(c.NewGo)})
	}
	if c.OldDatalab != c.NewDatalab {
		rows = append(rows, paramRow{"datalab", orDash(c.OldDatalab), orDash(c.NewDatalab)})
	}
	return rows
}

// kindDiffOf compares the two runs' reports of one kind.
func kindDiffOf(kind string, a, b RunEntry) kindDiff {
	k := kindDiff{Kind: kind, Anchor: kindAnchor(kind)}
	ea, eb := a.Report(kind), b.Report(kind)
	if ea != nil {
		k.AHref = "../" + ea.Href
	}
	if eb != nil {
		k.BHref = "../" + eb.Href
	}
	if ea == nil || eb == nil {
		only := a.ID
		if ea == nil {
			only = b.ID
		}
		k.Note = fmt.Sprintf("Only run %s has a %s report.", only, kind)
		return k
	}
	k.Metrics = metricRows(rundiff.CompareMetrics(ea.Metrics, eb.Metrics))
	ca, cb := ea.Curves, eb.Curves
	switch {
	case ca == nil || cb == nil:
		k.CurveNotes = append(k.CurveNotes, "No curves to overlay: a sidecar written before reports recorded their headline curves (re-run the report stage to add them).")
		return k
	case !slices.Equal(ca.Classes, cb.Classes):
		k.CurveNotes = append(k.CurveNotes, fmt.Sprintf("The runs predict different classes (%s vs %s): their curves are not comparable.",
			strings.Join(ca.Classes, ", "), strings.Join(cb.Classes, ", ")))
		return k
	}
	var notes []string
	k.ROC, notes = rocOverlay(kind, ca, cb)
	k.CurveNotes = append(k.CurveNotes, notes...)
	k.Calibration = calibrationOverlay(kind, ca, cb)
	for _, side := range []struct {
		name string
		c    *Curves
		run  string
	}{{"A", ca, a.ID}, {"B", cb, b.ID}} {
		if err := checkConfusion(side.c); err != nil {
			k.CurveNotes = append(k.CurveNotes, fmt.Sprintf("Run %s: %v", side.run, err))
			continue
		}
		k.Confusion = append(k.Confusion, confusionTable(fmt.Sprintf("%s: %s (rows: true class)", side.name, side.run), side.c.Classes, side.c.Confusion))
	}
	return k
}

// checkConfusion rejects a matrix that does not match the classes (a
// hand-edited or truncated sidecar), which the table would misprint.
func checkConfusion(c *Curves) error {
	if len(c.Confusion) != len(c.Classes) {
		return fmt.Errorf("confusion matrix has %d rows for %d classes", len(c.Confusion), len(c.Classes))
	}
	for i, row := range c.Confusion {
		if len(row) != len(c.Classes) {
			return fmt.Errorf("confusion matrix row %d has %d cells for %d classes", i, len(row), len(c.Classes))
		}
	}
	return nil
}

// rocOverlay draws both runs' ROC curves on one plot: A dashed, B solid;
// for more than two classes one colour per class (one-vs-rest).
func rocOverlay(kind string, a, b *Curves) (template.HTML, []string) {
	var series []chartSeries
	var notes []string
	multi := len(a.Classes) > 2
	for side, c := range []*Curves{a, b} {
		name := []string{"A", "B"}[side]
		for k, cv := range c.ROC {
			if len(cv.FPR) == 0 || !evaluate.Defined(cv.AUC) {
				notes = append(notes, fmt.Sprintf("Run %s has no ROC curve for class %q (it never or always occurs).", name, cv.Class))
				continue
			}
			s := chartSeries{Name: fmt.Sprintf("%s (AUC %s)", name, FormatFloat(cv.AUC)), Color: seriesColor(side), Dashed: side == 0, Line: true}
			if multi {
				s.Name = fmt.Sprintf("%s · %s (AUC %s)", name, cv.Class, FormatFloat(cv.AUC))
				s.Color = seriesColor(k)
			}
			for i := range cv.FPR {
				s.Points = append(s.Points, chartPoint{X: cv.FPR[i], Y: cv.TPR[i]})
			}
			series = append(series, s)
		}
	}
	return lineChart{
		Label: "ROC curves of " + kind + ", run A dashed, run B solid",
		Width: 360, Height: 300, XLabel: "False positive rate", YLabel: "True positive rate",
		X: axis{Min: 0, Max: 1}, Y: axis{Min: 0, Max: 1}, Diagonal: true, Series: series,
	}.SVG(), notes
}

// calibrationOverlay draws both runs' reliability diagrams on one plot,
// a marker per non-empty bin with its count as tooltip.
func calibrationOverlay(kind string, a, b *Curves) template.HTML {
	xLabel, yLabel := "Mean predicted P("+a.Classes[len(a.Classes)-1]+")", "Observed frequency"
	if len(a.Classes) > 2 {
		xLabel, yLabel = "Mean top-class probability", "Accuracy"
	}
	var series []chartSeries
	for side, c := range []*Curves{a, b} {
		name := []string{"A", "B"}[side]
		s := chartSeries{Name: name, Color: seriesColor(side), Dashed: side == 0, Line: true, Markers: true}
		for _, bin := range c.Calibration {
			if bin.Count == 0 {
				continue
			}
			s.Points = append(s.Points, chartPoint{X: bin.MeanPredicted, Y: bin.Observed,
				Title: fmt.Sprintf("%s, bin %.1f–%.1f: %d rows, predicted %s, observed %s", name, bin.Lo, bin.Hi, bin.Count, FormatFloat(bin.MeanPredicted), FormatFloat(bin.Observed))})
		}
		series = append(series, s)
	}
	return lineChart{
		Label: "Calibration of " + kind + ", run A dashed, run B solid",
		Width: 360, Height: 300, XLabel: xLabel, YLabel: yLabel,
		X: axis{Min: 0, Max: 1}, Y: axis{Min: 0, Max: 1}, Diagonal: true, Series: series,
	}.SVG()
}
