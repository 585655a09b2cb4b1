package matchapp

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"net/http"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/matchwinner"
	"github.com/datalabhq/datalab/pipeline/predlog"
)

// Sizes of the dashboard's lists.
const (
	dashboardTopTeams    = 15
	dashboardTopMatchups = 15
	dashboardDays        = 31
	dashboardRecent      = 20
)

// Dashboard is the usage dashboard's content, read from the prediction log.
// The same value renders /dashboard and `datalab report usage`.
type Dashboard struct {
	Total       int64
	TopTeams    []predlog.Counted
	TopMatchups []predlog.Matchup
	ByHour      [24]int64
	ByDay       []predlog.Counted
	Outcomes    []predlog.Counted
	Recent      []predlog.Entry
}

// LoadDashboard runs the dashboard's queries against src.
func LoadDashboard(ctx context.Context, src UsageSource) (*Dashboard, error) {
	var (
		d   Dashboard
		err error
	)
	if d.Total, err = src.Count(ctx); err != nil {
		return nil, err
	}
	if d.TopTeams, err = src.TopTeams(ctx, dashboardTopTeams); err != nil {
		return nil, err
	}
	if d.TopMatchups, err = src.TopMatchups(ctx, dashboardTopMatchups); err != nil {
		return nil, err
	}
	if d.ByHour, err = src.ByHour(ctx); err != nil {
		return nil, err
	}
	if d.ByDay, err = src.ByDay(ctx, dashboardDays); err != nil {
		return nil, err
	}
	if d.Outcomes, err = src.OutcomeMix(ctx); err != nil {
		return nil, err
	}
	if d.Recent, err = src.Recent(ctx, dashboardRecent); err != nil {
		return nil, err
	}
	return &d, nil
}

// chart is one rendered figure.
type chart struct {
	Title string
	SVG   template.HTML // empty when there is no data
}

type recentRow struct {
	Time, Home, Away, Verdict, Percent, ModelVersion string
}

// Render writes the dashboard as one self-contained HTML page (inline SVG,
// inline CSS, no script). The output depends only on d: the same log gives
// the same bytes.
func (d *Dashboard) Render(w io.Writer) error {
	charts, err := d.charts()
	if err != nil {
		return err
	}
	recent := make([]recentRow, len(d.Recent))
	for i, e := range d.Recent {
		recent[i] = recentRow{
			Time: e.ServerTime.UTC().Format("2006-01-02 15:04:05"),
			Home: e.Home, Away: e.Away,
			Verdict:      outcomeLabel(e.Outcome, e.Home, e.Away),
			Percent:      percent(e.Probability, 1) + "%",
			ModelVersion: e.ModelVersion,
		}
	}
	return templates.ExecuteTemplate(w, "dashboard", map[string]any{
		"Total": d.Total, "Charts": charts, "TopTeams": d.TopTeams, "TopMatchups": d.TopMatchups, "Recent": recent,
	})
}

// WriteFile renders the dashboard to path atomically (readers never see a
// half-written report).
func (d *Dashboard) WriteFile(path string) error {
	return atomicfile.Write(path, d.Render)
}

func (a *App) handleDashboard(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Usage == nil {
		http.Error(w, "no prediction log configured: start the server with --db", http.StatusServiceUnavailable)
		return
	}
	d, err := LoadDashboard(r.Context(), a.cfg.Usage)
	if err != nil {
		a.cfg.Logger.Error("dashboard query", "err", err)
		http.Error(w, "the prediction log could not be read; see the server log", http.StatusServiceUnavailable)
		return
	}
	var buf bytes.Buffer
	if err := d.Render(&buf); err != nil {
		a.cfg.Logger.Error("render dashboard", "err", err)
		http.Error(w, "internal error rendering the dashboard", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func (d *Dashboard) charts() ([]chart, error) {
	var out []chart
	add := func(title string, labels []string, values []float64, horizontal bool) error {
		c := chart{Title: title}
		if len(values) > 0 && d.Total > 0 {
			svg, err := barChartSVG(labels, values, horizontal)
			if err != nil {
				return fmt.Errorf("chart %q: %w", title, err)
			}
			c.SVG = svg
		}
		out = append(out, c)
		return nil
	}
	// Top teams, most requested at the top: horizontal bars are drawn
	// bottom-up, so reverse.
	n := len(d.TopTeams)
	labels, values := make([]string, n), make([]float64, n)
	for i, c := range d.TopTeams {
		labels[n-1-i], values[n-1-i] = c.Label, float64(c.Count)
	}
	if err := add("Most requested teams (home or away)", labels, values, true); err != nil {
		return nil, err
	}
	n = len(d.TopMatchups)
	labels, values = make([]string, n), make([]float64, n)
	for i, m := range d.TopMatchups {
		labels[n-1-i], values[n-1-i] = m.Home+" – "+m.Away, float64(m.Count)
	}
	if err := add("Most requested match-ups (home – away)", labels, values, true); err != nil {
		return nil, err
	}
	labels, values = make([]string, 24), make([]float64, 24)
	for h, c := range d.ByHour {
		labels[h], values[h] = strconv.Itoa(h), float64(c)
	}
	if err := add("Requests by hour of day (UTC)", labels, values, false); err != nil {
		return nil, err
	}
	labels, values = nil, nil
	for _, c := range d.ByDay {
		labels, values = append(labels, c.Label[5:]), append(values, float64(c.Count)) // MM-DD
	}
	if err := add("Requests by day (UTC, last 31 days with requests)", labels, values, false); err != nil {
		return nil, err
	}
	labels, values = nil, nil
	for _, c := range d.Outcomes {
		labels, values = append(labels, outcomeName(c.Label)), append(values, float64(c.Count))
	}
	if err := add("Predicted-outcome mix", labels, values, false); err != nil {
		return nil, err
	}
	return out, nil
}

func outcomeName(o string) string {
	switch matchwinner.Outcome(o) {
	case matchwinner.HomeWin:
		return "home win"
	case matchwinner.AwayWin:
		return "away win"
	case matchwinner.Draw:
		return "draw"
	case matchwinner.NotHomeWin:
		return "not home win"
	}
	return o
}

var barColor = color.RGBA{R: 0x2b, G: 0x6c, B: 0xb0, A: 0xff}

// barChartSVG draws a bar chart with gonum/plot and returns the <svg>
// element for inlining. vgsvg escapes text (labels are user-supplied team
// names), and its output is deterministic.
func barChartSVG(labels []string, values []float64, horizontal bool) (template.HTML, error) {
	p := plot.New()
	// Bars narrow as their number grows so neighbours never overlap.
	bars, err := plotter.NewBarChart(plotter.Values(values), vg.Points(max(3, min(14, 280/float64(len(values))))))
	if err != nil {
		return "", err
	}
	bars.Color = barColor
	bars.LineStyle.Width = 0
	bars.Horizontal = horizontal
	p.Add(bars)
	width, height := 16*vg.Centimeter, 7*vg.Centimeter
	if horizontal {
		p.NominalY(labels...)
		p.X.Min = 0
		p.X.Label.Text = "requests"
		height = vg.Length(len(labels))*0.6*vg.Centimeter + 2*vg.Centimeter
	} else {
		p.NominalX(labels...)
		p.Y.Min = 0
		p.Y.Label.Text = "requests"
	}
	c := vgsvg.New(width, height)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", err
	}
	svg := buf.String()
	// Drop the XML prolog and comment: inline SVG starts at <svg.
	if i := strings.Index(svg, "<svg"); i > 0 {
		svg = svg[i:]
	}
	return template.HTML(svg), nil
}
