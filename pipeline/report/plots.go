package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"html/template"
	"image/color"
	"math"
	"strings"
	"sync"

	"golang.org/x/image/font/sfnt"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/forest"
)

// plotFont is the face of all plot text. gonum/plot measures text with the
// Liberation fonts it embeds; the page embeds the same face once
// (fontFaceCSS) so the browser draws exactly what was measured, whatever
// fonts the reader has installed.
var plotFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// maxCurvePoints bounds the points drawn per curve: a million-row ROC curve
// is thinned to points at least 1/maxCurvePoints apart (see thin).
const maxCurvePoints = 500

// figure is what the "figure" template renders.
type figure struct {
	Caption string
	SVG     template.HTML
	Notes   []string
	Table   *table
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	for _, s := range []*font.Font{&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font, &p.Legend.TextStyle.Font} {
		s.Typeface, s.Variant = plotFont.Typeface, plotFont.Variant
	}
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	return p
}

// legendAt places the legend in a corner, nudged off the axes.
func legendAt(p *plot.Plot, top, left bool) {
	p.Legend.Top, p.Legend.Left = top, left
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(6), vg.Points(6)
	if left {
		p.Legend.XOffs = vg.Points(6)
	}
	if top {
		p.Legend.YOffs = -vg.Points(6)
	}
}

// svgOf draws p on a w×h SVG canvas and returns the <svg> element for
// inline use (the XML prologue is dropped). The canvas does not embed fonts:
// the page does, once.
func svgOf(p *plot.Plot, w, h vg.Length, label string) (template.HTML, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("draw SVG: %w", err)
	}
	s := buf.String()
	i := strings.Index(s, "<svg")
	if i < 0 {
		return "", fmt.Errorf("draw SVG: gonum/plot wrote no <svg> element")
	}
	// Label the image for screen readers; label is escaped here because the
	// SVG is inserted as trusted HTML.
	s = `<svg role="img" aria-label="` + html.EscapeString(label) + `"` + s[i+len("<svg"):]
	return template.HTML(s), nil
}

// addFigure renders p and appends it with its caption, notes and table.
func (r *Report) addFigure(caption string, p *plot.Plot, w, h vg.Length, notes []string, t *table) {
	svg, err := svgOf(p, w, h, caption)
	if err != nil {
		r.fail(fmt.Errorf("report %q: figure %q: %w", r.title, caption, err))
		return
	}
	r.plots++
	r.add("figure", figure{Caption: caption, SVG: svg, Notes: notes, Table: t})
}

// fontFaceCSS returns the @font-face rule embedding plotFont, or "" when the
// page has no plots.
func fontFaceCSS(needed bool) string {
	if !needed {
		return ""
	}
	return fontFace()
}

var fontFace = sync.OnceValue(func() string {
	face := font.DefaultCache.Lookup(plotFont, 12)
	var ttf bytes.Buffer
	if _, err := face.Face.WriteSourceTo(nil, &ttf); err != nil {
		// The font is compiled into gonum/plot; failing to read it is a
		// broken build, not a runtime condition.
		panic(fmt.Sprintf("report: read embedded plot font: %v", err))
	}
	family, err := face.Face.Name(nil, sfnt.NameIDFamily)
	if err != nil {
		panic(fmt.Sprintf("report: read embedded plot font name: %v", err))
	}
	return fmt.Sprintf("@font-face{font-family:%q;font-style:normal;font-weight:normal;src:url(data:font/ttf;base64,%s) format(\"truetype\");}\n",
		family, base64.StdEncoding.EncodeToString(ttf.Bytes()))
})

func unitAxes(p *plot.Plot) {
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Add(plotter.NewGrid())
}

// diagonal draws the y = x reference line (chance ROC, perfect calibration).
func diagonal(p *plot.Plot, name string) error {
	l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return err
	}
	l.Color = color.Gray{Y: 150}
	l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// thin keeps the first and last point and every point at least
// 1/maxCurvePoints (in either coordinate) from the last kept one, so a
// plotted curve has at most about 2·maxCurvePoints points whatever the row
// count, and looks the same.
func thin(x, y []float64) plotter.XYs {
	const step = 1.0 / maxCurvePoints
	pts := make(plotter.XYs, 0, min(len(x), 4*maxCurvePoints))
	for i := range x {
		if i > 0 && i < len(x)-1 {
			last := pts[len(pts)-1]
			if x[i]-last.X < step && y[i]-last.Y < step && last.X-x[i] < step && last.Y-y[i] < step {
				continue
			}
		}
		pts = append(pts, plotter.XY{X: x[i], Y: y[i]})
	}
	return pts
}

// ROCPlot appends the ROC curves of the comparisons in one plot: one curve
// per comparison for binary results, one per comparison and class
// (one-vs-rest) otherwise. The legend gives each curve's AUC; classes whose
// curve is undefined are listed under the plot.
func (r *Report) ROCPlot(caption string, comps []evaluate.Comparison) {
	if !r.checkComparisons("ROC plot", caption, comps) {
		return
	}
	p := newPlot("", "False positive rate", "True positive rate")
	unitAxes(p)
	legendAt(p, false, false)
	if err := diagonal(p, "chance"); err != nil {
		r.fail(fmt.Errorf("report %q: ROC plot %q: %w", r.title, caption, err))
		return
	}
	var notes []string
	n := 0
	for ci, c := range comps {
		for k, cv := range c.Result.ROC {
			name := c.Name
			if len(c.Result.Classes) > 2 {
				name = cv.Class
				if len(comps) > 1 {
					name = c.Name + " · " + cv.Class
				}
			}
			if !evaluate.Defined(cv.AUC) || len(cv.FPR) == 0 {
				notes = append(notes, fmt.Sprintf("No ROC curve for %s: class %q never or always occurs.", c.Name, cv.Class))
				continue
			}
			l, err := plotter.NewLine(thin(cv.FPR, cv.TPR))
			if err != nil {
				r.fail(fmt.Errorf("report %q: ROC plot %q, %s: %w", r.title, caption, name, err))
				return
			}
			l.Color = plotutil.Color(n)
			l.Width = vg.Points(1.5)
			if len(comps) > 1 && len(c.Result.Classes) > 2 {
				// Colour tells the class, dashes the variant.
				l.Color = plotutil.Color(k)
				l.Dashes = plotutil.Dashes(ci)
			}
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("%s (AUC %s)", name, FormatFloat(cv.AUC)), l)
			n++
		}
	}
	r.addFigure(caption, p, 6*vg.Inch, 4.5*vg.Inch, notes, nil)
}

