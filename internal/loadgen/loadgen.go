// Package loadgen drives an HTTP endpoint for benchmarks and load tests:
// at a fixed rate (open loop) or as fast as a number of workers can send
// (closed loop), with the match app's request bodies. It is the core of
// bench/matchapp/loadgen (the match-app benchmark) and of the hot-swap
// test under load (matches/matchapp/swaptest), which inspects every answer
// through its own send function.
package loadgen

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// WorldCup2022 are the 32 teams of the 2022 World Cup, as the match
// models name them.
var WorldCup2022 = []string{"Argentina", "Australia", "Belgium", "Brazil", "Cameroon", "Canada", "Costa Rica", "Croatia",
	"Denmark", "Ecuador", "England", "France", "Germany", "Ghana", "IR Iran", "Japan", "Korea Republic", "Mexico", "Morocco",
	"Netherlands", "Poland", "Portugal", "Qatar", "Saudi Arabia", "Senegal", "Serbia", "Spain", "Switzerland", "Tunisia",
	"USA", "Uruguay", "Wales"}

// Bodies are the JSON bodies of POST /api/v1/matches/predict for the 32×31
// ordered pairs of WorldCup2022 (neutral ground), shuffled with a fixed
// seed: the same sequence every run.
func Bodies() [][]byte {
	var out [][]byte
	for _, h := range WorldCup2022 {
		for _, a := range WorldCup2022 {
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

// Client is an HTTP client for conc requests in flight to one host: as
// many idle connections kept as may be in use, a 10 s timeout.
func Client(conc int) *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConns: conc, MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc},
	}
}

// Run calls send(i) (i = 1, 2, …) for d and returns the latencies of the
// calls that reported success and, in open loop, how late each left.
//
//   - rate > 0: open loop at rate calls/s, at most conc in flight. Call i
//     is due at start+(i-1)/rate and its latency is measured from that due
//     time, so a stalled server is charged for the calls queued behind the
//     stall (no coordinated omission); late is from the due time to the
//     moment a worker began the call (when large, the load generator, not
//     the server, is behind). The calls due before d are all made.
//   - rate <= 0: closed loop, conc workers calling back to back; late is nil.
func Run(send func(i int) bool, rate float64, conc int, d time.Duration) (lat, late []time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return run(ctx, send, rate, conc, d)
}

// RunUntil is Run until ctx ends instead of for a fixed time: for a load
// test that stops once what it waits for under load has happened.
func RunUntil(ctx context.Context, send func(i int) bool, rate float64, conc int) (lat, late []time.Duration) {
	return run(ctx, send, rate, conc, 0)
}

// run is Run and RunUntil: until ctx ends, and in open loop only calls due
// before limit (0: no limit).
func run(ctx context.Context, send func(i int) bool, rate float64, conc int, limit time.Duration) (lat, late []time.Duration) {
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
		if limit > 0 && t.Sub(start) >= limit {
			break
		}
		if w := time.Until(t); w > 0 {
			time.Sleep(w)
		}
		if limit == 0 && ctx.Err() != nil {
			break
		}
		due <- t // blocks when conc requests are in flight: their latency keeps growing from t
	}
	close(due)
	wg.Wait()
	return lat, late
}

// QuantileMs is the p-quantile of d in milliseconds (d is sorted in
// place); 0 for no durations.
func QuantileMs(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds()) / 1000
}
