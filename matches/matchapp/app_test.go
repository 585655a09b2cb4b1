package matchapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datalabhq/datalab/matches/matchapp"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
)

// Hostile but valid team names: they must be stored verbatim and shown escaped.
const (
	quotedTeam = `Côte d'Ivoire "B"`
	scriptTeam = `<script>alert(1)</script>`
)

// tablePredictor is a small matchwinner.Predictor for handler tests: a fixed
// strength per team; equal strengths make a draw the most likely outcome.
type tablePredictor struct {
	strength map[string]float64
	wc       []string
}

func newTablePredictor() *tablePredictor {
	return &tablePredictor{
		strength: map[string]float64{
			"Argentina": 2, "France": 2, "Brazil": 1.8, "Germany": 1, "Japan": 0.5,
			quotedTeam: 0.8, scriptTeam: 0.1,
		},
		wc: []string{"Argentina", "Brazil", "France", "Germany", "Japan"},
	}
}

func (p *tablePredictor) Predict(ctx context.Context, req matchwinner.Request) (matchwinner.Prediction, error) {
	hs, ok1 := p.strength[req.Home]
	as, ok2 := p.strength[req.Away]
	switch {
	case !ok1:
		return matchwinner.Prediction{}, fmt.Errorf("%w: %q", matchwinner.ErrUnknownTeam, req.Home)
	case !ok2:
		return matchwinner.Prediction{}, fmt.Errorf("%w: %q", matchwinner.ErrUnknownTeam, req.Away)
	case req.Home == req.Away:
		return matchwinner.Prediction{}, matchwinner.ErrSameTeam
	}
	d := hs - as
	if !req.Neutral {
		d += 0.3
	}
	draw := 0.4 * math.Exp(-d*d)
	home := (1 - draw) / (1 + math.Exp(-2*d))
	probs := map[matchwinner.Outcome]float64{matchwinner.HomeWin: home, matchwinner.Draw: draw, matchwinner.AwayWin: 1 - draw - home}
	pr := matchwinner.Prediction{Probabilities: probs, ModelVersion: p.Version(), Variant: "3class",
		Features: map[string]float64{"strength_diff": d}}
	for _, o := range []matchwinner.Outcome{matchwinner.HomeWin, matchwinner.Draw, matchwinner.AwayWin} {
		if probs[o] > pr.Probability {
			pr.Outcome, pr.Probability = o, probs[o]
		}
	}
	switch pr.Outcome {
	case matchwinner.HomeWin:
		pr.Winner = req.Home
	case matchwinner.AwayWin:
		pr.Winner = req.Away
	}
	return pr, nil
}

func (p *tablePredictor) Teams() []string {
	var t []string
	for k := range p.strength {
		t = append(t, k)
	}
	slices.Sort(t)
	return t
}

func (p *tablePredictor) WorldCupTeams() []string { return p.wc }
func (p *tablePredictor) Version() string         { return "test-0001" }

// memRecorder is a matchapp.Recorder keeping entries in memory.
type memRecorder struct {
	mu      sync.Mutex
	entries []predlog.Entry
}

func (m *memRecorder) Enqueue(e predlog.Entry) {
	m.mu.Lock()
	m.entries = append(m.entries, e)
	m.mu.Unlock()
}
func (m *memRecorder) Stats() predlog.WriterStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return predlog.WriterStats{Enqueued: int64(len(m.entries)), Written: int64(len(m.entries))}
}
func (m *memRecorder) all() []predlog.Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.entries)
}

var fixedNow = time.Date(2026, 11, 23, 20, 15, 0, 0, time.UTC)

