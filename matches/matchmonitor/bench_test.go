package matchmonitor_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/datalabhq/datalab/matches/matchmonitor"
	"github.com/datalabhq/datalab/matches/matchmonitor/matchmonitortest"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/pipeline/monitor"
)

// benchRows is the size of the benchmark's log: a million predictions of
// the served model in one day.
const benchRows = 1_000_000

var benchLog struct {
	once sync.Once
	dir  string
	err  error
}

// fillBenchLog writes benchRows predictions drawn from the training
// matches into a SQLite log in dir, served over one day before until: a
// pool of 20,000 through Log.Insert (as the app's writer logs them), then
// copied by SQL with later server times (Insert would take ~20 s a
// million).
func fillBenchLog(b testing.TB, dir string, until time.Time) error {
	fix := matchmonitortest.Train(b)
	const pool = 20_000
	from := until.Add(-24 * time.Hour)
	step := 24 * time.Hour / benchRows
	l, err := predlog.Open(context.Background(), filepath.Join(dir, "predictions.sqlite"))
	if err != nil {
		return err
	}
	defer l.Close()
	entries := matchmonitortest.Traffic(b, fix.Model, fix.Training, fix.Model.Version(), pool, 1, from, pool*step, nil)
	if err := l.Insert(context.Background(), entries); err != nil {
		return err
	}
	// Copy k = 1…49: row id i of the pool becomes the row at from + (k·pool + i − 1)·step.
	cols := "home, away, neutral, as_of, outcome, winner, probability, probabilities, features, model_version, variant, client_time"
	q := fmt.Sprintf(`WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < %d)
		INSERT INTO %s (%s, server_time, server_day, server_hour)
		SELECT %s, strftime('%%Y-%%m-%%d %%H:%%M:%%f', %f + (n * %d + id - 1) * %f, 'unixepoch') || '+00:00', '', 0 FROM %s, k`,
		benchRows/pool-1, l.Table(), cols, cols, float64(from.UnixNano())/1e9, pool, step.Seconds(), l.Table())
	_, err = l.DB().ExecContext(context.Background(), q)
	return err
}

// BenchmarkMonitor1M is `datalab monitor matches` over a window of a
// million logged predictions of the served model on SQLite: counting the
// window's versions, loading the model, building the reference from the
// features table, scanning the million rows into the current sample,
// comparing and writing the page and the JSON (bench/monitor/run.sh).
func BenchmarkMonitor1M(b *testing.B) {
	until := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	benchLog.once.Do(func() {
		benchLog.dir = b.TempDir()
		start := time.Now()
		benchLog.err = fillBenchLog(b, benchLog.dir, until)
		b.Logf("filled a log of %d predictions in %s", benchRows, time.Since(start).Round(time.Millisecond))
	})
	if benchLog.err != nil {
		b.Fatal(benchLog.err)
	}
	fix := matchmonitortest.Train(b)
	l, err := predlog.Open(context.Background(), filepath.Join(benchLog.dir, "predictions.sqlite"))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	out := b.TempDir()
	b.ResetTimer()
	for b.Loop() {
		rep, err := monitor.Run(context.Background(), &matchmonitor.Source{Log: l, Features: fix.Features},
			monitor.Config{Model: matchmonitor.Model, LocalModel: fix.ModelDir, Window: monitor.Last(24*time.Hour, until)})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Result.CurrentRows != benchRows || rep.Result.Verdict == "drift" {
			b.Fatalf("%s", rep.Result.Summary())
		}
		if _, _, err := rep.Write(out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
