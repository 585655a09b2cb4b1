package matchapp_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testwait"
	"github.com/datalabhq/datalab/matches/matchapp"
	"github.com/datalabhq/datalab/matches/matchmonitor"
	"github.com/datalabhq/datalab/matches/matchmonitor/matchmonitortest"
	"github.com/datalabhq/datalab/matches/predlog/predlogtest"
	"github.com/datalabhq/datalab/pipeline/drift"
	"github.com/datalabhq/datalab/pipeline/monitor"
	"github.com/datalabhq/datalab/pipeline/sqldb"
)

// driftReport is a report of a comparison where feature x drifted.
func driftReport(t *testing.T) *monitor.Report {
	t.Helper()
	n := 2000
	ref, cur := make([]float64, n), make([]float64, n)
	for i := range ref {
		ref[i], cur[i] = float64(i), float64(i+n/2)
	}
	res, err := drift.Compare(drift.Sample{Columns: []drift.Column{drift.NumericColumn("x", ref)}},
		drift.Sample{Columns: []drift.Column{drift.NumericColumn("x", cur)}}, drift.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &monitor.Report{Target: monitor.Target{Model: "matches", Version: "v1", Rows: int64(n)}, Result: res,
		Window: monitor.Last(24*time.Hour, fixedNow)}
}

// TestDriftPanel: the dashboard shows the panel as of its last
// computation, which happens in the background and never per page view;
// a failed check is shown, escaped, beside the last good panel.
func TestDriftPanel(t *testing.T) {
	l := predlogtest.OpenFresh(t, sqldb.SQLite)
	var calls atomic.Int64
	fail := atomic.Bool{}
	panel := matchapp.NewDriftPanel(func(ctx context.Context) (*monitor.Report, error) {
		calls.Add(1)
		if fail.Load() {
			return nil, errors.New(`the log <b>is</b> down`)
		}
		return driftReport(t), nil
	}, time.Hour, nil)
	app := newApp(t, matchapp.Config{Usage: l, Drift: panel})
	page := func() string {
		t.Helper()
		r := do(t, app, "GET", "/dashboard", "", nil)
		if r.Code != 200 {
			t.Fatalf("dashboard: %d %s", r.Code, r.Body)
		}
		return r.Body.String()
	}
	if p := page(); !strings.Contains(p, `<section id="drift">`) || !strings.Contains(p, "Not computed yet") || calls.Load() != 0 {
		t.Errorf("before the first computation (%d checks):\n%s", calls.Load(), p)
	}
	panel.Update(context.Background())
	for range 5 {
		page()
	}
	p := page()
	for _, want := range []string{`<section id="drift">`, "<h2 id=\"s1\">Drift against the reference</h2>", "<p>Verdict: drift.", "drift in x",
		"<p>Model matches, version v1: 2000 requests served in", "<caption>Features: 2000 reference rows, 2000 current rows</caption>",
		"<tr><td>x</td><td>numeric</td><td>drift</td>", "<caption>Bins of x", "every 1h0m0s"} {
		if !strings.Contains(p, want) {
			t.Errorf("the panel lacks %q", want)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("%d checks after one update and six page views: the page must not compute the panel", calls.Load())
	}
	if i, j := strings.Index(p, `<section id="drift">`), strings.Index(p, `<table id="top-teams">`); i < 0 || j < i {
		t.Error("the panel is not before the usage tables")
	}
	fail.Store(true)
	panel.Update(context.Background())
	p = page()
	if !strings.Contains(p, `The drift check failed at `) || !strings.Contains(p, "the log &lt;b&gt;is&lt;/b&gt; down") || !strings.Contains(p, "<p>Verdict: drift.") {
		t.Errorf("after a failed check the page shows the error (escaped) and the last panel:\n%s", p)
	}
	if strings.Contains(p, "<b>is</b>") {
		t.Error("the error is not escaped")
	}

	// Run computes in the background, now and every interval.
	calls.Store(0)
	fail.Store(false)
	bg := matchapp.NewDriftPanel(func(context.Context) (*monitor.Report, error) { calls.Add(1); return driftReport(t), nil }, 20*time.Millisecond, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); bg.Run(ctx) }()
	testwait.Until(t, 5*time.Second, 5*time.Millisecond, "three background checks at a 20 ms interval", func() bool { return calls.Load() >= 3 })
	cancel()
	<-done
	if !strings.Contains(string(bg.HTML()), "Verdict: drift.") {
		t.Error("the background panel shows no verdict")
	}
}

// TestDriftPanelServedModel: the panel of a served match model (the
// variant datalab.yaml serves, trained on the mirrored data) over the
// requests it logged, drawn from its training matches: verdict ok, a row
// per model input, the teams and the predicted class.
func TestDriftPanelServedModel(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	fix := matchmonitortest.Train(t)
	// The only test of the package on the fixture: its files go with it.
	t.Cleanup(matchmonitortest.Cleanup)
	l := predlogtest.OpenFresh(t, sqldb.SQLite)
	now := time.Now()
	if err := l.Insert(context.Background(), matchmonitortest.Traffic(t, fix.Model, fix.Training, fix.Model.Version(), 2000, 1, now.Add(-2*time.Hour), time.Hour, nil)); err != nil {
		t.Fatal(err)
	}
	w := &matchmonitor.Watch{Source: &matchmonitor.Source{Log: l, Features: fix.Features}, Window: 24 * time.Hour}
	panel := matchapp.NewDriftPanel(func(ctx context.Context) (*monitor.Report, error) {
		return w.Check(ctx, fix.Model.Version(), fix.Model)
	}, time.Hour, nil)
	panel.Update(context.Background())
	app := newApp(t, matchapp.Config{Usage: l, Drift: panel, Predictor: fix.Model})
	p := do(t, app, "GET", "/dashboard", "", nil).Body.String()
	for _, want := range []string{"<p>Verdict: ok. 2000 current rows against", "version " + fix.Model.Version() + ": 2000 requests served",
		"<tr><td>elo_diff</td><td>numeric</td><td>ok</td>", "<tr><td>home_team</td><td>categorical</td><td>ok</td>",
		"<tr><td>predicted class</td><td>categorical</td><td>ok</td>", "not checked against the version&#39;s lineage here"} {
		if !strings.Contains(p, want) {
			t.Errorf("the dashboard lacks %q", want)
		}
	}
	// A predictor that is not a match model: said in the panel.
	if _, err := w.Check(context.Background(), "x", newTablePredictor()); err == nil || !strings.Contains(err.Error(), "not a datalab match model") {
		t.Errorf("table predictor: %v", err)
	}
}
