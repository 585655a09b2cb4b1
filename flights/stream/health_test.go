package stream

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore"
)

// TestGroupHealth: the consumer counts as in its group from an answered
// sync or heartbeat until a session failure or 10 s without one.
func TestGroupHealth(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	h := NewGroupHealth("g")
	h.now = func() time.Time { return now }
	answered := func(k kmsg.Key) { h.OnBrokerE2E(kgo.BrokerMetadata{}, int16(k), kgo.BrokerE2E{}) }
	want := func(step, reason string) {
		t.Helper()
		err := h.Err()
		switch {
		case reason == "" && err != nil:
			t.Errorf("%s: %v, want healthy", step, err)
		case reason != "" && (err == nil || !strings.Contains(err.Error(), reason)):
			t.Errorf("%s: %v, want %q", step, err, reason)
		}
	}
	want("start", `not in consumer group "g" yet`)
	h.OnBrokerE2E(kgo.BrokerMetadata{}, int16(kmsg.Metadata), kgo.BrokerE2E{WriteErr: errors.New("dial tcp 127.0.0.1:9092: connect: connection refused")})
	want("broker down", "last error: dial tcp 127.0.0.1:9092: connect: connection refused")
	answered(kmsg.Fetch)
	want("fetch answered, not joined", "not in consumer group")
	answered(kmsg.SyncGroup)
	want("joined", "")
	now = now.Add(9 * time.Second)
	want("9 s later", "")
	now = now.Add(2 * time.Second)
	want("11 s later", `no heartbeat answered in consumer group "g" for 11s`)
	answered(kmsg.Heartbeat)
	want("heartbeat", "")
	now = now.Add(time.Second)
	h.OnGroupManageError(errors.New("UNKNOWN_MEMBER_ID"))
	want("session lost", "session lost, rejoining (last error: UNKNOWN_MEMBER_ID)")
	now = now.Add(time.Second)
	answered(kmsg.SyncGroup)
	want("rejoined", "")
}

// pingStore is a store whose Ping answers err; nothing else is called.
type pingStore struct {
	flightstore.Store
	err error
}

func (s pingStore) Ping(context.Context) error { return s.err }

