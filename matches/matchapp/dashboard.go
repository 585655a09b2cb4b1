package matchapp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/serve"
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
	// Serving is the model version the app serves now: set on /dashboard
	// (App.Serving), nil in the static report, which has no server.
	Serving *Serving
	// Drift is the drift panel (DriftPanel.HTML): the app's dashboard
	// only, empty in `datalab report usage`.
	Drift template.HTML
}

// Serving is the model version an app serves now.
type Serving struct {
	// Version is the registry version id (or the model's own version,
	// for a model given by path), as in every answer's model_version.
	Version string
	// Alias is the registry alias followed, "" for none.
	Alias string
	// Since is when this version began serving.
	Since time.Time
}

// UsageSource answers the dashboard's read; *predlog.Log is the real one,
// reading the counters its writer keeps, so the cost of a read does not
// grow with the log.
type UsageSource interface {
	Usage(ctx context.Context, lim predlog.UsageLimits) (*predlog.Usage, error)
}

// dashboardLimits are the sizes of the dashboard's lists.
var dashboardLimits = predlog.UsageLimits{
	TopTeams: dashboardTopTeams, TopMatchups: dashboardTopMatchups, Days: dashboardDays, Recent: dashboardRecent,
}

// LoadDashboard reads the dashboard's figures from src.
func LoadDashboard(ctx context.Context, src UsageSource) (*Dashboard, error) {
	u, err := src.Usage(ctx, dashboardLimits)
	if err != nil {
		return nil, err
	}
	return &Dashboard{
		Total: u.Total, TopTeams: u.TopTeams, TopMatchups: u.TopMatchups, ByHour: u.ByHour,
		ByDay: u.ByDay, Outcomes: u.Outcomes, Recent: u.Recent,
	}, nil
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
	data := map[string]any{
		"Total": d.Total, "Charts": charts, "TopTeams": d.TopTeams, "TopMatchups": d.TopMatchups, "Recent": recent, "Drift": d.Drift,
	}
	if s := d.Serving; s != nil {
		data["Serving"] = map[string]string{"Version": s.Version, "Alias": s.Alias, "Since": s.Since.UTC().Format("2006-01-02 15:04:05")}
	}
	return templates.ExecuteTemplate(w, "dashboard", data)
}

// WriteFile renders the dashboard to path atomically (readers never see a
// half-written report).
func (d *Dashboard) WriteFile(path string) error {
	return atomicfile.Write(path, d.Render)
}

// DefaultDashboardTimeout bounds one dashboard read and render, and how
// long a GET waits for it.
const DefaultDashboardTimeout = 5 * time.Second

// dashboard serves /dashboard. Concurrent GETs share one read and render
// (single flight): N GETs at once cost one read of the log, so the dashboard
// holds at most one connection of the log's pool and never starves the
// prediction-log writer. Each GET waits at most the timeout (or its own
// deadline, if sooner) and then answers 503; the shared read is bounded by
// the same timeout, so no handler runs past the server's write timeout.
type dashboard struct {
	src     UsageSource
	serving func() Serving
	timeout time.Duration
	// token is the SHA-256 of the required token; nil when none is.
	token  []byte
	logger *slog.Logger
	web    *serve.Layer
	drift  *DriftPanel // nil: no drift panel
	group  singleflight.Group
	loads  prometheus.Counter
	// waiting counts GETs waiting for a read: many waiting with one load
	// in flight is single flight at work; it is also what tests watch.
	waiting prometheus.Gauge
}

// errRender marks a failure to render (a bug, 500) apart from a failure to
// read the log (503).
var errRender = errors.New("render dashboard")

func newDashboard(cfg Config, reg prometheus.Registerer, web *serve.Layer, serving func() Serving) *dashboard {
	d := &dashboard{src: cfg.Usage, serving: serving, timeout: cfg.DashboardTimeout, logger: cfg.Logger, web: web, drift: cfg.Drift,
		loads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "datalab_dashboard_loads_total",
			Help: "Reads of the prediction log for /dashboard; concurrent GETs share one.",
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "datalab_dashboard_waiting",
			Help: "GETs of /dashboard waiting for the shared read of the prediction log.",
		})}
	reg.MustRegister(d.loads, d.waiting)
	if d.timeout <= 0 {
		d.timeout = DefaultDashboardTimeout
	}
	if cfg.DashboardToken != "" {
		h := sha256.Sum256([]byte(cfg.DashboardToken))
		d.token = h[:]
	}
	return d
}

// authorized reports whether r carries the dashboard token, as
// "Authorization: Bearer <token>" or ?token=<token>. Both sides are hashed
// before the constant-time compare, so neither the token's bytes nor its
// length leak through timing.
func (d *dashboard) authorized(r *http.Request) bool {
	if d.token == nil {
		return true
	}
	given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		given = r.URL.Query().Get("token")
	}
	if given == "" {
		return false
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(given)))
	return subtle.ConstantTimeCompare(h[:], d.token) == 1
}

// page reads the log and renders the page, bounded by the timeout and not
// by any one request: the GETs sharing it may come and go.
func (d *dashboard) page() ([]byte, error) {
	d.loads.Inc()
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	db, err := LoadDashboard(ctx, d.src)
	if err != nil {
		return nil, err
	}
	s := d.serving()
	db.Serving = &s
	if d.drift != nil {
		db.Drift = d.drift.HTML()
	}
	var buf bytes.Buffer
	if err := db.Render(&buf); err != nil {
		return nil, fmt.Errorf("%w: %w", errRender, err)
	}
	return buf.Bytes(), nil
}

func (d *dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !d.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dashboard"`)
		http.Error(w, "this dashboard needs the token the server was started with (--dashboard-token): send Authorization: Bearer <token> or ?token=<token>", http.StatusUnauthorized)
		return
	}
	if d.src == nil {
		http.Error(w, "no prediction log configured: start the server with --db", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.timeout)
	defer cancel()
	unavailable := func() {
		w.Header().Set("Retry-After", strconv.Itoa(int(max(1, d.timeout/time.Second))))
		http.Error(w, fmt.Sprintf("the dashboard could not be read within %v; try again shortly", d.timeout), http.StatusServiceUnavailable)
	}
	if ctx.Err() != nil { // the client gave up already: start no read for it
		unavailable()
		return
	}
	d.waiting.Inc()
	defer d.waiting.Dec()
	select {
	case res := <-d.group.DoChan("page", func() (any, error) { return d.page() }):
		if res.Err != nil {
			switch {
			case errors.Is(res.Err, errRender):
				d.web.Fail(w, r, http.StatusInternalServerError, "the dashboard could not be rendered", res.Err)
			case errors.Is(res.Err, context.DeadlineExceeded):
				d.logger.Warn("dashboard read timed out", "timeout", d.timeout, "err", res.Err)
				unavailable()
			default:
				d.web.Fail(w, r, http.StatusServiceUnavailable, "the prediction log could not be read", res.Err)
			}
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(res.Val.([]byte))
	case <-ctx.Done():
		d.logger.Warn("dashboard request gave up waiting for the log", "timeout", d.timeout, "err", ctx.Err())
		unavailable()
	}
}

// DashboardHandler serves only GET /dashboard, behind the same serving
// layer as the app (headers, request log, metrics): for a listener of its
// own (`datalab serve --dashboard-addr`), e.g. on loopback, when the app's
// listener is public and Config.DashboardOff keeps /dashboard off it.
func (a *App) DashboardHandler() http.Handler {
	mux := http.NewServeMux()
	a.web.Handle(mux, "GET /dashboard", "dashboard", a.dash)
	return a.web.Wrap(mux)
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
