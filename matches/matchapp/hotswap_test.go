package matchapp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/loadgen"
	"github.com/datalabhq/datalab/internal/testlog"
	"github.com/datalabhq/datalab/matches/matchapp"
	"github.com/datalabhq/datalab/matches/matchapp/swaptest"
	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/matches/predlog/predlogtest"
	"github.com/datalabhq/datalab/pipeline/registry"
	"github.com/datalabhq/datalab/pipeline/serve"
	"github.com/datalabhq/datalab/pipeline/sqldb"
	"github.com/datalabhq/datalab/pipeline/sqldb/sqldbtest"
)

// slowStamp is the clock of TestHotSwapUnderLoad: it takes 2 ms before
// and 2 ms after reading the time. The app stamps while holding its model
// snapshot, so a swap waits for the stamps in progress and the time still
// orders each request exactly against it. A request that read the time
// before taking its snapshot, or after releasing it, would leave 2 ms
// between the two, and at 500 requests/s about one request is in such a
// gap at any moment: a swap landing in one is answered by the version the
// time says was not serving, which CheckAnswers and CheckLog report.
func slowStamp() time.Time {
	time.Sleep(2 * time.Millisecond)
	now := time.Now()
	time.Sleep(2 * time.Millisecond)
	return now
}

// TestHotSwapUnderLoad is the acceptance test of serving by alias, in
// process on every log database: two real match models, 500 requests/s,
// champion promoted to B and rolled back to A during the run; no failed or
// mixed-version answer, and the log changes version exactly at the swap
// times (swaptest). cmd/datalab's TestServeRegistryHotSwapUnderLoad runs
// the same against the real binary.
func TestHotSwapUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two models and runs 500 requests/s for seconds per database")
	}
	dirA, dirB := swaptest.Models(t)
	precision := map[sqldb.Dialect]time.Duration{sqldb.SQLite: 0, sqldb.Postgres: time.Microsecond, sqldb.MySQL: time.Microsecond}
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			l := predlogtest.OpenFresh(t, d)
			r, a, b := swaptest.Registry(t, t.TempDir(), dirA, dirB)
			var logs testlog.Buffer
			metrics := serve.NewRegistry()
			mm := serve.NewModelMetrics(metrics, "matches", "champion")
			f, err := registry.Follow(ctx, r, swaptest.Model, "champion",
				func(dir string) (matchwinner.Predictor, error) { return matchmodel.Load(dir) },
				registry.FollowOptions{Interval: time.Hour, CacheDir: t.TempDir(), Instance: "swaptest",
					Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnSwap: mm.OnSwap, OnError: mm.OnError})
			if err != nil {
				t.Fatal(err)
			}
			w := predlog.NewWriter(l, predlog.WriterOptions{FlushInterval: 100 * time.Millisecond, Capacity: 1 << 16})
			app := newApp(t, matchapp.Config{Models: f, Recorder: w, Usage: l, Metrics: metrics, Now: slowStamp})
			srv := httptest.NewServer(app)
			answers, _, _ := swaptest.Drive(t, r, swaptest.Run{URL: srv.URL, Rate: 500, B: b,
				Lead: 1500 * time.Millisecond, Hold: 1500 * time.Millisecond, Tail: 1500 * time.Millisecond,
				AfterMove: func() {
					if err := f.Check(ctx); err != nil {
						t.Error(err)
					}
				}})
			srv.Close()
			if err := w.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			swaps := swaptest.SwapsFromLog(t, logs.String(), a, b)
			swaptest.CheckSwaps(t, swaps, a, b)
			n := swaptest.CheckAnswers(t, answers, swaps)
			t.Logf("%d answers: %d by A, %d by B", len(answers), n[a], n[b])
			entries := swaptest.ReadLog(t, l)
			if len(entries) != len(answers) {
				t.Fatalf("%d predictions logged, %d answered", len(entries), len(answers))
			}
			swaptest.CheckLog(t, entries, swaps, precision[d])
			if v := metricValue(t, app, `datalab_model_swaps_total{app="matches"}`); v != 2 {
				t.Errorf("datalab_model_swaps_total %v, want 2", v)
			}
		})
	}
}

