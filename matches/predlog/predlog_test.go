package predlog_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testwait"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/matches/predlog/predlogtest"
	"github.com/datalabhq/datalab/pipeline/sqldb"
	"github.com/datalabhq/datalab/pipeline/sqldb/sqldbtest"
)

// hostile team names: quotes, markup, SQL and non-ASCII must round-trip verbatim.
const (
	quoted = `Côte d'Ivoire "B"`
	script = `<script>alert('x')</script>`
	sqlish = `Robert'); DROP TABLE match_predictions;--`
)

func entry(home, away string, outcome matchwinner.Outcome, at time.Time) predlog.Entry {
	winner := ""
	switch outcome {
	case matchwinner.HomeWin:
		winner = home
	case matchwinner.AwayWin:
		winner = away
	}
	return predlog.Entry{
		Home: home, Away: away, Neutral: true, Outcome: outcome, Winner: winner, Probability: 0.5,
		Probabilities: map[matchwinner.Outcome]float64{matchwinner.HomeWin: 0.5, matchwinner.Draw: 0.3, matchwinner.AwayWin: 0.2},
		ModelVersion:  "sha256:abc", Variant: "3class", ServerTime: at,
	}
}

func TestLogAllDialects(t *testing.T) {
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			l := predlogtest.OpenFresh(t, d)
			if l.Dialect() != d {
				t.Fatalf("dialect %s, want %s", l.Dialect(), d)
			}
			testRoundTrip(t, l)
			testUsageQueries(t, l)
		})
	}
}

