// Command flights benchmarks the flight-delay streaming stack on loopback,
// in one process: embedded broker, flight app on a real TCP listener,
// predictor, and a store (SQLite by default).
//
// Two measurements:
//
//  1. Open-loop load: POST /flights/delays/predict/classify_realtime at a
//     fixed rate for a fixed time. For every request, the latency from the
//     start of the POST to the moment its prediction is stored (the store
//     is wrapped to time each upsert), plus the POST's own latency;
//     p50/p90/p99/max and the sustained rate of stored predictions.
//  2. Predictor throughput: N requests published with no predictor
//     running, then one predictor drains the backlog; messages/s.
//
// Usage: go run ./bench/flights [-rate 500] [-duration 20s] [-backlog 20000] [-store DSN]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"encoding/json"

	"github.com/datalabhq/datalab/flights/flightapp"
	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/flights/flightstore/sqlstore"
	"github.com/datalabhq/datalab/flights/stream"
	"github.com/datalabhq/datalab/pipeline/ingest"
	"github.com/datalabhq/datalab/pipeline/serve"
	"github.com/datalabhq/datalab/pipeline/sqldb"
)

// timedStore records when each UUID's prediction was stored.
type timedStore struct {
	flightstore.Store
	mu     sync.Mutex
	stored map[string]time.Time
	n      atomic.Int64
}

func (t *timedStore) Upsert(ctx context.Context, docs ...flightdelay.Prediction) error {
	if err := t.Store.Upsert(ctx, docs...); err != nil {
		return err
	}
	now := time.Now()
	t.mu.Lock()
	for _, d := range docs {
		if _, ok := t.stored[d.UUID]; !ok {
			t.stored[d.UUID] = now
		}
	}
	t.mu.Unlock()
	t.n.Add(int64(len(docs)))
	return nil
}

func (t *timedStore) at(id string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.stored[id]
	return v, ok
}

