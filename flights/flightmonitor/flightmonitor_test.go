package flightmonitor_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightfeat"
	"github.com/datalabhq/datalab/flights/flightmonitor"
	"github.com/datalabhq/datalab/flights/flightmonitor/flightmonitortest"
	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/flights/flightstore/sqlstore"
	"github.com/datalabhq/datalab/flights/flightstore/storetest"
	"github.com/datalabhq/datalab/pipeline/drift"
	"github.com/datalabhq/datalab/pipeline/monitor"
	"github.com/datalabhq/datalab/pipeline/registry"
)

func TestMain(m *testing.M) {
	code := m.Run()
	flightmonitortest.Cleanup()
	os.Exit(code)
}

// TestColumns: the current sample's fields are read in the order of
// flightfeat's raw columns, which name both samples' columns.
func TestColumns(t *testing.T) {
	want := []string{flightfeat.ColDepDelay, flightfeat.ColDistance, flightfeat.ColDayOfMonth, flightfeat.ColDayOfWeek, flightfeat.ColDayOfYear}
	if !slices.Equal(flightmonitor.NumericColumns, want) {
		t.Errorf("numeric columns %v, want %v (CurrentSample reads them in that order)", flightmonitor.NumericColumns, want)
	}
	if want := []string{flightfeat.ColCarrier, flightfeat.ColOrigin, flightfeat.ColDest, flightfeat.ColRoute}; !slices.Equal(flightmonitor.CategoricalColumns, want) {
		t.Errorf("categorical columns %v, want %v", flightmonitor.CategoricalColumns, want)
	}
}

// TestStride: at most n rows, evenly spread, first row kept.
func TestStride(t *testing.T) {
	rows := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	if got := flightmonitor.Stride(rows, 20); !slices.Equal(got, rows) {
		t.Errorf("Stride(10 rows, 20) = %v", got)
	}
	if got := flightmonitor.Stride(rows, 4); !slices.Equal(got, []int{0, 2, 5, 7}) {
		t.Errorf("Stride(10 rows, 4) = %v", got)
	}
}

// TestSplitFromLineage: a version's lineage params give the split; the
// configuration's otherwise.
func TestSplitFromLineage(t *testing.T) {
	s := &flightmonitor.Source{}
	s.Config.TestFraction, s.Config.SplitSeed = 0.2, 2008
	if f, seed := s.Split(nil); f != 0.2 || seed != 2008 {
		t.Errorf("local model: %v %v", f, seed)
	}
	v := &registry.Version{Lineage: registry.Lineage{Params: map[string]any{"flights.test_fraction": 0.3, "flights.split_seed": float64(7)}}}
	if f, seed := s.Split(v); f != 0.3 || seed != 7 {
		t.Errorf("from the lineage: %v %v", f, seed)
	}
}

// TestMonitorTraffic: predictions of requests drawn from the training
// split are not flagged; the same with DepDelay 45 minutes later are
// flagged on DepDelay and nothing else; an unknown airport shows as
// unseen on Origin and Route.
func TestMonitorTraffic(t *testing.T) {
	fix := flightmonitortest.Train(t)
	ctx := context.Background()
	clock := storetest.NewClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "flights.sqlite"), sqlstore.WithPolicy(flightstore.Policy{AcceptUnissued: true, Now: clock.Now, CleanupEvery: -1}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	name := fix.Scorer.Name()
	store := func(docs []flightdelay.Prediction) {
		t.Helper()
		for start := 0; start < len(docs); start += 500 {
			if err := st.Upsert(ctx, docs[start:min(start+500, len(docs))]...); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
		}
	}
	day1 := clock.Now()
	store(flightmonitortest.Traffic(t, fix, fix.Scorer, name, 5000, 1, nil))
	clock.Set(day1.Add(24 * time.Hour))
	store(flightmonitortest.Traffic(t, fix, fix.Scorer, name, 5000, 2, func(p *flightdelay.Prediction) { p.DepDelay += 45 }))
	clock.Set(day1.Add(48 * time.Hour))
	store(flightmonitortest.Traffic(t, fix, fix.Scorer, name, 2000, 3, func(p *flightdelay.Prediction) {
		if p.DayOfMonth%2 == 0 {
			p.Origin = "XYZ"
			p.Route = flightfeat.Route(p.Origin, p.Dest)
		}
	}))

	src := &flightmonitor.Source{Store: st, Config: fix.Config}
	run := func(from time.Time) *monitor.Report {
		t.Helper()
		rep, err := monitor.Run(ctx, src, monitor.Config{Model: flightmonitor.Model, LocalModel: fix.ModelDir,
			Window: monitor.Window{Since: from, Until: from.Add(24 * time.Hour)}})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	flagged := func(rep *monitor.Report) (out []string) {
		for _, f := range append(rep.Result.Features, *rep.Result.Prediction) {
			if f.Status != drift.StatusOK {
				out = append(out, f.Name+" "+string(f.Status))
			}
		}
		return out
	}
	rep := run(day1)
	t.Logf("drawn from the training split: %s; max PSI %.4f", rep.Result.Summary(), rep.Result.MaxPSI())
	if rep.Result.Verdict != drift.StatusOK || rep.Result.CurrentRows != 5000 || rep.Target.Version != name {
		t.Errorf("traffic drawn from the training split: %s (version %s)", rep.Result.Summary(), rep.Target.Version)
	}
	rep = run(day1.Add(24 * time.Hour))
	t.Logf("DepDelay shifted: %s; max PSI %.4f", rep.Result.Summary(), rep.Result.MaxPSI())
	if got := flagged(rep); !slices.Equal(got, []string{"DepDelay drift"}) {
		t.Errorf("DepDelay shifted: flagged %v, want DepDelay only", got)
	}
	rep = run(day1.Add(48 * time.Hour))
	t.Logf("unknown airport: %s", rep.Result.Summary())
	if got := flagged(rep); !slices.Equal(got, []string{"Origin drift", "Route drift"}) {
		t.Errorf("unknown airport XYZ: flagged %v, want Origin and Route", got)
	}
	for _, f := range rep.Result.Features {
		if f.Name == "Origin" && (f.UnseenShare < 0.3 || len(f.Unseen) == 0 || f.Unseen[0].Category != "XYZ") {
			t.Errorf("Origin: unseen share %v, unseen %v", f.UnseenShare, f.Unseen)
		}
	}
	if !slices.ContainsFunc(rep.About(), func(s string) bool { return strings.Contains(s, "trained on it") }) {
		t.Errorf("the report does not say the model was trained on the split: %v", rep.About())
	}
}