func testRoundTrip(t *testing.T, l *predlog.Log) {
	ctx := context.Background()
	server := time.Date(2026, 11, 23, 21, 5, 6, 123456000, time.UTC)
	client := time.Date(2026, 11, 23, 22, 5, 5, 0, time.FixedZone("CET", 3600))
	e := predlog.Entry{
		Home: quoted, Away: script, Neutral: false,
		AsOf:    time.Date(2022, 11, 20, 0, 0, 0, 0, time.UTC),
		Outcome: matchwinner.Draw, Probability: 0.41,
		Probabilities: map[matchwinner.Outcome]float64{matchwinner.HomeWin: 0.33, matchwinner.Draw: 0.41, matchwinner.AwayWin: 0.26},
		Features:      map[string]float64{"home_rank": 3, "away_rank": 4.5},
		ModelVersion:  "sha256:0123", Variant: "3class",
		ClientTime: client, ServerTime: server,
	}
	e2 := entry(sqlish, "France", matchwinner.HomeWin, server.Add(time.Second))
	if err := l.Insert(ctx, []predlog.Entry{e, e2}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Recent(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Recent: %d entries, want 2", len(got))
	}
	if got[0].Home != sqlish || got[1].ID >= got[0].ID {
		t.Errorf("Recent not newest first: %+v", got)
	}
	r := got[1]
	r.ID = 0
	e.ClientTime = client.UTC()
	if !reflect.DeepEqual(r, e) {
		t.Errorf("round trip:\n got  %+v\n want %+v", r, e)
	}
	if got[0].Features != nil || !got[0].ClientTime.IsZero() || !got[0].AsOf.IsZero() {
		t.Errorf("absent features/client time/as-of not kept absent: %+v", got[0])
	}
	// The hostile names really are stored verbatim, not escaped.
	var home string
	if err := l.DB().QueryRowContext(ctx, "SELECT away FROM "+l.Table()+" WHERE outcome = 'draw'").Scan(&home); err != nil {
		t.Fatal(err)
	}
	if home != script {
		t.Errorf("stored %q, want %q", home, script)
	}
	if _, err := l.DB().ExecContext(ctx, "DELETE FROM "+l.Table()); err != nil {
		t.Fatal(err)
	}
}

func testUsageQueries(t *testing.T, l *predlog.Log) {
	ctx := context.Background()
	day1 := time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)
	day2 := time.Date(2026, 11, 23, 17, 0, 0, 0, time.UTC)
	var es []predlog.Entry
	add := func(n int, home, away string, o matchwinner.Outcome, at time.Time) {
		for range n {
			es = append(es, entry(home, away, o, at))
		}
	}
	add(3, "Argentina", "France", matchwinner.HomeWin, day1)
	add(2, "Brazil", "Argentina", matchwinner.Draw, day2)
	add(1, "France", script, matchwinner.AwayWin, day2)
	add(1, "Zambia", "Brazil", matchwinner.AwayWin, day2.Add(-8*time.Hour)) // non-UTC zone below
	es[len(es)-1].ServerTime = es[len(es)-1].ServerTime.In(time.FixedZone("X", -5*3600))
	if err := l.Insert(ctx, es); err != nil {
		t.Fatal(err)
	}
	n, err := l.Count(ctx)
	if err != nil || n != 7 {
		t.Fatalf("Count = %d, %v; want 7", n, err)
	}
	teams, err := l.TopTeams(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	wantTeams := []predlog.Counted{{"Argentina", 5}, {"France", 4}, {"Brazil", 3}}
	if !reflect.DeepEqual(teams, wantTeams) {
		t.Errorf("TopTeams = %v, want %v", teams, wantTeams)
	}
	ups, err := l.TopMatchups(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantUps := []predlog.Matchup{{"Argentina", "France", 3}, {"Brazil", "Argentina", 2}, {"France", script, 1}, {"Zambia", "Brazil", 1}}
	if !reflect.DeepEqual(ups, wantUps) {
		t.Errorf("TopMatchups = %v, want %v", ups, wantUps)
	}
	hours, err := l.ByHour(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wantHours [24]int64
	wantHours[9], wantHours[17] = 4, 3 // 9:30 UTC x3 + 09:00 UTC (04:00-05:00) x1
	if hours != wantHours {
		t.Errorf("ByHour = %v, want %v", hours, wantHours)
	}
	days, err := l.ByDay(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	wantDays := []predlog.Counted{{"2026-11-22", 3}, {"2026-11-23", 4}}
	if !reflect.DeepEqual(days, wantDays) {
		t.Errorf("ByDay = %v, want %v", days, wantDays)
	}
	if last, _ := l.ByDay(ctx, 1); !reflect.DeepEqual(last, wantDays[1:]) {
		t.Errorf("ByDay(1) = %v, want %v", last, wantDays[1:])
	}
	mix, err := l.OutcomeMix(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantMix := []predlog.Counted{{"home_win", 3}, {"away_win", 2}, {"draw", 2}}
	if !reflect.DeepEqual(mix, wantMix) {
		t.Errorf("OutcomeMix = %v, want %v", mix, wantMix)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dsn, prefix := sqldbtest.DSN(t, d), sqldbtest.Prefix(t)
			l := predlogtest.Open(t, d, dsn, prefix)
			if err := l.Insert(context.Background(), []predlog.Entry{entry("A", "B", matchwinner.Draw, time.Now())}); err != nil {
				t.Fatal(err)
			}
			// Reopening finds the schema current and keeps the rows.
			l2, err := predlog.Open(context.Background(), dsn, predlog.WithTablePrefix(prefix))
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			var versions int
			if err := l2.DB().QueryRow("SELECT COUNT(*) FROM " + prefix + "predlog_migrations").Scan(&versions); err != nil {
				t.Fatal(err)
			}
			if versions != predlog.SchemaVersion() {
				t.Errorf("%d migration rows, want %d", versions, predlog.SchemaVersion())
			}
			if n, err := l2.Count(context.Background()); err != nil || n != 1 {
				t.Errorf("Count after reopen = %d, %v; want 1", n, err)
			}
		})
	}
}

// TestConcurrentFirstMigration: replicas opening the log on an empty
// database at the same moment all succeed and the schema is migrated once.
// Without the migration lock they raced on the first CREATE TABLE
// (PostgreSQL: duplicate key … "pg_type_typname_nsp_index"; MariaDB: table
// already exists; SQLite: the same, without the version check inside the
// transaction).
func TestConcurrentFirstMigration(t *testing.T) {
	sqldbtest.FirstStartTogether(t, 8, 3, func(ctx context.Context, dsn, prefix string) error {
		l, err := predlog.Open(ctx, dsn, predlog.WithTablePrefix(prefix))
		if err != nil {
			return err
		}
		return l.Close()
	}, func(t *testing.T, d sqldb.Dialect, dsn, prefix string) {
		l := predlogtest.Open(t, d, dsn, prefix) // and drops the tables when the test ends
		var versions int
		if err := l.DB().QueryRow("SELECT COUNT(*) FROM " + prefix + "predlog_migrations").Scan(&versions); err != nil {
			t.Fatal(err)
		}
		if versions != predlog.SchemaVersion() {
			t.Errorf("%d migration rows, want %d", versions, predlog.SchemaVersion())
		}
	})
}

func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, dsn := range []string{
		"postgres://bob:s3cretpw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2",
		"bob:s3cretpw@tcp(127.0.0.1:1)/db?timeout=2s",
		"mysql://bob:s3cretpw@tcp(127.0.0.1:1)/db?timeout=2s",
		"redis://bob:s3cretpw@host/0",
		"",
	} {
		_, err := predlog.Open(ctx, dsn)
		if err == nil {
			t.Errorf("Open(%s): no error", sqldb.Redact(dsn))
			continue
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("Open error leaks the password: %v", err)
		}
	}
	if _, err := predlog.Open(ctx, t.TempDir()+"/x.db", predlog.WithTablePrefix("Bad-Prefix")); err == nil {
		t.Error("bad table prefix accepted")
	}
}

func TestOpenDSNForms(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{dir + "/a.db", "sqlite://" + dir + "/b.db", "file:" + dir + "/c.db", "sqlite:" + dir + "/d.db", dir + "/new/sub/e.db"} {
		l, err := predlog.Open(context.Background(), dsn)
		if err != nil {
			t.Fatalf("Open(%s): %v", dsn, err)
		}
		if l.Dialect() != sqldb.SQLite {
			t.Errorf("Open(%s): dialect %s", dsn, l.Dialect())
		}
		var mode string
		if err := l.DB().QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("Open(%s): journal_mode %q, %v; want wal", dsn, mode, err)
		}
		var tempStore int
		if err := l.DB().QueryRow("PRAGMA temp_store").Scan(&tempStore); err != nil || tempStore != 2 {
			t.Errorf("Open(%s): temp_store %d, %v; want 2 (memory)", dsn, tempStore, err)
		}
		if _, err := os.Stat(strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite://"), "sqlite:"), "file:")); err != nil {
			t.Errorf("Open(%s) did not create the file where the DSN says: %v", dsn, err)
		}
		l.Close()
	}
}

// flakySink is a Sink that fails while down is set and records what it stored.
type flakySink struct {
	mu      sync.Mutex
	down    bool
	stored  []predlog.Entry
	batches []int // sizes of the stored batches
	calls   int
}

func (s *flakySink) Insert(ctx context.Context, es []predlog.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.down {
		return errors.New("database unavailable")
	}
	s.stored = append(s.stored, es...)
	s.batches = append(s.batches, len(es))
	return nil
}

func (s *flakySink) batchSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

func (s *flakySink) set(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

func (s *flakySink) homes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var h []string
	for _, e := range s.stored {
		h = append(h, e.Home)
	}
	return h
}

func TestWriterRetriesAndDropsOldest(t *testing.T) {
	sink := &flakySink{down: true}
	w := predlog.NewWriter(sink, predlog.WriterOptions{Capacity: 5, BatchSize: 2, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	start := time.Now()
	for i := range 9 {
		w.Enqueue(entry(string(rune('a'+i)), "x", matchwinner.Draw, time.Now()))
		time.Sleep(2 * time.Millisecond)
	}
	// A failing database never makes Enqueue wait for room (FullWait, 1 s).
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("9 enqueues took %v while the database was down", d)
	}
	testwait.Until(t, 10*time.Second, 5*time.Millisecond, "3 failed writes", func() bool { return w.Stats().Failures >= 3 })
	s := w.Stats()
	if s.Pending != 5 || s.Dropped != 4 || s.Enqueued != 9 || s.Written != 0 {
		t.Fatalf("while down: %+v; want 5 pending, 4 dropped", s)
	}
	sink.set(false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The batch in flight when the buffer filled ("a", or "a","b" when the
	// drain goroutine took two at once) is kept; the oldest queued entries
	// are the ones dropped.
	got := strings.Join(sink.homes(), "")
	if got != "afghi" && got != "abghi" {
		t.Errorf("stored %q, want afghi or abghi", got)
	}
	if s := w.Stats(); s.Written != 5 || s.Pending != 0 {
		t.Errorf("after close: %+v", s)
	}
	w.Enqueue(entry("late", "x", matchwinner.Draw, time.Now()))
	if s := w.Stats(); s.Dropped != 5 {
		t.Errorf("enqueue after close not counted as dropped: %+v", s)
	}
	if err := w.Close(ctx); !errors.Is(err, predlog.ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
}

// TestWriterFlushInterval: with FlushInterval the writer lets entries
// gather into one batch, written once the oldest has waited the interval;
// a whole batch is written at once, and Close writes what is left without
// waiting.
func TestWriterFlushInterval(t *testing.T) {
	sink := &flakySink{}
	const interval = 300 * time.Millisecond
	w := predlog.NewWriter(sink, predlog.WriterOptions{FlushInterval: interval})
	start := time.Now()
	for i := range 50 {
		w.Enqueue(entry(fmt.Sprint(i), "x", matchwinner.Draw, time.Now()))
	}
	testwait.Until(t, 10*time.Second, 5*time.Millisecond, "50 entries written", func() bool { return w.Stats().Written == 50 })
	if d := time.Since(start); d < interval {
		t.Errorf("written after %v, before the flush interval %v", d, interval)
	}
	if got := sink.batchSizes(); !slices.Equal(got, []int{50}) {
		t.Errorf("batches %v, want one of 50", got)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	sink = &flakySink{}
	w = predlog.NewWriter(sink, predlog.WriterOptions{FlushInterval: time.Hour, BatchSize: 10})
	for i := range 25 {
		w.Enqueue(entry(fmt.Sprint(i), "x", matchwinner.Draw, time.Now()))
	}
	testwait.Until(t, 10*time.Second, 5*time.Millisecond, "20 entries written", func() bool { return w.Stats().Written == 20 })
	start = time.Now()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close waited %v for the flush interval", d)
	}
	if got := sink.batchSizes(); !slices.Equal(got, []int{10, 10, 5}) {
		t.Errorf("batches %v, want 10, 10, then 5 at Close", got)
	}
	if s := w.Stats(); s.Written != 25 || s.Pending != 0 {
		t.Errorf("after Close: %+v", s)
	}
}

// slowSink stores every batch after a pause: a database that keeps up,
// only slowly.
type slowSink struct {
	flakySink
	pause   time.Duration
	started atomic.Int64 // Insert calls begun
}

func (s *slowSink) Insert(ctx context.Context, es []predlog.Entry) error {
	s.started.Add(1)
	time.Sleep(s.pause)
	return s.flakySink.Insert(ctx, es)
}

// TestWriterWaitsForRoomWhileWritesSucceed: a full buffer whose writes
// succeed makes Enqueue wait for room instead of dropping, so a burst
// larger than the buffer is stored whole.
func TestWriterWaitsForRoomWhileWritesSucceed(t *testing.T) {
	sink := &slowSink{pause: 5 * time.Millisecond}
	w := predlog.NewWriter(sink, predlog.WriterOptions{Capacity: 10, BatchSize: 5})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				w.Enqueue(entry(fmt.Sprint(g, "-", i), "x", matchwinner.Draw, time.Now()))
			}
		})
	}
	wg.Wait()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Written != 200 || s.Dropped != 0 || s.Waited == 0 {
		t.Errorf("stats %+v: want 200 written, none dropped, some enqueues waiting", s)
	}
}

// TestWriterWaitIsBounded: while a write takes longer than FullWait,
// Enqueue on a full buffer returns after FullWait and drops the oldest
// queued entry; with FullWait negative it drops at once.
func TestWriterWaitIsBounded(t *testing.T) {
	for _, wait := range []time.Duration{50 * time.Millisecond, -1} {
		sink := &slowSink{pause: 400 * time.Millisecond}
		w := predlog.NewWriter(sink, predlog.WriterOptions{Capacity: 3, BatchSize: 1, FullWait: wait})
		w.Enqueue(entry("a", "x", matchwinner.Draw, time.Now()))
		testwait.Until(t, 10*time.Second, 5*time.Millisecond, "the first insert to begin", func() bool { return sink.started.Load() == 1 }) // "a" in flight
		for _, h := range []string{"b", "c"} {
			w.Enqueue(entry(h, "x", matchwinner.Draw, time.Now()))
		}
		start := time.Now()
		w.Enqueue(entry("d", "x", matchwinner.Draw, time.Now()))
		d := time.Since(start)
		if wait > 0 && (d < wait || d > 300*time.Millisecond) {
			t.Errorf("FullWait %v: the Enqueue on a full buffer took %v", wait, d)
		}
		if wait < 0 && d > 100*time.Millisecond {
			t.Errorf("FullWait %v: the Enqueue on a full buffer took %v", wait, d)
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(sink.homes(), ""); got != "acd" {
			t.Errorf("FullWait %v: stored %q, want acd (b dropped)", wait, got)
		}
		if s := w.Stats(); s.Dropped != 1 {
			t.Errorf("FullWait %v: %+v", wait, s)
		}
	}
}

func TestWriterCloseGivesUp(t *testing.T) {
	sink := &flakySink{down: true}
	w := predlog.NewWriter(sink, predlog.WriterOptions{MinBackoff: time.Millisecond})
	w.Enqueue(entry("a", "b", matchwinner.Draw, time.Now()))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := w.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "1 entries not written") {
		t.Errorf("Close = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v after its deadline", d)
	}
}

func TestWriterOnDatabase(t *testing.T) {
	l := predlogtest.OpenFresh(t, sqldb.SQLite)
	w := predlog.NewWriter(l, predlog.WriterOptions{})
	const n = 1000
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range n / 4 {
				w.Enqueue(entry("T"+string(rune('A'+g)), "U", matchwinner.HomeWin, time.Now().Add(time.Duration(i))))
			}
		})
	}
	wg.Wait()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, err := l.Count(context.Background()); err != nil || c != n {
		t.Fatalf("Count = %d, %v; want %d", c, err, n)
	}
}