func main() {
	rate := flag.Int("rate", 500, "requests per second (open loop)")
	dur := flag.Duration("duration", 20*time.Second, "load duration")
	backlog := flag.Int("backlog", 20000, "requests in the predictor-throughput backlog")
	storeDSN := flag.String("store", "", "store DSN (default: a SQLite file in a temp dir)")
	model := flag.String("model", "data/spark-flight-delay-3.3.3", "flight model directory")
	dist := flag.String("distances", "data/distances/origin_dest_distances.jsonl", "distance table")
	flag.Parse()
	if err := run(*rate, *dur, *backlog, *storeDSN, *model, *dist); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func openStore(ctx context.Context, dsn, dir, name string) (flightstore.Store, error) {
	if dsn == "" {
		dsn = filepath.Join(dir, name+".db")
	} else if _, err := sqldb.DialectOf(dsn); err != nil {
		return nil, err
	}
	st, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if _, err := st.DB().ExecContext(ctx, "DELETE FROM "+sqlstore.Table); err != nil {
		return nil, err
	}
	return st, nil
}

func run(rate int, dur time.Duration, backlog int, dsn, model, distPath string) error {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sc, err := flightdelay.LoadScorer(model)
	if err != nil {
		return err
	}
	dist, err := ingest.LoadDistances(distPath)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "flights-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Printf("machine: %d CPUs, %s, store %s\n", runtime.NumCPU(), runtime.Version(), storeName(dsn))

	// 1. Open-loop load through the whole stack.
	base, err := openStore(ctx, dsn, dir, "load")
	if err != nil {
		return err
	}
	ts := &timedStore{Store: base, stored: map[string]time.Time{}}
	stack, err := flightapp.StartStack(ctx, flightapp.StackConfig{EmbeddedAddr: "127.0.0.1:0", Scorer: sc,
		Distances: dist, Store: ts, Logger: log})
	if err != nil {
		return err
	}
	// Served as serve-flights serves it (timeouts and all).
	srvCtx, stopServer := context.WithCancel(ctx)
	defer stopServer()
	addrc, served := make(chan string, 1), make(chan error, 1)
	go func() {
		served <- serve.Serve(srvCtx, serve.ServerConfig{Addr: "127.0.0.1:0", Handler: stack.App, Logger: log,
			Ready: func(a string) { addrc <- a }})
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-served:
		return err
	}
	target := "http://" + addr + "/flights/delays/predict/classify_realtime"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 512}, Timeout: 10 * time.Second}
	forms := benchForms()

	type sent struct {
		id         string
		start, ack time.Time
	}
	// Warm up (connections, JIT-free but caches and the consumer group).
	for i := 0; i < 50; i++ {
		if _, err := post(client, target, forms[i%len(forms)]); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	time.Sleep(time.Second)

	n := int(float64(rate) * dur.Seconds())
	results := make([]sent, n)
	var failures atomic.Int64
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	begin := time.Now()
	for i := 0; i < n; i++ {
		due := begin.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			start := time.Now()
			id, err := post(client, target, forms[i%len(forms)])
			if err != nil {
				failures.Add(1)
				return
			}
			results[i] = sent{id: id, start: start, ack: time.Now()}
		}(i)
	}
	wg.Wait()
	sendEnd := time.Now()
	// Wait for the stragglers to be stored.
	deadline := time.Now().Add(30 * time.Second)
	var e2e, ack []time.Duration
	var lastStored time.Time
	for _, r := range results {
		if r.id == "" {
			continue
		}
		for {
			at, ok := ts.at(r.id)
			if ok {
				e2e = append(e2e, at.Sub(r.start))
				ack = append(ack, r.ack.Sub(r.start))
				if at.After(lastStored) {
					lastStored = at
				}
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("request %s never stored", r.id)
			}
			time.Sleep(time.Millisecond)
		}
	}
	stopServer()
	if err := <-served; err != nil {
		return err
	}
	stack.Close()
	base.Close()
	elapsed := lastStored.Sub(begin)
	fmt.Printf("\n## open loop: %d req/s offered for %v (%d requests, %d failed)\n", rate, dur, n, failures.Load())
	fmt.Printf("sent in %.2fs; last prediction stored %.2fs after the first request\n", sendEnd.Sub(begin).Seconds(), elapsed.Seconds())
	fmt.Printf("sustained: %.0f stored predictions/s\n", float64(len(e2e))/elapsed.Seconds())
	fmt.Printf("request → stored prediction: %s\n", summary(e2e))
	fmt.Printf("POST classify_realtime:      %s\n", summary(ack))

	// 2. Predictor throughput on a backlog.
	bst, err := openStore(ctx, dsn, dir, "backlog")
	if err != nil {
		return err
	}
	defer bst.Close()
	bts := &timedStore{Store: bst, stored: map[string]time.Time{}}
	bstack, err := flightapp.StartStack(ctx, flightapp.StackConfig{EmbeddedAddr: "127.0.0.1:0", Scorer: sc,
		Distances: dist, Store: bts, NoPredictor: true, Logger: log})
	if err != nil {
		return err
	}
	defer bstack.Close()
	e := &flightdelay.Enricher{Distances: dist, Scorer: sc}
	pubStart := time.Now()
	sem := make(chan struct{}, 256)
	var pubErr atomic.Value
	for i := 0; i < backlog; i++ {
		f := forms[i%len(forms)]
		req, err := e.Enrich(flightdelay.Form{DepDelay: f.Get("DepDelay"), Carrier: f.Get("Carrier"), FlightDate: f.Get("FlightDate"), Origin: f.Get("Origin"), Dest: f.Get("Dest")})
		if err != nil {
			return err
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// Issued first, as the app does: the store refuses answers
			// for ids never issued.
			if err := bts.Issue(ctx, req.UUID, time.Now()); err != nil {
				pubErr.Store(err)
				return
			}
			if err := bstack.Producer.Publish(ctx, req); err != nil {
				pubErr.Store(err)
			}
		}()
	}
	wg.Wait()
	if err, _ := pubErr.Load().(error); err != nil {
		return err
	}
	pubDur := time.Since(pubStart)
	pr, err := stream.NewPredictor(stream.PredictorConfig{Brokers: bstack.Brokers, Topics: stream.DefaultTopics(),
		Scorer: sc, Store: bts, Logger: log})
	if err != nil {
		return err
	}
	pctx, cancel := context.WithCancel(ctx)
	start := time.Now()
	done := make(chan struct{})
	go func() { pr.Run(pctx); close(done) }()
	for bts.n.Load() < int64(backlog) {
		if time.Since(start) > 2*time.Minute {
			cancel()
			return errors.New("backlog not drained in 2 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	drain := time.Since(start)
	cancel()
	<-done
	st := pr.Stats()
	fmt.Printf("\n## predictor throughput: backlog of %d requests (published in %.2fs, %.0f msg/s through the producer)\n", backlog, pubDur.Seconds(), float64(backlog)/pubDur.Seconds())
	fmt.Printf("drained in %.2fs (including group join): %.0f messages/s; %d batches, %.0f records/batch\n",
		drain.Seconds(), float64(backlog)/drain.Seconds(), st.Batches, float64(st.Stored)/float64(max(st.Batches, 1)))
	return nil
}

func storeName(dsn string) string {
	if dsn == "" {
		return "SQLite (temp file, WAL, synchronous=NORMAL)"
	}
	d, _ := sqldb.DialectOf(dsn)
	return string(d)
}

func post(c *http.Client, target string, form url.Values) (string, error) {
	resp, err := c.Post(target, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct{ Status, ID, Error string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || body.Status != "OK" {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, body.Error)
	}
	return body.ID, nil
}

// benchForms are valid forms over several routes, carriers, dates and delays.
func benchForms() []url.Values {
	var out []url.Values
	routes := [][3]string{{"AA", "ATL", "SFO"}, {"DL", "ATL", "LAX"}, {"UA", "SFO", "ORD"}, {"WN", "LAS", "PHX"},
		{"AA", "DFW", "ORD"}, {"B6", "JFK", "BOS"}, {"AS", "SEA", "ANC"}, {"OO", "DEN", "SLC"}}
	for i, r := range routes {
		for d := 0; d < 8; d++ {
			out = append(out, url.Values{"DepDelay": {fmt.Sprint(d*9 - 15)}, "Carrier": {r[0]}, "Origin": {r[1]}, "Dest": {r[2]},
				"FlightDate": {fmt.Sprintf("2015-01-%02d", 1+(i*8+d)%31)}})
		}
	}
	return out
}

func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	r := func(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s  (n=%d)", r(q(0.50)), r(q(0.90)), r(q(0.99)), r(ds[len(ds)-1]), len(ds))
}
