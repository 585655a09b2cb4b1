package matchapp_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gopkg.in/yaml.v3"

	"github.com/datalabhq/datalab/internal/browsertest"
	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/internal/testwait"
	"github.com/datalabhq/datalab/matches/matchapp"
	"github.com/datalabhq/datalab/matches/matchapp/swaptest"
	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/matches/predlog/predlogtest"
	"github.com/datalabhq/datalab/pipeline/sqldb"
)

// committedConfig is params.matches of the repository's datalab.yaml.
func committedConfig(t testing.TB) matchmodel.Config {
	t.Helper()
	var doc struct {
		Params struct {
			Matches matchmodel.Config `yaml:"matches"`
		} `yaml:"params"`
	}
	b, err := os.ReadFile(filepath.Join(testmirror.RepoRoot(), "datalab.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if err := doc.Params.Matches.Validate(); err != nil {
		t.Fatal(err)
	}
	return doc.Params.Matches
}

// trainServedModel trains the variant datalab.yaml serves (params.matches.
// serve_variant) from the mirrored data into a temporary directory, as the
// pipeline's ingest → features → train stages do, and loads it.
func trainServedModel(t testing.TB) *matchmodel.Model {
	t.Helper()
	m, err := matchmodel.Load(swaptest.Train(t, committedConfig(t))[0])
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBrowserPredictLogDashboard: a person picks two teams in Chromium,
// submits, sees the outcome and its probability; the prediction lands in the
// log and on the dashboard.
func TestBrowserPredictLogDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model and drives a browser")
	}
	model := trainServedModel(t)
	l := predlogtest.OpenFresh(t, sqldb.SQLite)
	w := predlog.NewWriter(l, predlog.WriterOptions{})
	defer w.Close(context.Background())
	app := newApp(t, matchapp.Config{Predictor: model, Recorder: w, Usage: l, Now: time.Now})
	srv := httptest.NewServer(app)
	defer srv.Close()

	b := browsertest.New(t, 60*time.Second)
	b.Do(t, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#home"))
	if n := browsertest.Get(t, b, chromedp.Evaluate[int](`document.querySelectorAll("#wc-teams option").length`)); n != 32 {
		t.Errorf("team picker offers %d teams, want the 32 of the 2022 World Cup", n)
	}
	b.Do(t,
		chromedp.SetValue("#home", "Argentina"),
		chromedp.SetValue("#away", "Saudi Arabia"),
		chromedp.Click("#submit"),
		chromedp.WaitVisible("#verdict"),
	)
	verdict := browsertest.Get(t, b, chromedp.Text("#verdict"))
	prob := browsertest.Get(t, b, chromedp.Text("#probability"))
	rows := browsertest.Get(t, b, chromedp.Text("#probabilities tbody"))
	b.Screenshot(t, filepath.Join(t.TempDir(), "result.png"))
	want, err := model.Predict(context.Background(), matchRequest("Argentina", "Saudi Arabia"))
	if err != nil {
		t.Fatal(err)
	}
	wantVerdict := map[string]string{"home_win": "Argentina wins", "away_win": "Saudi Arabia wins", "draw": "Draw", "not_home_win": "Argentina does not win (draw or Saudi Arabia wins)"}[string(want.Outcome)]
	if verdict != wantVerdict {
		t.Errorf("verdict %q, want %q", verdict, wantVerdict)
	}
	if wantProb := "Probability: " + pct(want.Probability) + "%"; prob != wantProb {
		t.Errorf("%q, want %q", prob, wantProb)
	}
	if strings.Count(rows, "%") != len(want.Probabilities) {
		t.Errorf("probability table %q does not list all %d outcomes", rows, len(want.Probabilities))
	}

	testwait.Until(t, 20*time.Second, 10*time.Millisecond, "the prediction to be written to the log", func() bool { return w.Stats().Written == 1 })
	es, err := l.Recent(context.Background(), 5)
	if err != nil || len(es) != 1 {
		t.Fatalf("log: %v %+v", err, es)
	}
	if e := es[0]; e.Home != "Argentina" || e.Away != "Saudi Arabia" || !e.Neutral || e.Outcome != want.Outcome ||
		e.ModelVersion != model.Version() || len(e.Features) == 0 {
		t.Errorf("logged %+v", e)
	}

	b.Do(t, chromedp.Navigate(srv.URL+"/dashboard"), chromedp.WaitVisible("#recent"))
	recent := browsertest.Get(t, b, chromedp.Text("#recent tbody"))
	if !strings.Contains(recent, "Argentina") || !strings.Contains(recent, "Saudi Arabia") || !strings.Contains(recent, wantVerdict) {
		t.Errorf("dashboard latest predictions: %q", recent)
	}
	if n := browsertest.Get(t, b, chromedp.Evaluate[int](`document.querySelectorAll("figure svg").length`)); n != 5 {
		t.Errorf("dashboard shows %d charts, want 5", n)
	}
	b.Screenshot(t, filepath.Join(t.TempDir(), "dashboard.png"))
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

func matchRequest(home, away string) matchwinner.Request {
	return matchwinner.Request{Home: home, Away: away, Neutral: true}
}

func pct(p float64) string { return strconv.FormatFloat(100*p, 'f', 0, 64) }

// servedModel is trainServedModel's model, trained once for the
// benchmarks (a benchmark function runs several times).
var servedModel struct {
	once sync.Once
	m    *matchmodel.Model
}

// BenchmarkPredictAPI is the handler's cost per request without the
// network: the served variant, a SQLite prediction log written as datalab
// serve writes it (100 ms flush interval), request logging on (to
// io.Discard), the 32×31 World Cup pairs in turn as bench/matchapp sends
// them. Every prediction must reach the log.
func BenchmarkPredictAPI(b *testing.B) {
	servedModel.once.Do(func() { servedModel.m = trainServedModel(b) })
	model := servedModel.m
	if model == nil {
		b.Fatal("the served model did not train")
	}
	l := predlogtest.OpenFresh(b, sqldb.SQLite)
	w := predlog.NewWriter(l, predlog.WriterOptions{FlushInterval: 100 * time.Millisecond, Capacity: 1 << 20})
	app, err := matchapp.New(matchapp.Config{Predictor: model, Recorder: w, Usage: l,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	var bodies [][]byte
	for _, h := range model.WorldCupTeams() {
		for _, a := range model.WorldCupTeams() {
			if h != a {
				bodies = append(bodies, []byte(`{"home":"`+h+`","away":"`+a+`","neutral":true}`))
			}
		}
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := bodies[int(next.Add(1))%len(bodies)]
			r := httptest.NewRequest("POST", "/api/v1/matches/predict", bytes.NewReader(body))
			rec := httptest.NewRecorder()
			app.ServeHTTP(rec, r)
			if rec.Code != 200 {
				b.Fatal(rec.Code, rec.Body)
			}
		}
	})
	// The log's work is part of the cost: wait for it.
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if s := w.Stats(); s.Written != int64(b.N) || s.Dropped != 0 {
		b.Fatalf("%d requests, %d logged, %d dropped", b.N, s.Written, s.Dropped)
	}
}