// BenchmarkInsertSQLite stores batches of the sizes the writer hands over:
// a few rows when it writes each entry as soon as it arrives, hundreds
// when it gathers them. The pairs vary, as the web app's do, so the usage
// counters see many keys.
func BenchmarkInsertSQLite(b *testing.B) {
	// A served prediction carries ~40 named features.
	features := map[string]float64{}
	for i := range 40 {
		features[fmt.Sprintf("feature_%02d", i)] = float64(i) / 7
	}
	teams := []string{"Argentina", "Brazil", "Croatia", "England", "France", "Germany", "Japan", "Morocco", "Spain", "USA"}
	for _, size := range []int{1, 8, 64, 256, 1000} {
		b.Run(fmt.Sprintf("batch%d", size), func(b *testing.B) {
			l := predlogtest.OpenFresh(b, sqldb.SQLite)
			batch := make([]predlog.Entry, size)
			for i := range batch {
				batch[i] = entry(teams[i%len(teams)], teams[(i/len(teams)+i+1)%len(teams)], matchwinner.HomeWin, time.Now())
				batch[i].Features = features
			}
			for b.Loop() {
				if err := l.Insert(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// TestInsertBatchSizes: batches around the prepared statement's size
// (preparedRows = 64 rows) are stored whole and in order on every
// database.
func TestInsertBatchSizes(t *testing.T) {
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			l := predlogtest.OpenFresh(t, d)
			ctx := context.Background()
			total := 0
			for _, n := range []int{1, 63, 64, 65, 128, 200, 0, 1000, 1001} {
				batch := make([]predlog.Entry, n)
				for i := range batch {
					batch[i] = entry(fmt.Sprintf("H%d-%d", n, i), "A", matchwinner.HomeWin, time.Now())
				}
				if err := l.Insert(ctx, batch); err != nil {
					t.Fatalf("batch of %d: %v", n, err)
				}
				total += n
				got, err := l.Recent(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				for i, e := range got { // newest first
					if want := batch[n-1-i].Home; e.Home != want {
						t.Fatalf("batch of %d: entry %d from the end is %q, want %q", n, i, e.Home, want)
					}
				}
			}
			if c, err := l.Count(ctx); err != nil || c != int64(total) {
				t.Errorf("Count = %d, %v; want %d", c, err, total)
			}
		})
	}
}

// TestFeatureKeysChangeWithinBatch: the encoder reuses the sorted keys of
// the previous entry only when the keys are the same; entries of one batch
// with other keys (more, fewer, as many but different) come back intact.
func TestFeatureKeysChangeWithinBatch(t *testing.T) {
	l := predlogtest.OpenFresh(t, sqldb.SQLite)
	sets := []map[string]float64{
		{"a": 1, "b": 2, "c": 3},
		{"a": 4, "b": 5, "c": 6},
		{"a": 7, "b": 8, "d": 9},
		{"x": 1},
		nil,
		{"c": 3, "b": 2, "a": 1, "e": 0.5},
		{"a": 1, "b": 2, "c": 3},
	}
	var batch []predlog.Entry
	for i, f := range sets {
		e := entry(fmt.Sprint("T", i), "U", matchwinner.Draw, time.Now())
		e.Features = f
		if i%2 == 1 {
			e.Probabilities = map[matchwinner.Outcome]float64{matchwinner.HomeWin: 0.6, matchwinner.NotHomeWin: 0.4}
		}
		batch = append(batch, e)
	}
	if err := l.Insert(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	got, err := l.Recent(context.Background(), len(batch))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range batch {
		g := got[len(batch)-1-i] // newest first
		if !reflect.DeepEqual(g.Features, e.Features) || !reflect.DeepEqual(g.Probabilities, e.Probabilities) {
			t.Errorf("entry %d: features %v probabilities %v, want %v %v", i, g.Features, g.Probabilities, e.Features, e.Probabilities)
		}
	}
}

func TestFeatureJSON(t *testing.T) {
	l := predlogtest.OpenFresh(t, sqldb.SQLite)
	e := entry("A", "B", matchwinner.Draw, time.Now())
	e.Features = map[string]float64{"z": 1e21, "a": -0.1, "tiny": 5e-324, `quote"d`: 1, "ünï": math.MaxFloat64, "<&>": 0}
	if err := l.Insert(context.Background(), []predlog.Entry{e}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Recent(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got[0].Features, e.Features) {
		t.Errorf("features round trip: %v, want %v", got[0].Features, e.Features)
	}
	e.Features = map[string]float64{"x": math.NaN()}
	if err := l.Insert(context.Background(), []predlog.Entry{e}); err == nil {
		t.Error("NaN feature accepted")
	}
}