// CalibrationPlot appends a reliability diagram — mean predicted
// probability against observed frequency for each non-empty calibration
// bin, one line per comparison — and the bin table under it.
func (r *Report) CalibrationPlot(caption string, comps []evaluate.Comparison) {
	if !r.checkComparisons("calibration plot", caption, comps) {
		return
	}
	classes := comps[0].Result.Classes
	xLabel, yLabel := "Mean predicted P("+classes[1]+")", "Observed frequency of "+classes[1]
	if len(classes) > 2 {
		xLabel, yLabel = "Mean top-class probability (confidence)", "Accuracy"
	}
	p := newPlot("", xLabel, yLabel)
	unitAxes(p)
	legendAt(p, true, true)
	if err := diagonal(p, "perfectly calibrated"); err != nil {
		r.fail(fmt.Errorf("report %q: calibration plot %q: %w", r.title, caption, err))
		return
	}
	t := &table{Caption: caption + " — bins", Header: []string{"Bin"}, Class: "calibration"}
	for _, c := range comps {
		t.Header = append(t.Header, c.Name+" n", c.Name+" predicted", c.Name+" observed")
	}
	for b := range evaluate.CalibrationBins {
		lo, hi := comps[0].Result.Calibration[b].Lo, comps[0].Result.Calibration[b].Hi
		open := "("
		if b == 0 {
			open = "["
		}
		row := []cell{{Text: fmt.Sprintf("%s%.1f, %.1f]", open, lo, hi)}}
		for _, c := range comps {
			bin := c.Result.Calibration[b]
			row = append(row, cell{Text: fmt.Sprint(bin.Count), Class: "num"},
				cell{Text: FormatFloat(bin.MeanPredicted), Class: "num"},
				cell{Text: FormatFloat(bin.Observed), Class: "num"})
		}
		t.Rows = append(t.Rows, row)
	}
	for i, c := range comps {
		var pts plotter.XYs
		for _, bin := range c.Result.Calibration {
			if bin.Count > 0 {
				pts = append(pts, plotter.XY{X: bin.MeanPredicted, Y: bin.Observed})
			}
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			r.fail(fmt.Errorf("report %q: calibration plot %q, %s: %w", r.title, caption, c.Name, err))
			return
		}
		line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
		line.Width = vg.Points(1.5)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(c.Name, line, points)
	}
	r.addFigure(caption, p, 6*vg.Inch, 4.5*vg.Inch, nil, t)
}

// BarChart appends a horizontal bar chart (e.g. feature importances) with
// labels drawn top to bottom in the given order, and the values in a table.
func (r *Report) BarChart(caption string, labels []string, values []float64) {
	if len(labels) != len(values) || len(labels) == 0 {
		r.fail(fmt.Errorf("report %q: bar chart %q: %d labels for %d values; pass one label per value", r.title, caption, len(labels), len(values)))
		return
	}
	// NominalY puts the first name at the bottom: reverse both.
	n := len(values)
	rev := make(plotter.Values, n)
	revLabels := make([]string, n)
	t := &table{Caption: caption + " — values", Header: []string{"", "Value"}}
	for i := range values {
		rev[n-1-i], revLabels[n-1-i] = values[i], labels[i]
		t.Rows = append(t.Rows, []cell{{Text: labels[i]}, {Text: FormatFloat(values[i]), Class: "num"}})
	}
	p := newPlot("", "", "")
	lo, hi := 0.0, 0.0
	for _, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			r.fail(fmt.Errorf("report %q: bar chart %q: value %v is not a finite number", r.title, caption, v))
			return
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo == hi {
		hi = 1 // all zero: draw an empty unit axis
	}
	// Room beyond the longest bars and above/below the outer bars.
	p.X.Min, p.X.Max = 1.05*lo, 1.05*hi
	p.Y.Min, p.Y.Max = -0.7, float64(n)-0.3
	bars, err := plotter.NewBarChart(rev, vg.Points(12))
	if err != nil {
		r.fail(fmt.Errorf("report %q: bar chart %q: %w", r.title, caption, err))
		return
	}
	bars.Horizontal = true
	bars.Color = plotutil.Color(2)
	bars.LineStyle.Width = 0
	p.Add(plotter.NewGrid(), bars)
	p.NominalY(revLabels...)
	h := vg.Length(n)*18 + 60
	r.addFigure(caption, p, 6*vg.Inch, max(h, 2*vg.Inch), nil, t)
}

// Importances appends a bar chart of a forest's named feature importances,
// in the order given (forest.Model.NamedImportances sorts largest first).
func (r *Report) Importances(caption string, imps []forest.FeatureImportance) {
	labels := make([]string, len(imps))
	values := make([]float64, len(imps))
	for i, fi := range imps {
		labels[i], values[i] = fi.Feature, fi.Importance
	}
	r.BarChart(caption, labels, values)
}
