// Command loadgen drives POST /api/v1/matches/predict for the match-app
// benchmark (bench/matchapp/run.sh) and prints throughput and latency
// percentiles.
//
// Two modes:
//   - -rate R: open loop at R requests/s. Request i is due at start+i/R and
//     its latency is measured from that due time, so a stalled server is
//     charged for the requests queued behind the stall (no coordinated
//     omission).
//   - -rate 0: closed loop, -c workers sending back to back (throughput).
//
// Bodies are the 32×31 ordered pairs of World Cup 2022 teams, shuffled with
// a fixed seed, cycled.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

var worldCup2022 = []string{"Argentina", "Australia", "Belgium", "Brazil", "Cameroon", "Canada", "Costa Rica", "Croatia",
	"Denmark", "Ecuador", "England", "France", "Germany", "Ghana", "IR Iran", "Japan", "Korea Republic", "Mexico", "Morocco",
	"Netherlands", "Poland", "Portugal", "Qatar", "Saudi Arabia", "Senegal", "Serbia", "Spain", "Switzerland", "Tunisia",
	"USA", "Uruguay", "Wales"}

// result is one run's summary, printed as one JSON line.
type result struct {
	Target     string  `json:"target"`
	Mode       string  `json:"mode"`
	Seconds    float64 `json:"seconds"`
	Requests   int     `json:"requests"`
	Errors     int64   `json:"errors"`
	Non200     int64   `json:"non_200"`
	Throughput float64 `json:"req_per_s"`
	P50ms      float64 `json:"p50_ms"`
	P90ms      float64 `json:"p90_ms"`
	P99ms      float64 `json:"p99_ms"`
	P999ms     float64 `json:"p99_9_ms"`
	MaxMs      float64 `json:"max_ms"`
	// LateP50ms and LateP99ms (open loop) are how late requests left this
	// program: from the due time to the moment a worker started sending.
	// They are part of the latencies above; when they are large the load
	// generator, not the server, is behind (a busy machine).
	LateP50ms float64 `json:"late_p50_ms,omitempty"`
	LateP99ms float64 `json:"late_p99_ms,omitempty"`
}

func bodies() [][]byte {
	var out [][]byte
	for _, h := range worldCup2022 {
		for _, a := range worldCup2022 {
			if h != a {
				b, _ := json.Marshal(map[string]any{"home": h, "away": a, "neutral": true})
				out = append(out, b)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/api/v1/matches/predict", "predict endpoint")
	target := flag.String("target", "", "label printed with the result")
	rate := flag.Float64("rate", 1000, "requests per second (open loop); 0 = closed loop with -c workers")
	conc := flag.Int("c", 64, "workers (closed loop) / most requests in flight (open loop)")
	dur := flag.Duration("d", 10*time.Second, "measured duration")
	warm := flag.Duration("warmup", 2*time.Second, "unmeasured warm-up at the same load")
	flag.Parse()

	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConns: *conc, MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc},
	}
	bs := bodies()
	var errs, non200 atomic.Int64
	send := func(i int) bool {
		resp, err := client.Post(*url, "application/json", bytes.NewReader(bs[i%len(bs)]))
		if err != nil {
			errs.Add(1)
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			non200.Add(1)
		}
		return true
	}
	if *warm > 0 {
		run(send, *rate, *conc, *warm)
		errs.Store(0)
		non200.Store(0)
	}
	start := time.Now()
	lat, late := run(send, *rate, *conc, *dur)
	elapsed := time.Since(start).Seconds()
	q := func(p float64) float64 { return quantileMs(lat, p) }
	mode := "closed loop, " + fmt.Sprint(*conc) + " workers"
	if *rate > 0 {
		mode = fmt.Sprintf("open loop, %.0f req/s", *rate)
	}
	res := result{Target: *target, Mode: mode, Seconds: elapsed, Requests: len(lat), Errors: errs.Load(), Non200: non200.Load(),
		Throughput: float64(len(lat)) / elapsed, P50ms: q(0.50), P90ms: q(0.90), P99ms: q(0.99), P999ms: q(0.999), MaxMs: q(1)}
	if *rate > 0 {
		res.LateP50ms, res.LateP99ms = quantileMs(late, 0.50), quantileMs(late, 0.99)
	}
	json.NewEncoder(os.Stdout).Encode(res)
}

// quantileMs is the p-quantile of d in milliseconds (d is sorted in place).
func quantileMs(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds()) / 1000
}

// run sends requests for d and returns the latencies of the completed ones
// and, in open loop, how late each left (see result.LateP99ms).
func run(send func(i int) bool, rate float64, conc int, d time.Duration) (lat, late []time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
		n  atomic.Int64
	)
	record := func(l time.Duration) { mu.Lock(); lat = append(lat, l); mu.Unlock() }
	if rate <= 0 {
		for range conc {
			wg.Go(func() {
				for ctx.Err() == nil {
					i := int(n.Add(1))
					t := time.Now()
					if send(i) {
						record(time.Since(t))
					}
				}
			})
		}
		wg.Wait()
		return lat, nil
	}
	due := make(chan time.Time, conc)
	for range conc {
		wg.Go(func() {
			for t := range due {
				lateBy := time.Since(t)
				if send(int(n.Add(1))) {
					l := time.Since(t)
					mu.Lock()
					lat, late = append(lat, l), append(late, lateBy)
					mu.Unlock()
				}
			}
		})
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; ; i++ {
		t := start.Add(time.Duration(i) * interval)
		if t.Sub(start) >= d {
			break
		}
		if w := time.Until(t); w > 0 {
			time.Sleep(w)
		}
		due <- t // blocks when conc requests are in flight: their latency keeps growing from t
	}
	close(due)
	wg.Wait()
	return lat, late
}