// idlePredictor is a predictor that is never run, over st, registering its
// metrics on reg when set.
func idlePredictor(t *testing.T, group string, st flightstore.Store, reg prometheus.Registerer) *Predictor {
	t.Helper()
	p, err := NewPredictor(PredictorConfig{Brokers: []string{"127.0.0.1:1"}, Group: group, Topics: DefaultTopics(),
		Scorer: &flightdelay.Scorer{}, Store: st, Logger: slog.New(slog.DiscardHandler), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPredictorHealthHandler(t *testing.T) {
	for _, c := range []struct {
		name   string
		joined bool
		store  flightstore.Store
		code   int
		want   string
	}{
		{"healthy", true, pingStore{}, 200, `{"group":"g","lag":0,"lastCommitAgeSeconds":0,"stats":{"stored":7,"deadLettered":0,"committed":0,"retries":0,"batches":0},"status":"OK"}`},
		{"not joined", false, pingStore{}, 503, `{"error":"kafka: not in consumer group \"g\" yet","lag":0,"lastCommitAgeSeconds":0,"status":"ERROR"}`},
		{"store down", true, pingStore{err: errors.New("dial tcp 10.0.0.5:5432: i/o timeout")}, 503, `{"error":"store: dial tcp 10.0.0.5:5432: i/o timeout","lag":0,"lastCommitAgeSeconds":0,"status":"ERROR"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := idlePredictor(t, "g", c.store, nil)
			p.stored.Store(7)
			if c.joined {
				p.Health().OnBrokerE2E(kgo.BrokerMetadata{}, int16(kmsg.Heartbeat), kgo.BrokerE2E{})
			}
			rec := httptest.NewRecorder()
			p.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
			if rec.Code != c.code || strings.TrimSpace(rec.Body.String()) != c.want {
				t.Errorf("%d %s, want %d %s", rec.Code, rec.Body, c.code, c.want)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// servedModel is a Models that serves a fixed Served.
type servedModel flightdelay.Served

func (m servedModel) Snapshot() (flightdelay.Served, func()) { return flightdelay.Served(m), func() {} }

// TestPredictorHealthNamesModelVersion: a predictor serving a registry
// version says which, the alias it follows and since when.
func TestPredictorHealthNamesModelVersion(t *testing.T) {
	since := time.Date(2026, 11, 23, 12, 0, 0, 500, time.UTC)
	p, err := NewPredictor(PredictorConfig{Brokers: []string{"127.0.0.1:1"}, Group: "g", Topics: DefaultTopics(),
		Models: servedModel{Scorer: &flightdelay.Scorer{}, Version: strings.Repeat("ab", 32), Alias: "champion", Since: since},
		Store:  pingStore{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	p.Health().OnBrokerE2E(kgo.BrokerMetadata{}, int16(kmsg.Heartbeat), kgo.BrokerE2E{})
	rec := httptest.NewRecorder()
	p.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	want := `{"alias":"champion","group":"g","lag":0,"lastCommitAgeSeconds":0,"model":"` + strings.Repeat("ab", 32) + `","model_version":"` + strings.Repeat("ab", 32) +
		`","since":"2026-11-23T12:00:00.0000005Z","stats":{"stored":0,"deadLettered":0,"committed":0,"retries":0,"batches":0},"status":"OK"}`
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != want {
		t.Errorf("%d %s, want 200 %s", rec.Code, rec.Body, want)
	}
}

// TestPredictorMetricsFromStart: every outcome and step series is on
// /metrics at 0 before the first event, and the membership gauge follows
// the group.
func TestPredictorMetricsFromStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := idlePredictor(t, "g", pingStore{}, reg)
	reg.MustRegister(p.Health().MembershipGauge())
	metrics := func() string {
		t.Helper()
		rec := httptest.NewRecorder()
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	body := metrics()
	for _, m := range []string{
		`datalab_flight_predictor_records_total{outcome="stored"} 0`,
		`datalab_flight_predictor_records_total{outcome="dead_letter"} 0`,
		`datalab_flight_predictor_retries_total{step="store"} 0`,
		`datalab_flight_predictor_retries_total{step="publish"} 0`,
		`datalab_flight_predictor_retries_total{step="commit"} 0`,
		`datalab_flight_predictor_batch_seconds_count 0`,
		`datalab_flight_predictor_group_member 0`,
	} {
		if !strings.Contains(body, m+"\n") {
			t.Errorf("/metrics before any event lacks %q:\n%s", m, body)
		}
	}
	p.Health().OnBrokerE2E(kgo.BrokerMetadata{}, int16(kmsg.SyncGroup), kgo.BrokerE2E{})
	if body := metrics(); !strings.Contains(body, "datalab_flight_predictor_group_member 1\n") {
		t.Errorf("/metrics after joining the group lacks the member gauge at 1:\n%s", body)
	}
}

// TestProgress follows lag and waiting time through polls, failures,
// commits and revocations on a fixed clock, and the stuck verdict /healthz
// gives on it.
func TestProgress(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	pr := newProgress()
	pr.now = func() time.Time { return now }
	recs := func(p int32, from, to int64) []*kgo.Record {
		var out []*kgo.Record
		for o := from; o < to; o++ {
			out = append(out, &kgo.Record{Topic: "req", Partition: p, Offset: o})
		}
		return out
	}
	poll := func(p int32, hwm int64, rs []*kgo.Record) {
		pr.polled(kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "req",
			Partitions: []kgo.FetchPartition{{Partition: p, HighWatermark: hwm, Records: rs}}}}}})
	}
	want := func(step string, lag int64, waiting time.Duration, stuck string) {
		t.Helper()
		s := pr.state()
		err := s.stuck(30 * time.Second)
		if s.Lag != lag || s.Waiting != waiting || (stuck == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), stuck)) {
			t.Errorf("%s: lag %d waiting %s stuck %v; want %d %s %q", step, s.Lag, s.Waiting, err, lag, waiting, stuck)
		}
	}
	want("start", 0, 0, "")
	poll(0, 0, nil)
	want("empty poll", 0, 0, "")
	poll(0, 110, recs(0, 100, 110)) // the committed position is 100
	want("polled", 10, 0, "")
	now = now.Add(20 * time.Second)
	pr.failed(stepStore, errors.New("relation does not exist"))
	want("20 s of failures", 10, 20*time.Second, "")
	now = now.Add(11 * time.Second)
	want("31 s", 10, 31*time.Second, "stuck: 10 records waiting on assigned partitions, no commit for 31s (threshold 30s); last error: store: relation does not exist")
	poll(1, 5, recs(1, 0, 5))
	want("a second partition", 15, 31*time.Second, "15 records waiting")
	pr.committed(recs(0, 100, 110))
	want("partition 0 committed", 5, 0, "")
	now = now.Add(time.Minute)
	want("a minute later", 5, time.Minute, "no commit for 1m0s (threshold 30s)")
	pr.revoked(map[string][]int32{"req": {1}})
	want("partition 1 revoked", 0, 0, "")
	now = now.Add(time.Hour)
	want("idle an hour", 0, 0, "")
	poll(0, 111, recs(0, 110, 111))
	now = now.Add(time.Second)
	want("new record after idling", 1, time.Second, "")
}
