// Command loadgen drives POST /api/v1/matches/predict for the match-app
// benchmark (bench/matchapp/run.sh) and prints throughput and latency
// percentiles. The generator itself is internal/loadgen (the hot-swap
// test under load uses it too); this command adds the flags and the
// summary line.
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
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/datalabhq/datalab/internal/loadgen"
)

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

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/api/v1/matches/predict", "predict endpoint")
	target := flag.String("target", "", "label printed with the result")
	rate := flag.Float64("rate", 1000, "requests per second (open loop); 0 = closed loop with -c workers")
	conc := flag.Int("c", 64, "workers (closed loop) / most requests in flight (open loop)")
	dur := flag.Duration("d", 10*time.Second, "measured duration")
	warm := flag.Duration("warmup", 2*time.Second, "unmeasured warm-up at the same load")
	flag.Parse()

	client := loadgen.Client(*conc)
	bs := loadgen.Bodies()
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
		loadgen.Run(send, *rate, *conc, *warm)
		errs.Store(0)
		non200.Store(0)
	}
	start := time.Now()
	lat, late := loadgen.Run(send, *rate, *conc, *dur)
	elapsed := time.Since(start).Seconds()
	q := func(p float64) float64 { return loadgen.QuantileMs(lat, p) }
	mode := "closed loop, " + fmt.Sprint(*conc) + " workers"
	if *rate > 0 {
		mode = fmt.Sprintf("open loop, %.0f req/s", *rate)
	}
	res := result{Target: *target, Mode: mode, Seconds: elapsed, Requests: len(lat), Errors: errs.Load(), Non200: non200.Load(),
		Throughput: float64(len(lat)) / elapsed, P50ms: q(0.50), P90ms: q(0.90), P99ms: q(0.99), P999ms: q(0.999), MaxMs: q(1)}
	if *rate > 0 {
		res.LateP50ms, res.LateP99ms = loadgen.QuantileMs(late, 0.50), loadgen.QuantileMs(late, 0.99)
	}
	json.NewEncoder(os.Stdout).Encode(res)
}
