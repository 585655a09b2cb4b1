package drift

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/report"
)

// JSON returns the result as indented JSON with a trailing newline
// (evaluate.MarshalDeterministic: the same result gives the same bytes).
func (res *Result) JSON() ([]byte, error) {
	b, err := evaluate.MarshalDeterministic(res)
	if err != nil {
		return nil, fmt.Errorf("drift: %w", err)
	}
	return b, nil
}

// WriteJSON atomically writes res.JSON() to path.
func (res *Result) WriteJSON(path string) error {
	b, err := res.JSON()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, b); err != nil {
		return fmt.Errorf("drift: write %s: %w", path, err)
	}
	return nil
}

// SectionTitle is the title of the section Section appends.
const SectionTitle = "Drift against the reference"

// Section appends the drift section to rep: the verdict, the method and
// thresholds, a table of every feature (status, PSI, means, missing and
// unseen shares, reasons), the predicted-class distribution, and the bins of
// each feature that is not ok. Like the rest of pipeline/report it is plain
// HTML and CSS.
func Section(rep *report.Report, res *Result) {
	o := res.Options
	rep.Section(SectionTitle,
		"Verdict: "+statusText(res.Verdict)+". "+res.details()+".",
		fmt.Sprintf("Each feature's population stability index PSI = Σ (c − r)·ln(c / r) sums over its bins, with r and c the shares of reference and current rows in a bin (a share of 0 counted as %s). "+
			"Numeric features have up to %d bins at the reference's quantiles, open-ended at both ends; categorical features have a bin for each of the reference's %d most frequent categories, one for the rest, and one for categories the reference never has; missing values have a bin of their own. "+
			"A feature warns at PSI ≥ %s and drifts at PSI ≥ %s, or when %s or more of the current rows have a category the reference never has. "+
			"Below %d rows in either sample nothing is judged: sampling noise alone gives a PSI of about (bins − 1)·(1/reference rows + 1/current rows).",
			strconv.FormatFloat(o.Epsilon, 'g', -1, 64), o.Bins, o.MaxCategories, report.FormatFloat(o.PSIWarn), report.FormatFloat(o.PSIAlert),
			report.FormatPercent(o.UnseenAlert), o.MinRows))

	rows := make([][]string, 0, len(res.Features)+1)
	for _, f := range res.all() {
		rows = append(rows, []string{f.Name, f.Kind.String(), statusText(f.Status), report.FormatFloat(f.PSI),
			meanText(f.ReferenceMean), meanText(f.CurrentMean), report.FormatPercent(f.ReferenceMissing), report.FormatPercent(f.CurrentMissing),
			unseenText(f), strings.Join(f.Reasons, "; ")})
	}
	rep.Table(fmt.Sprintf("Features: %d reference rows, %d current rows", res.ReferenceRows, res.CurrentRows),
		[]string{"Feature", "Kind", "Status", "PSI", "Reference mean", "Current mean", "Reference missing", "Current missing", "Unseen categories", "Reasons"}, rows)

	if p := res.Prediction; p != nil {
		binTable(rep, "Predicted classes", p)
	}
	for i := range res.Features {
		if f := &res.Features[i]; f.Status == StatusWarn || f.Status == StatusDrift {
			binTable(rep, "Bins of "+f.Name, f)
		}
	}
}

// SectionHTML is Section rendered on its own, an HTML fragment (no page,
// no style sheet: the embedding page styles its tables), preceded by the
// paragraphs about when there are any: the match dashboard's drift panel.
func SectionHTML(res *Result, about ...string) (template.HTML, error) {
	rep := report.New(SectionTitle)
	if len(about) > 0 {
		rep.Paragraph(about...)
	}
	Section(rep, res)
	return rep.Body()
}

// binTable appends the bins of f.
func binTable(rep *report.Report, caption string, f *Feature) {
	rows := make([][]string, len(f.Bins))
	for i, b := range f.Bins {
		rows[i] = []string{b.Label, report.FormatPercent(b.Reference), report.FormatPercent(b.Current), report.FormatFloat(b.PSI)}
	}
	rep.Table(fmt.Sprintf("%s (PSI %s, %s)", caption, report.FormatFloat(f.PSI), statusText(f.Status)),
		[]string{"Bin", "Reference share", "Current share", "PSI term"}, rows)
}

func statusText(s Status) string { return strings.ReplaceAll(string(s), "_", " ") }

func meanText(m *float64) string {
	if m == nil {
		return ""
	}
	return report.FormatFloat(*m)
}

// unseenText is the unseen share of a categorical feature and its most
// frequent unseen categories, e.g. "12.0% (XYZ 80, ABC 40, …)".
func unseenText(f *Feature) string {
	if f.Kind != Categorical {
		return ""
	}
	s := report.FormatPercent(f.UnseenShare)
	if len(f.Unseen) == 0 {
		return s
	}
	const listed = 3
	parts := make([]string, 0, listed+1)
	for _, c := range f.Unseen[:min(len(f.Unseen), listed)] {
		parts = append(parts, c.Category+" "+strconv.Itoa(c.Rows))
	}
	if len(f.Unseen) > listed {
		parts = append(parts, "…")
	}
	return s + " (" + strings.Join(parts, ", ") + ")"
}

// Page returns a stand-alone report page titled title: an optional "Window"
// section with the paragraphs about (what was compared: model version,
// time window, data), then Section. Its headline metrics (the sidecar's)
// are the largest PSI and the number of features in drift.
func Page(title string, res *Result, about ...string) *report.Report {
	rep := report.New(title)
	if len(about) > 0 {
		rep.Section("Window", about...)
	}
	Section(rep, res)
	rep.HeadlineMetric("max_psi", res.MaxPSI())
	rep.HeadlineMetric("features_drifted", float64(len(res.featuresIn(StatusDrift))))
	return rep
}

// WritePage writes Page(title, res, about...) to path (….html) and its
// sidecar beside it (report.Report.Write).
func WritePage(path, title string, res *Result, about ...string) error {
	return Page(title, res, about...).Write(path)
}
