package predlog_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/matches/predlog/predlogtest"
	"github.com/datalabhq/datalab/pipeline/sqldb"
	"github.com/datalabhq/datalab/pipeline/sqldb/sqldbtest"
)

// scans is the dashboard's figures as the whole-table queries compute them:
// the reference the counters must equal.
func scans(t *testing.T, l *predlog.Log, lim predlog.UsageLimits) *predlog.Usage {
	t.Helper()
	ctx := context.Background()
	var u predlog.Usage
	var err error
	if u.Total, err = l.Count(ctx); err != nil {
		t.Fatal(err)
	}
	if u.TopTeams, err = l.TopTeams(ctx, lim.TopTeams); err != nil {
		t.Fatal(err)
	}
	if u.TopMatchups, err = l.TopMatchups(ctx, lim.TopMatchups); err != nil {
		t.Fatal(err)
	}
	if u.ByHour, err = l.ByHour(ctx); err != nil {
		t.Fatal(err)
	}
	if u.ByDay, err = l.ByDay(ctx, lim.Days); err != nil {
		t.Fatal(err)
	}
	if u.Outcomes, err = l.OutcomeMix(ctx); err != nil {
		t.Fatal(err)
	}
	if u.Recent, err = l.Recent(ctx, lim.Recent); err != nil {
		t.Fatal(err)
	}
	return &u
}

// sameUsage fails t unless the counters give what the scans give.
func sameUsage(t *testing.T, l *predlog.Log, lim predlog.UsageLimits) *predlog.Usage {
	t.Helper()
	got, err := l.Usage(context.Background(), lim)
	if err != nil {
		t.Fatal(err)
	}
	want := scans(t, l, lim)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Usage(%+v) differs from the scans:\n got  %+v\n want %+v", lim, got, want)
	}
	return got
}

var dashboardLimits = predlog.UsageLimits{TopTeams: 15, TopMatchups: 15, Days: 31, Recent: 20}

// TestUsageCountersMatchScans: on every database, the counters the writer
// keeps give exactly the figures the whole-table queries give — ties at
// every cut (teams, match-ups, days), hostile names, several batches, times
// in other zones — for several list sizes.
func TestUsageCountersMatchScans(t *testing.T) {
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			l := predlogtest.OpenFresh(t, d)
			if u := sameUsage(t, l, dashboardLimits); u.Total != 0 || len(u.TopTeams) != 0 {
				t.Errorf("empty log: %+v", u)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			teams := []string{"Argentina", "France", "Brazil", "argentina", quoted, script, sqlish, "Zambia", "Ñandú", "A", "B", "C"}
			outcomes := []matchwinner.Outcome{matchwinner.HomeWin, matchwinner.Draw, matchwinner.AwayWin, matchwinner.NotHomeWin}
			base := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
			zone := time.FixedZone("X", -5*3600)
			w := predlog.NewWriter(l, predlog.WriterOptions{BatchSize: 97})
			for i := range 3000 {
				at := base.Add(time.Duration(rng.IntN(50*24*3600)) * time.Second)
				if i%7 == 0 {
					at = at.In(zone)
				}
				w.Enqueue(entry(teams[rng.IntN(len(teams))], teams[rng.IntN(len(teams))], outcomes[rng.IntN(len(outcomes))], at))
			}
			if err := w.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Direct inserts count too, whatever their size.
			if err := l.Insert(context.Background(), []predlog.Entry{entry("Argentina", "France", matchwinner.Draw, base)}); err != nil {
				t.Fatal(err)
			}
			u := sameUsage(t, l, dashboardLimits)
			if u.Total != 3001 || len(u.TopTeams) != 12 || len(u.TopMatchups) != 15 || len(u.ByDay) != 31 || len(u.Recent) != 20 {
				t.Errorf("figures: total %d, %d teams, %d match-ups, %d days, %d recent", u.Total, len(u.TopTeams), len(u.TopMatchups), len(u.ByDay), len(u.Recent))
			}
			for _, lim := range []predlog.UsageLimits{{1, 1, 1, 1}, {3, 2, 5, 0}, {100, 1000, 100, 3}} {
				sameUsage(t, l, lim)
			}
		})
	}
}

// TestUsageBackfill: a log filled before the counters existed (rows the
// writer did not count) gets them from the migration that creates them,
// and RebuildUsage recomputes them after rows are changed by hand.
func TestUsageBackfill(t *testing.T) {
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			dsn, prefix := sqldbtest.DSN(t, d), sqldbtest.Prefix(t)
			l := predlogtest.Open(t, d, dsn, prefix)
			if err := l.Insert(ctx, []predlog.Entry{entry(script, "France", matchwinner.Draw, time.Now())}); err != nil {
				t.Fatal(err)
			}
			predlogtest.BulkFill(t, l, 5000)
			// Back to schema version 1: no counters table and no server-time
			// index, versions 2 and 3 unrecorded.
			dropIndex := "DROP INDEX " + l.Table() + "_server_time"
			if d == sqldb.MySQL {
				dropIndex += " ON " + l.Table()
			}
			for _, q := range []string{"DROP TABLE " + l.UsageTable(), dropIndex, "DELETE FROM " + prefix + "predlog_migrations WHERE version >= 2"} {
				if _, err := l.DB().ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			l2, err := predlog.Open(ctx, dsn, predlog.WithTablePrefix(prefix))
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			if u := sameUsage(t, l2, dashboardLimits); u.Total != 5001 {
				t.Errorf("backfilled total %d, want 5001", u.Total)
			}
			// Rows deleted by hand: the counters lag until rebuilt.
			if _, err := l2.DB().ExecContext(ctx, "DELETE FROM "+l2.Table()+" WHERE outcome = 'draw'"); err != nil {
				t.Fatal(err)
			}
			if err := l2.RebuildUsage(ctx); err != nil {
				t.Fatal(err)
			}
			if u := sameUsage(t, l2, dashboardLimits); u.Total >= 5001 || u.Total == 0 {
				t.Errorf("total after deleting draws and rebuilding: %d", u.Total)
			}
		})
	}
}

// TestUsageConcurrentWriters: two writers (two app replicas) logging into
// one database at once lose no count and do not deadlock.
func TestUsageConcurrentWriters(t *testing.T) {
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dsn, prefix := sqldbtest.DSN(t, d), sqldbtest.Prefix(t)
			l := predlogtest.Open(t, d, dsn, prefix)
			l2, err := predlog.Open(context.Background(), dsn, predlog.WithTablePrefix(prefix))
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			var ws [2]*predlog.Writer
			for i, log := range []*predlog.Log{l, l2} {
				ws[i] = predlog.NewWriter(log, predlog.WriterOptions{BatchSize: 50})
			}
			at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
			for i := range 2000 {
				// Both replicas count the same keys, in opposite orders of arrival.
				ws[i%2].Enqueue(entry(fmt.Sprint("T", i%9), fmt.Sprint("T", (i+1)%9), matchwinner.HomeWin, at.Add(time.Duration(i)*time.Minute)))
			}
			for _, w := range ws {
				if err := w.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				if s := w.Stats(); s.Written != 1000 {
					t.Errorf("writer stats %+v", s)
				}
			}
			if u := sameUsage(t, l, dashboardLimits); u.Total != 2000 {
				t.Errorf("total %d, want 2000", u.Total)
			}
		})
	}
}