func newApp(t *testing.T, cfg matchapp.Config) *matchapp.App {
	t.Helper()
	if cfg.Predictor == nil {
		cfg.Predictor = newTablePredictor()
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fixedNow }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a, err := matchapp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func do(t *testing.T, h http.Handler, method, target, contentType string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, body)
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func postJSON(t *testing.T, h http.Handler, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	return do(t, h, http.MethodPost, "/api/v1/matches/predict", "application/json", strings.NewReader(body), header...)
}

// metricValue reads one sample from /metrics; -1 when absent.
func metricValue(t *testing.T, h http.Handler, series string) float64 {
	t.Helper()
	w := do(t, h, http.MethodGet, "/metrics", "", nil)
	for line := range strings.SplitSeq(w.Body.String(), "\n") {
		if name, v, ok := strings.Cut(line, " "); ok && name == series {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return -1
}

func TestPredictAPI(t *testing.T) {
	rec := &memRecorder{}
	app := newApp(t, matchapp.Config{Recorder: rec})
	w := postJSON(t, app, `{"home":"Argentina","away":"Japan","neutral":true,"as_of":"2022-11-20","client_time":"2026-11-23T21:14:59+01:00"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var got struct {
		Home, Away, Outcome, Winner, Variant string
		ModelVersion                         string `json:"model_version"`
		AsOf                                 string `json:"as_of"`
		Probability                          float64
		Probabilities                        map[string]float64
		ServerTime                           time.Time `json:"server_time"`
	}
	dec := json.NewDecoder(w.Body)
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Outcome != "home_win" || got.Winner != "Argentina" || got.Home != "Argentina" || got.Away != "Japan" ||
		len(got.Probabilities) != 3 || got.Probability <= 0.5 || !got.ServerTime.Equal(fixedNow) ||
		got.ModelVersion != "test-0001" || got.AsOf != "2022-11-20" {
		t.Errorf("response %+v", got)
	}
	if w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", w.Header().Get("Content-Type"))
	}
	es := rec.all()
	if len(es) != 1 {
		t.Fatalf("%d log entries, want 1", len(es))
	}
	e := es[0]
	if e.Home != "Argentina" || e.Away != "Japan" || !e.Neutral || e.Outcome != matchwinner.HomeWin || e.Winner != "Argentina" ||
		e.ModelVersion != "test-0001" || e.Variant != "3class" || len(e.Probabilities) != 3 || e.Features["strength_diff"] != 1.5 ||
		e.AsOf.Format(time.DateOnly) != "2022-11-20" || !e.ServerTime.Equal(fixedNow) ||
		!e.ClientTime.Equal(time.Date(2026, 11, 23, 20, 14, 59, 0, time.UTC)) {
		t.Errorf("log entry %+v", e)
	}

	// Draws are draws; neutral defaults to true; the client time may come in a header.
	w = postJSON(t, app, `{"home":"Argentina","away":"France"}`, matchapp.ClientTimeHeader, "2026-11-23T20:00:00Z")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"outcome":"draw"`) || strings.Contains(w.Body.String(), `"winner"`) {
		t.Errorf("draw: %d %s", w.Code, w.Body)
	}
	if e := rec.all()[1]; !e.Neutral || e.ClientTime.IsZero() {
		t.Errorf("defaults: %+v", e)
	}
	if v := metricValue(t, app, `datalab_match_predictions_total{outcome="draw"}`); v != 1 {
		t.Errorf("draw predictions metric = %v", v)
	}
	if v := metricValue(t, app, `datalab_http_requests_total{app="matches",code="200",handler="predict_api",method="post"}`); v != 2 {
		t.Errorf("requests metric = %v", v)
	}
	if v := metricValue(t, app, `datalab_http_request_duration_seconds_count{app="matches",handler="predict_api"}`); v != 2 {
		t.Errorf("latency histogram count = %v", v)
	}
}

func TestPredictAPIBadInput(t *testing.T) {
	rec := &memRecorder{}
	app := newApp(t, matchapp.Config{Recorder: rec})
	huge := `{"home":"` + strings.Repeat("A", 1<<20) + `","away":"France"}`
	for _, c := range []struct {
		name, method, contentType, body string
		status                          int
		msg                             string
	}{
		{"unknown team", "POST", "application/json", `{"home":"Atlantis","away":"France"}`, 400, `unknown team: \"Atlantis\"; GET /api/v1/matches/teams lists the 7 teams`},
		{"unknown away team", "POST", "application/json", `{"home":"France","away":"Narnia"}`, 400, `unknown team: \"Narnia\"`},
		{"wrong case", "POST", "application/json", `{"home":"argentina","away":"France"}`, 400, `did you mean \"Argentina\"?`},
		{"same team", "POST", "application/json", `{"home":"France","away":" France "}`, 422, `same team (\"France\"): pick two different teams`},
		{"empty fields", "POST", "application/json", `{"home":"","away":"  "}`, 400, "home and away teams are required"},
		{"missing away", "POST", "application/json", `{"home":"France"}`, 400, "the away team is required"},
		{"empty body", "POST", "application/json", ``, 400, "empty body"},
		{"1 MB body", "POST", "application/json", huge, 413, "request body over 65536 bytes"},
		{"malformed JSON", "POST", "application/json", `{"home":"France",`, 400, "malformed JSON"},
		{"not JSON", "POST", "application/json", `home=France`, 400, "malformed JSON at byte 1"},
		{"unknown field", "POST", "application/json", `{"home":"France","away":"Japan","venue":"Doha"}`, 400, `unknown field \"venue\"`},
		{"two objects", "POST", "application/json", `{"home":"France","away":"Japan"}{}`, 400, "a single JSON object"},
		{"wrong type", "POST", "application/json", `{"home":"France","away":"Japan","neutral":"yes"}`, 400, `field \"neutral\" must be a JSON bool`},
		{"bad as_of", "POST", "application/json", `{"home":"France","away":"Japan","as_of":"20/11/2022"}`, 400, "use YYYY-MM-DD"},
		{"bad client_time", "POST", "application/json", `{"home":"France","away":"Japan","client_time":"yesterday"}`, 400, "RFC 3339"},
		{"GET", "GET", "", ``, 405, "use POST"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := do(t, app, c.method, "/api/v1/matches/predict", c.contentType, strings.NewReader(c.body))
			if w.Code != c.status {
				t.Errorf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			var e map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || len(e) != 1 {
				t.Fatalf("error body %q is not {\"error\": ...}: %v", w.Body, err)
			}
			if want := strings.ReplaceAll(c.msg, `\"`, `"`); !strings.Contains(e["error"], want) {
				t.Errorf("error %q does not say %q", e["error"], want)
			}
		})
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d predictions logged for bad requests", n)
	}
	if v := metricValue(t, app, `datalab_match_predictions_total{outcome="home_win"}`); v > 0 {
		t.Errorf("predictions counted for bad requests: %v", v)
	}
}

func TestTeamsAndHealth(t *testing.T) {
	app := newApp(t, matchapp.Config{Recorder: &memRecorder{}})
	w := do(t, app, "GET", "/api/v1/matches/teams", "", nil)
	var teams struct {
		Teams        []string `json:"teams"`
		WorldCup2022 []string `json:"world_cup_2022"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &teams); err != nil || len(teams.Teams) != 7 || len(teams.WorldCup2022) != 5 {
		t.Errorf("teams: %v %s", err, w.Body)
	}
	w = do(t, app, "GET", "/healthz", "", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"model_version":"test-0001"`) || !strings.Contains(w.Body.String(), `"prediction_log"`) {
		t.Errorf("healthz: %d %s", w.Code, w.Body)
	}
}

func TestFormPages(t *testing.T) {
	rec := &memRecorder{}
	app := newApp(t, matchapp.Config{Recorder: rec})
	w := do(t, app, "GET", "/", "", nil)
	page := w.Body.String()
	for _, want := range []string{`<label for="home">`, `<label for="away">`, `<datalist id="wc-teams">`, `<option value="Japan">`, "any of the 7 teams"} {
		if !strings.Contains(page, want) {
			t.Errorf("home page lacks %q", want)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	form := func(v url.Values) *httptest.ResponseRecorder {
		return do(t, app, "POST", "/predict", "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
	}
	w = form(url.Values{"home": {"Argentina"}, "away": {"France"}, "neutral": {"1"}})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `<p class="verdict" id="verdict">Draw</p>`) ||
		!strings.Contains(w.Body.String(), "Probability: 40%") || !strings.Contains(w.Body.String(), "Argentina wins") {
		t.Errorf("draw result page: %d\n%s", w.Code, w.Body)
	}
	// Hostile names: predicted, logged verbatim, shown escaped.
	w = form(url.Values{"home": {quotedTeam}, "away": {scriptTeam}})
	body := w.Body.String()
	if w.Code != 200 || strings.Contains(body, scriptTeam) || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt; wins") &&
		!strings.Contains(body, "Côte d&#39;Ivoire &#34;B&#34; wins") {
		t.Errorf("hostile names result page: %d\n%s", w.Code, body)
	}
	es := rec.all()
	if len(es) != 2 || es[1].Home != quotedTeam || es[1].Away != scriptTeam || es[1].Neutral {
		t.Errorf("logged %+v", es)
	}
	// Errors re-show the form with the message and the typed values, escaped.
	w = form(url.Values{"home": {`"><b>x`}, "away": {"France"}})
	if w.Code != 400 || !strings.Contains(w.Body.String(), `role="alert"`) || strings.Contains(w.Body.String(), "<b>x") ||
		!strings.Contains(w.Body.String(), `value="&#34;&gt;&lt;b&gt;x"`) {
		t.Errorf("error page: %d\n%s", w.Code, w.Body)
	}
	w = form(url.Values{"home": {"France"}, "away": {"France"}})
	if w.Code != 422 {
		t.Errorf("same team via form: %d", w.Code)
	}
	w = do(t, app, "POST", "/predict", "application/x-www-form-urlencoded", strings.NewReader("home="+strings.Repeat("a", 1<<20)))
	if w.Code != 413 {
		t.Errorf("1 MB form: %d", w.Code)
	}
	if len(rec.all()) != 2 {
		t.Errorf("bad form submissions were logged: %d entries", len(rec.all()))
	}
}

func TestRequestLogHasNoUserInput(t *testing.T) {
	var buf bytes.Buffer
	app := newApp(t, matchapp.Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	postJSON(t, app, `{"home":"Argentina","away":"Japan"}`)
	line := buf.String()
	if !regexp.MustCompile(`msg=request method=POST path=/api/v1/matches/predict status=200 duration=\S+`).MatchString(line) {
		t.Errorf("request log line %q", line)
	}
	if strings.Contains(line, "Japan") {
		t.Errorf("request log carries the body: %q", line)
	}
}

// BenchmarkHandlerOverhead is the app's own cost per JSON prediction (decode,
// validate, log entry, metrics, request log, encode) around a trivial
// predictor, with an in-memory recorder.
func BenchmarkHandlerOverhead(b *testing.B) {
	app, err := matchapp.New(matchapp.Config{Predictor: newTablePredictor(), Recorder: &discardRecorder{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"home":"Argentina","away":"France","neutral":true}`)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/api/v1/matches/predict", bytes.NewReader(body))
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

type discardRecorder struct{}

func (discardRecorder) Enqueue(predlog.Entry)      {}
func (discardRecorder) Stats() predlog.WriterStats { return predlog.WriterStats{} }
