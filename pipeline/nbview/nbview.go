// Package nbview renders what the notebooks under notebooks/ display: HTML
// tables (from a gota DataFrame or plain rows), gonum plots as PNG images, and
// metric values marked up so a test can read them back from the rendered page
// (Metrics). It also reads the notebooks' parameters (DATALAB_NB_<KEY>
// environment variables, see pipeline/notebook).
//
// It is the one package of helpers the notebooks share: display (Show,
// ShowHTML, ShowRows through GoNB's gonbui), percentages (Pct, Percent), Must,
// the repository root (Root, Path), Quiet logs, and whether a browser is
// attached (Interactive, for widgets). Everything it renders is deterministic
// (same data ⇒ same bytes), so a rendered notebook is too.
package nbview

import (
	"bytes"
	"fmt"
	"html"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-gota/gota/dataframe"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// ParamPrefix starts every notebook parameter's environment variable; it is
// pipeline/notebook.ParamPrefix (kept here so notebooks need not import the
// runner).
const ParamPrefix = "DATALAB_NB_"

// Param is the notebook parameter key (DATALAB_NB_<KEY>), or def when unset
// or empty.
func Param(key, def string) string {
	if v := os.Getenv(ParamPrefix + strings.ToUpper(key)); v != "" {
		return v
	}
	return def
}

// IntParam is Param parsed as a non-negative integer; a malformed value is an
// error naming the variable.
func IntParam(key string, def int) (int, error) {
	s := Param(key, "")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s%s=%q: want a non-negative integer", ParamPrefix, strings.ToUpper(key), s)
	}
	return n, nil
}

// Rows renders a header and rows as an HTML table. Cells are escaped.
func Rows(header []string, rows [][]string) string {
	esc := make([][]string, len(rows))
	for i, r := range rows {
		esc[i] = make([]string, len(r))
		for j, c := range r {
			esc[i][j] = html.EscapeString(c)
		}
	}
	return RawRows(header, esc)
}

// RawRows is Rows with cells that are HTML already (e.g. Metric); only the
// header is escaped.
func RawRows(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString(`<table class="datalab-table"><thead><tr>`)
	for _, h := range header {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(h))
	}
	b.WriteString("</tr></thead><tbody>")
	for _, r := range rows {
		b.WriteString("<tr>")
		for _, c := range r {
			fmt.Fprintf(&b, "<td>%s</td>", c)
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</tbody></table>")
	return b.String()
}

// Table renders a gota DataFrame as an HTML table (its column names as the
// header). Float cells are shown with 4 significant digits.
func Table(df dataframe.DataFrame) string {
	if df.Err != nil {
		return Rows([]string{"error"}, [][]string{{df.Err.Error()}})
	}
	recs := df.Records()
	if len(recs) == 0 {
		return Rows(nil, nil)
	}
	body := recs[1:]
	for _, r := range body {
		for j, c := range r {
			if f, err := strconv.ParseFloat(c, 64); err == nil && strings.ContainsAny(c, ".eE") {
				r[j] = strconv.FormatFloat(f, 'g', 4, 64)
			}
		}
	}
	return Rows(recs[0], body)
}

// DPI of the PNG plots: sharp on screens, ~60 KB for an 8×4 inch chart.
const DPI = 96

// PNG draws p on a w×h canvas and encodes it as PNG.
func PNG(p *plot.Plot, w, h vg.Length) ([]byte, error) {
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(DPI))
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encode plot %q as PNG: %w", p.Title.Text, err)
	}
	return buf.Bytes(), nil
}

// Bars is a bar chart of values labelled by labels (one bar each).
func Bars(title, yLabel string, labels []string, values []float64) (*plot.Plot, error) {
	if len(labels) != len(values) {
		return nil, fmt.Errorf("bar chart %q: %d labels for %d values", title, len(labels), len(values))
	}
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = yLabel
	bars, err := plotter.NewBarChart(plotter.Values(values), vg.Points(max(4, 360/float64(max(1, len(values))))))
	if err != nil {
		return nil, fmt.Errorf("bar chart %q: %w", title, err)
	}
	bars.Color = plotutil.Color(0)
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(labels...)
	return p, nil
}

// Group is one coloured set of bars in a GroupedBars chart: one value per
// group label.
type Group struct {
	Name   string
	Values []float64
}

// GroupedBars draws, for each label on the x axis, one bar per group side by
// side, with a legend naming the groups.
func GroupedBars(title, yLabel string, labels []string, groups ...Group) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	n := max(1, len(groups))
	w := vg.Points(max(4, 400/float64(max(1, len(labels)*n))))
	for i, g := range groups {
		if len(g.Values) != len(labels) {
			return nil, fmt.Errorf("bar chart %q group %q: %d values for %d labels", title, g.Name, len(g.Values), len(labels))
		}
		bars, err := plotter.NewBarChart(plotter.Values(g.Values), w)
		if err != nil {
			return nil, fmt.Errorf("bar chart %q: %w", title, err)
		}
		bars.Color = plotutil.Color(i)
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(float64(i)-float64(n-1)/2) * w
		p.Add(bars)
		p.Legend.Add(g.Name, bars)
	}
	p.NominalX(labels...)
	// Head room for the legend above the tallest bar.
	p.Y.Max *= 1.3
	return p, nil
}

// Series is one line of a Lines plot.
type Series struct {
	Name string
	X, Y []float64
}

// Lines plots each series as a line with points, with a legend.
func Lines(title, xLabel, yLabel string, series ...Series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	var args []any
	for _, s := range series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("plot %q series %q: %d x for %d y", title, s.Name, len(s.X), len(s.Y))
		}
		xy := make(plotter.XYs, len(s.X))
		for i := range s.X {
			xy[i] = plotter.XY{X: s.X[i], Y: s.Y[i]}
		}
		args = append(args, s.Name, xy)
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return nil, fmt.Errorf("plot %q: %w", title, err)
	}
	return p, nil
}

// MetricClass marks the elements Metric renders.
const MetricClass = "datalab-metric"

// Metric renders value as text (formatted with format, e.g. "%.4f") inside an
// element that carries the metric's key and its exact value, so the rendered
// notebook can be checked against the pipeline's metrics (Metrics reads them
// back).
func Metric(key string, value float64, format string) string {
	return fmt.Sprintf(`<span class="%s" data-metric="%s" data-value="%s">%s</span>`,
		MetricClass, html.EscapeString(key), strconv.FormatFloat(value, 'g', -1, 64),
		html.EscapeString(fmt.Sprintf(format, value)))
}

var metricRE = regexp.MustCompile(`<span class="` + MetricClass + `" data-metric="([^"]*)" data-value="([^"]*)">`)

// Metrics reads every Metric from a rendered page. A key shown twice must
// have the same value both times.
func Metrics(page []byte) (map[string]float64, error) {
	out := map[string]float64{}
	for _, m := range metricRE.FindAllSubmatch(page, -1) {
		key := html.UnescapeString(string(m[1]))
		v, err := strconv.ParseFloat(string(m[2]), 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: value %q: %w", key, m[2], err)
		}
		if old, ok := out[key]; ok && old != v {
			return nil, fmt.Errorf("metric %s shown with two values: %v and %v", key, old, v)
		}
		out[key] = v
	}
	return out, nil
}
