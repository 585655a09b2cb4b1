package matchapp_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datalabhq/datalab/matches/matchapp"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/pipeline/sqldb/sqldbtest"
)

// BenchmarkDashboard measures, on a log of a million predictions per
// database (-dashboard-rows to change it): "get", GET /dashboard from 8
// goroutines at once, p50/p99 of one GET; "writer-idle", the
// prediction-log writer's throughput alone; "writer-hammered", the same
// while 8 goroutines GET /dashboard without pause, and how many GETs were
// answered meanwhile.
//
//	go test -run '^$' -bench Dashboard -benchtime 2000x ./matches/matchapp/
func BenchmarkDashboard(b *testing.B) {
	for _, d := range sqldbtest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			l := openLargeLog(b, d, 1_000_000)
			app, err := matchapp.New(matchapp.Config{Predictor: newTablePredictor(), Usage: l,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			getOnce := func() time.Duration {
				start := time.Now()
				w := httptest.NewRecorder()
				app.ServeHTTP(w, httptest.NewRequest("GET", "/dashboard", nil))
				if w.Code != 200 {
					b.Fatalf("GET /dashboard: %d %s", w.Code, w.Body)
				}
				return time.Since(start)
			}
			b.Run("get", func(b *testing.B) {
				var mu sync.Mutex
				lat := make([]time.Duration, 0, b.N)
				b.SetParallelism(4) // 8 goroutines on 2 cores
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					var mine []time.Duration
					for pb.Next() {
						mine = append(mine, getOnce())
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				})
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			})
			writer := func(b *testing.B, hammer bool) {
				stop := make(chan struct{})
				var gets atomic.Int64
				var wg sync.WaitGroup
				if hammer {
					for range 8 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for {
								select {
								case <-stop:
									return
								default:
								}
								getOnce()
								gets.Add(1)
							}
						}()
					}
				}
				w := predlog.NewWriter(l, predlog.WriterOptions{Capacity: b.N + 1})
				e := predlog.Entry{Home: "Argentina", Away: "France", Neutral: true, Outcome: matchwinner.HomeWin, Winner: "Argentina",
					Probability: 0.5, Probabilities: map[matchwinner.Outcome]float64{matchwinner.HomeWin: 0.5, matchwinner.Draw: 0.3, matchwinner.AwayWin: 0.2},
					ModelVersion: "bench", Variant: "3class"}
				b.ResetTimer()
				start := time.Now()
				for range b.N {
					e.ServerTime = time.Now()
					w.Enqueue(e)
				}
				if err := w.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
				elapsed := time.Since(start)
				b.StopTimer()
				close(stop)
				wg.Wait()
				if s := w.Stats(); s.Written != int64(b.N) {
					b.Fatalf("writer: %+v, want %d written", s, b.N)
				}
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "entries/s")
				if hammer {
					b.ReportMetric(float64(gets.Load())/elapsed.Seconds(), "dashboard-GETs/s")
				}
			}
			b.Run("writer-idle", func(b *testing.B) { writer(b, false) })
			b.Run("writer-hammered", func(b *testing.B) { writer(b, true) })
		})
	}
}