// BenchmarkSwapLatency measures how long a promotion takes to reach the
// answers: from the alias write (registry.Promote returned) to the first
// answer by the new version, for the served variant (datalab.yaml's
// serve_variant) and the seed-size forest swapped back and forth, with the
// follower polling at its default 2 s and at 100 ms, idle and at 500
// requests/s. The app, the follower and the registry are the real ones in
// process (as `datalab serve --model registry:matches@champion` wires
// them) on a directory registry and a SQLite log; b.N is the number of
// promotions (-benchtime 10x). Idle has no requests: the figure is the
// swap's Since (from then on every request is answered by the new
// version). Reported, in ms: p50 and max of that latency, and p50 of the
// fetch + load part (the rest is waiting for the next poll).
//
//	go test -run '^$' -bench SwapLatency -benchtime 10x ./matches/matchapp/
func BenchmarkSwapLatency(b *testing.B) {
	cfg := committedConfig(b)
	seed := cfg
	seed.ServeVariant = "seed"
	dirs := swaptest.Train(b, cfg, seed)
	for _, poll := range []time.Duration{2 * time.Second, 100 * time.Millisecond} {
		for _, rate := range []float64{0, 500} {
			name := fmt.Sprintf("poll-%v/idle", poll) // no '=': the name makes temporary paths
			if rate > 0 {
				name = fmt.Sprintf("poll-%v/%.0f-per-s", poll, rate)
			}
			b.Run(name, func(b *testing.B) { benchmarkSwap(b, dirs, poll, rate) })
		}
	}
}

func benchmarkSwap(b *testing.B, dirs []string, poll time.Duration, rate float64) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, a, bv := swaptest.Registry(b, b.TempDir(), dirs[0], dirs[1])
	type swap struct {
		to   string
		took time.Duration
	}
	swaps := make(chan swap, 16)
	f, err := registry.Follow(ctx, r, swaptest.Model, "champion",
		func(dir string) (matchwinner.Predictor, error) { return matchmodel.Load(dir) },
		registry.FollowOptions{Interval: poll, CacheDir: b.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			OnSwap: func(_, to string, took time.Duration) { swaps <- swap{to, took} }})
	if err != nil {
		b.Fatal(err)
	}
	<-swaps // the first load
	l := predlogtest.OpenFresh(b, sqldb.SQLite)
	w := predlog.NewWriter(l, predlog.WriterOptions{FlushInterval: 100 * time.Millisecond})
	defer w.Close(context.Background())
	app, err := matchapp.New(matchapp.Config{Models: f, Recorder: w, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(app)
	defer srv.Close()
	var load *swaptest.Load
	if rate > 0 {
		load = swaptest.StartLoad(srv.URL, rate)
		defer load.Stop()
	}
	var latency, loading []time.Duration
	next := []string{bv, a}
	b.ResetTimer()
	for i := range b.N {
		// Promote at a random phase of the follower's poll.
		time.Sleep(time.Duration(rand.Int64N(int64(poll))))
		to := next[i%2]
		var wait func() (time.Time, bool)
		if load != nil {
			wait = load.Expect(func(ans swaptest.Answer) bool { return ans.Body == to })
		}
		if _, _, err := r.Promote(ctx, swaptest.Model, "champion", to, registry.PromoteOptions{Force: true}); err != nil {
			b.Fatal(err)
		}
		moved := time.Now()
		var s swap
		select {
		case s = <-swaps:
		case <-time.After(swaptest.MaxSwapWait):
			b.Fatalf("no swap %v after the promotion", swaptest.MaxSwapWait)
		}
		if s.to != to {
			b.Fatalf("swapped to %s, want %s", registry.Short(s.to), registry.Short(to))
		}
		first := f.Current().Since
		if wait != nil {
			var ok bool
			if first, ok = wait(); !ok {
				b.Fatalf("no answer by %s", registry.Short(to))
			}
		}
		latency, loading = append(latency, first.Sub(moved)), append(loading, s.took)
	}
	b.StopTimer()
	b.ReportMetric(loadgen.QuantileMs(latency, 0.5), "p50-ms")
	b.ReportMetric(loadgen.QuantileMs(latency, 1), "max-ms")
	b.ReportMetric(loadgen.QuantileMs(loading, 0.5), "load-p50-ms")
	b.ReportMetric(0, "ns/op")
}
