package matchmonitor_test

import (
	"context"
	"math"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/datalabhq/datalab/matches/matchmonitor"
	"github.com/datalabhq/datalab/matches/matchmonitor/matchmonitortest"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/matches/predlog/predlogtest"
	"github.com/datalabhq/datalab/pipeline/drift"
	"github.com/datalabhq/datalab/pipeline/monitor"
	"github.com/datalabhq/datalab/pipeline/sqldb"
)

func TestMain(m *testing.M) {
	code := m.Run()
	matchmonitortest.Cleanup()
	os.Exit(code)
}

// TestReferenceSample: the reference is the model's training matches, as
// many as its manifest says, with its numeric inputs, the teams and its
// predicted outcomes; a features table of other data is refused.
func TestReferenceSample(t *testing.T) {
	fix := matchmonitortest.Train(t)
	m := fix.Model
	s := &matchmonitor.Source{Features: fix.Features}
	ref, text, err := s.Reference(context.Background(), m, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	man := m.Manifest()
	want := append(matchmonitor.NumericColumns(m), matchmonitor.HomeTeam, matchmonitor.AwayTeam)
	var names []string
	for _, c := range ref.Columns {
		names = append(names, c.Name)
		if c.Len() != man.TrainRows {
			t.Errorf("column %s has %d rows, want the %d training matches", c.Name, c.Len(), man.TrainRows)
		}
	}
	if !slices.Equal(names, want) {
		t.Errorf("columns %v, want %v", names, want)
	}
	if len(ref.Predicted) != man.TrainRows || slices.Contains(ref.Predicted, "") {
		t.Errorf("%d predicted outcomes (some empty: %v), want %d", len(ref.Predicted), slices.Contains(ref.Predicted, ""), man.TrainRows)
	}
	classes := map[string]int{}
	for _, p := range ref.Predicted {
		classes[p]++
	}
	if len(classes) < 2 {
		t.Errorf("predicted outcomes %v: the model predicts one class only", classes)
	}
	if text == "" {
		t.Error("no description of the reference")
	}
	// The training matches' inputs are what a request for the match as of
	// its date gets: the logged features of Traffic.
	e := matchmonitortest.Traffic(t, m, fix.Training[:1], "v", 1, 1, time.Now(), time.Second, nil)[0]
	r0 := fix.Training[0]
	for _, c := range ref.Columns[:len(ref.Columns)-2] {
		logged, ok := e.Features[c.Name]
		if !ok {
			logged = math.NaN()
		}
		if got := c.Numeric[0]; !(got == logged || math.IsNaN(got) && math.IsNaN(logged)) {
			t.Errorf("first training match %s %s vs %s: %s is %v in the reference, %v as a request's", r0.Date, r0.HomeTeam, r0.AwayTeam, c.Name, got, logged)
		}
	}
	// Other data: fewer rows in the training dates than the manifest's.
	if _, err := matchmonitor.ReferenceSample(m, fix.Training[1:]); err == nil {
		t.Error("a features table missing a training match was accepted")
	}
}

// TestMonitorTraffic: requests drawn from the training matches are not
// flagged; requests whose logged elo_diff is shifted by 150 Elo points are
// flagged on elo_diff and nothing else; a window without requests is too
// few rows to judge.
func TestMonitorTraffic(t *testing.T) {
	fix := matchmonitortest.Train(t)
	m := fix.Model
	l := predlogtest.OpenFresh(t, sqldb.SQLite)
	ctx := context.Background()
	day := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	version := m.Version()
	clean := matchmonitortest.Traffic(t, m, fix.Training, version, 5000, 1, day, 24*time.Hour, nil)
	shifted := matchmonitortest.Traffic(t, m, fix.Training, version, 5000, 2, day.Add(24*time.Hour), 24*time.Hour, func(e *predlog.Entry) {
		e.Features["elo_diff"] += 150
	})
	if err := l.Insert(ctx, append(clean, shifted...)); err != nil {
		t.Fatal(err)
	}
	src := &matchmonitor.Source{Log: l, Features: fix.Features}
	run := func(w monitor.Window) *monitor.Report {
		t.Helper()
		rep, err := monitor.Run(ctx, src, monitor.Config{Model: matchmonitor.Model, LocalModel: fix.ModelDir, Window: w})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	rep := run(monitor.Window{Since: day, Until: day.Add(24 * time.Hour)})
	if rep.Result.Verdict != drift.StatusOK || rep.Result.CurrentRows != 5000 || rep.Target.Version != version {
		t.Errorf("traffic drawn from the training data: %s (version %s, max PSI %.4f)", rep.Result.Summary(), rep.Target.Version, rep.Result.MaxPSI())
	}
	t.Logf("drawn from the training data: %s; max PSI %.4f", rep.Result.Summary(), rep.Result.MaxPSI())
	rep = run(monitor.Window{Since: day.Add(24 * time.Hour), Until: day.Add(48 * time.Hour)})
	t.Logf("elo_diff shifted: %s; max PSI %.4f", rep.Result.Summary(), rep.Result.MaxPSI())
	if rep.Result.Verdict != drift.StatusDrift {
		t.Fatalf("shifted traffic: %s", rep.Result.Summary())
	}
	for _, f := range append(rep.Result.Features, *rep.Result.Prediction) {
		if want := f.Name == "elo_diff"; (f.Status == drift.StatusDrift) != want || !want && f.Status != drift.StatusOK {
			t.Errorf("shifted elo_diff: %s is %s (PSI %.4f)", f.Name, f.Status, f.PSI)
		}
	}
	if rep = run(monitor.Window{Since: day.Add(-time.Hour), Until: day}); rep.Result.Verdict != drift.StatusTooFewRows || rep.Target.Version != version {
		t.Errorf("empty window: %s, version %q", rep.Result.Summary(), rep.Target.Version)
	}
}

// TestCurrentSampleTeams: logged team names are read in the training
// spelling (an alias such as "Iran" is IR Iran), a name the model never
// saw stays as it is and counts as unseen; a feature the log left out is
// missing.
func TestCurrentSampleTeams(t *testing.T) {
	fix := matchmonitortest.Train(t)
	m := fix.Model
	l := predlogtest.OpenFresh(t, sqldb.SQLite)
	ctx := context.Background()
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	es := matchmonitortest.Traffic(t, m, fix.Training, "v", 2, 3, at, time.Second, nil)
	es[0].Home, es[1].Away = "Iran", "Atlantis"
	delete(es[1].Features, "elo_diff")
	if err := l.Insert(ctx, es); err != nil {
		t.Fatal(err)
	}
	s, err := matchmonitor.CurrentSample(ctx, l, predlog.Window{ModelVersion: "v"}, m, 0)
	if err != nil {
		t.Fatal(err)
	}
	col := func(name string) drift.Column {
		for _, c := range s.Columns {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no column %s", name)
		return drift.Column{}
	}
	if got := col(matchmonitor.HomeTeam).Category[0]; got != "IR Iran" {
		t.Errorf("home team Iran read as %q, want IR Iran", got)
	}
	if got := col(matchmonitor.AwayTeam).Category[1]; got != "Atlantis" {
		t.Errorf("unknown away team read as %q", got)
	}
	if got := col("elo_diff").Numeric; !math.IsNaN(got[1]) || math.IsNaN(got[0]) {
		t.Errorf("elo_diff %v, want a value then missing", got)
	}
	if len(s.Predicted) != 2 || s.Predicted[0] != string(es[0].Outcome) {
		t.Errorf("predicted %v", s.Predicted)
	}
}
