package report

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// lineChart is a small line/scatter chart written as inline SVG by hand —
// the site index and the diff pages use it instead of gonum/plot because
// their points carry <title> tooltips and links, and because a page with
// dozens of small charts must not embed the plot font (≈ 550 kB) each time:
// the text uses the page's sans-serif font and is anchored, not measured.
// The output depends only on the fields: same chart, same bytes.
type lineChart struct {
	Label          string  // aria-label of the image
	Width, Height  float64 // of the plot area, in CSS pixels; margins and legend are added
	XLabel, YLabel string
	X, Y           axis
	Diagonal       bool // a dashed y = x reference line
	Series         []chartSeries
}

// axis is a chart axis: its range and ticks. Ticks nil means numeric ticks
// chosen by niceTicks; ticks given explicitly may carry text labels.
type axis struct {
	Min, Max float64
	Ticks    []tick
}

type tick struct {
	At    float64
	Label string
}

type chartSeries struct {
	Name    string // legend entry; "" keeps the series out of the legend
	Color   string // CSS colour
	Dashed  bool
	Line    bool // connect the points
	Markers bool // draw each point as a circle (with its tooltip and link)
	Points  []chartPoint
}

type chartPoint struct {
	X, Y  float64
	Title string // tooltip
	Href  string // link from the marker, relative to the page
}

// seriesColors is a colour-blind-safe palette (Okabe–Ito, without yellow).
var seriesColors = []string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#56b4e9", "#e69f00", "#000000"}

func seriesColor(i int) string { return seriesColors[i%len(seriesColors)] }

const (
	marginLeft, marginRight, marginTop = 56.0, 16.0, 12.0
	marginBottom                       = 44.0 // tick labels and the x label
	legendRow                          = 16.0
)

// num prints a coordinate with at most 2 decimals.
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

// SVG renders the chart; the <svg> has width, height and a viewBox, so it
// lays out at its size and scales down with the page's CSS.
func (c lineChart) SVG() template.HTML {
	var legend []chartSeries
	for _, s := range c.Series {
		if s.Name != "" {
			legend = append(legend, s)
		}
	}
	w := marginLeft + c.Width + marginRight
	h := marginTop + c.Height + marginBottom + legendRow*float64(len(legend))
	if len(legend) > 0 {
		h += 4
	}
	xTicks, yTicks := c.X.Ticks, c.Y.Ticks
	if xTicks == nil {
		xTicks = niceTicks(c.X.Min, c.X.Max)
	}
	if yTicks == nil {
		yTicks = niceTicks(c.Y.Min, c.Y.Max)
	}
	px := func(x float64) float64 { return marginLeft + scale(x, c.X.Min, c.X.Max)*c.Width }
	py := func(y float64) float64 { return marginTop + (1-scale(y, c.Y.Min, c.Y.Max))*c.Height }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="%s" width="%s" height="%s" viewBox="0 0 %s %s" font-family="Liberation Sans, Arial, Helvetica, sans-serif" font-size="11">`,
		html.EscapeString(c.Label), num(w), num(h), num(w), num(h))
	fmt.Fprintf(&b, "\n"+`<rect x="%s" y="%s" width="%s" height="%s" fill="#fff" stroke="#8c959f"/>`, num(marginLeft), num(marginTop), num(c.Width), num(c.Height))
	b.WriteString("\n<g class=\"grid\" stroke=\"#d8dee4\" stroke-width=\"1\">")
	for _, t := range yTicks {
		y := py(t.At)
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s"/>`, num(marginLeft), num(y), num(marginLeft+c.Width), num(y))
	}
	for _, t := range xTicks {
		x := px(t.At)
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s"/>`, num(x), num(marginTop), num(x), num(marginTop+c.Height))
	}
	b.WriteString("</g>\n<g class=\"ticks\" fill=\"#1b1f23\">")
	for _, t := range yTicks {
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>`, num(marginLeft-5), num(py(t.At)), html.EscapeString(t.Label))
	}
	for i, t := range xTicks {
		anchor := "middle"
		if len(xTicks) > 1 && i == 0 && c.X.Ticks != nil {
			anchor = "start" // text labels at the ends stay inside the image
		} else if len(xTicks) > 1 && i == len(xTicks)-1 && c.X.Ticks != nil {
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="%s">%s</text>`, num(px(t.At)), num(marginTop+c.Height+14), anchor, html.EscapeString(t.Label))
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", num(marginLeft+c.Width/2), num(marginTop+c.Height+32), html.EscapeString(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(14 %s) rotate(-90)" text-anchor="middle">%s</text>`+"\n", num(marginTop+c.Height/2), html.EscapeString(c.YLabel))
	if c.Diagonal {
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#969696" stroke-dasharray="4 3"/>`+"\n",
			num(px(c.X.Min)), num(py(c.Y.Min)), num(px(c.X.Max)), num(py(c.Y.Max)))
	}
	for _, s := range c.Series {
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 3"`
		}
		if s.Line && len(s.Points) > 1 {
			pts := make([]string, len(s.Points))
			for i, p := range s.Points {
				pts[i] = num(px(p.X)) + "," + num(py(p.Y))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.8"%s points="%s"><title>%s</title></polyline>`+"\n",
				s.Color, dash, strings.Join(pts, " "), html.EscapeString(s.Name))
		}
		if s.Markers {
			fmt.Fprintf(&b, `<g fill="%s">`, s.Color)
			for _, p := range s.Points {
				circle := fmt.Sprintf(`<circle cx="%s" cy="%s" r="3.5"><title>%s</title></circle>`, num(px(p.X)), num(py(p.Y)), html.EscapeString(p.Title))
				if p.Href != "" {
					circle = `<a href="` + html.EscapeString(p.Href) + `">` + circle + `</a>`
				}
				b.WriteString(circle)
			}
			b.WriteString("</g>\n")
		}
	}
	for i, s := range legend {
		y := marginTop + c.Height + marginBottom + 4 + legendRow*float64(i) + legendRow/2
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 3"`
		}
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2.5"%s/><text x="%s" y="%s" dominant-baseline="middle">%s</text>`+"\n",
			num(marginLeft), num(y), num(marginLeft+28), num(y), s.Color, dash, num(marginLeft+34), num(y), html.EscapeString(s.Name))
	}
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

// scale maps v in [lo, hi] to [0, 1] (0.5 for an empty range).
func scale(v, lo, hi float64) float64 {
	if hi == lo {
		return 0.5
	}
	return (v - lo) / (hi - lo)
}

// niceTicks returns about five ticks at 1, 2 or 5 × 10^k steps within
// [lo, hi], labelled with just enough decimals.
func niceTicks(lo, hi float64) []tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return []tick{{At: lo, Label: FormatFloat(lo)}}
	}
	step := niceStep((hi - lo) / 5)
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	var ticks []tick
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+step*1e-9; k++ {
		v := k * step
		ticks = append(ticks, tick{At: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	return ticks
}

// niceStep rounds a raw tick step up to 1, 2 or 5 × 10^k.
func niceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// paddedRange widens [lo, hi] by 8% on each side and out to the nearest
// nice tick, so points do not sit on the frame; a single value gets a range
// around it.
func paddedRange(lo, hi float64) (float64, float64) {
	if hi == lo {
		d := math.Max(math.Abs(lo)*0.05, 0.01)
		lo, hi = lo-d, hi+d
	}
	pad := (hi - lo) * 0.08
	lo, hi = lo-pad, hi+pad
	step := niceStep((hi - lo) / 5)
	return math.Floor(lo/step) * step, math.Ceil(hi/step) * step
}
