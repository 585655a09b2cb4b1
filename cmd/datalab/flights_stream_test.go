package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore/sqlstore"
	"github.com/datalabhq/datalab/flights/flighttest"
	"github.com/datalabhq/datalab/flights/stream"
	"github.com/datalabhq/datalab/internal/testwait"
	"github.com/datalabhq/datalab/pipeline/serve"
)

// TestPredictorEndpoint runs `datalab predictor` against the embedded
// broker: /healthz turns 200 once it is in its group, /metrics counts a
// stored prediction, `datalab healthcheck` agrees, and /healthz turns 503
// with a Kafka reason when the broker goes away.
func TestPredictorEndpoint(t *testing.T) {
	model := flighttest.ModelDir(t)
	b, err := stream.StartBroker(stream.BrokerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	o := predictorOptions{group: "endpoint-test", addr: "127.0.0.1:0"}
	o.model, o.store, o.brokers = model, filepath.Join(t.TempDir(), "flights.sqlite"), b.Addr()
	o.topics, o.partitions = stream.DefaultTopics(), 1
	log := slog.New(slog.DiscardHandler)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done := startPredictorEndpoint(t, ctx, o, log)
	get := func(path string) (int, string) {
		t.Helper()
		return getBody(t, base+path)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		testwait.Until(t, 30*time.Second, 50*time.Millisecond, what, cond)
	}

	var code int
	var body string
	waitFor("/healthz 200", func() bool { code, body = get("/healthz"); return code == 200 })
	var h struct{ Status, Group string }
	if err := json.Unmarshal([]byte(body), &h); err != nil || h.Status != "OK" || h.Group != "endpoint-test" {
		t.Errorf("/healthz body %s (%v)", body, err)
	}
	var out bytes.Buffer
	if err := runHealthcheck(ctx, base+"/healthz", 2*time.Second, &out); err != nil {
		t.Errorf("datalab healthcheck: %v", err)
	}
	// Served behind the apps' layer: the same security headers and request
	// id on every answer.
	for _, path := range []string{"/healthz", "/metrics", "/nowhere"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if h.Get("Content-Security-Policy") != serve.ContentSecurityPolicy() || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" || len(h.Get(serve.RequestIDHeader)) != 16 {
			t.Errorf("%s: %d without the serving layer's headers: %v", path, resp.StatusCode, h)
		}
	}

	// One request through Kafka shows on /metrics.
	sc, dist := flighttest.Fixtures(t)
	req, err := (&flightdelay.Enricher{Distances: dist, Scorer: sc}).Enrich(flightdelay.DefaultForm)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := stream.NewProducer([]string{b.Addr()}, o.topics.Request)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	// Issued first, as the web app does: the store refuses answers for ids
	// never issued.
	st, err := sqlstore.Open(ctx, o.store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Issue(ctx, req.UUID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := prod.Publish(ctx, req); err != nil {
		t.Fatal(err)
	}
	// The record counts as stored before its batch is committed; the batch
	// time is observed after the commit, so both are waited for.
	waitFor("the stored prediction and its committed batch on /metrics", func() bool {
		_, body = get("/metrics")
		return strings.Contains(body, `datalab_flight_predictor_records_total{outcome="stored"} 1`) &&
			strings.Contains(body, "datalab_flight_predictor_batch_seconds_count 1")
	})
	for _, m := range []string{"datalab_flight_predictor_group_member 1",
		`datalab_flight_predictor_records_total{outcome="dead_letter"} 0`, "go_goroutines", "process_cpu_seconds_total",
		// The apps' HTTP metrics, labelled app="predictor".
		`datalab_http_requests_total{app="predictor",code="200",handler="healthz",method="get"} `,
		`datalab_http_requests_total{app="predictor",code="200",handler="metrics",method="get"} `,
		`datalab_http_request_duration_seconds_count{app="predictor",handler="healthz"} `} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}

	// The broker goes away: not ready, with the reason.
	prod.Close()
	b.Close()
	waitFor("/healthz 503 after the broker closed", func() bool { code, body = get("/healthz"); return code == 503 })
	if !strings.Contains(body, `"error":"kafka: `) {
		t.Errorf("/healthz 503 body %s, want a kafka reason", body)
	}
	if err := runHealthcheck(ctx, base+"/healthz", 2*time.Second, &out); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("datalab healthcheck with the broker gone: %v", err)
	}
	if _, body = get("/metrics"); !strings.Contains(body, "datalab_flight_predictor_group_member 0") {
		t.Error("/metrics still reports group membership with the broker gone")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runPredictor after cancel: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("runPredictor did not stop")
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		t.Error("the endpoint still accepts connections after the predictor stopped")
	}
}

// startPredictorEndpoint runs runPredictor(ctx, o) in the background and
// returns its endpoint's base URL once it listens, and where
// runPredictor's result arrives.
func startPredictorEndpoint(t *testing.T, ctx context.Context, o predictorOptions, log *slog.Logger) (base string, done <-chan error) {
	t.Helper()
	addrc, result := make(chan string, 1), make(chan error, 1)
	go func() { result <- runPredictor(ctx, o, log, func(a string) { addrc <- a }) }()
	select {
	case a := <-addrc:
		return "http://" + a, result
	case err := <-result:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("the endpoint did not start listening")
	}
	return "", nil
}

// getBody GETs url: the status and the body.
func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// A taken --addr fails at startup, before the predictor joins its group.
func TestPredictorAddrInUse(t *testing.T) {
	model := flighttest.ModelDir(t)
	b, err := stream.StartBroker(stream.BrokerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	o := predictorOptions{group: "addr-test", addr: taken.Addr().String()}
	o.model, o.store, o.brokers = model, filepath.Join(t.TempDir(), "flights.sqlite"), b.Addr()
	o.topics, o.partitions = stream.DefaultTopics(), 1
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = runPredictor(ctx, o, slog.New(slog.DiscardHandler), nil)
	if err == nil || !strings.Contains(err.Error(), "listen on "+taken.Addr().String()) {
		t.Fatalf("runPredictor on a taken address: %v", err)
	}
}
