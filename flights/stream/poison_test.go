package stream

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore/teststores"
	"github.com/datalabhq/datalab/internal/testwait"
)

// longTimestamp is a valid RFC 3339 time (Go parses any number of
// fractional digits) longer than MariaDB's VARCHAR(255) column.
var longTimestamp = "2026-11-23T10:00:00." + strings.Repeat("1", 300) + "Z"

// TestPoisonRecordsDoNotStall is issue 12's finding 1 on every store: on one
// partition, in front of 30 good requests, a request whose id is in
// urn:uuid: form (uuid.Parse takes it, PostgreSQL's and MariaDB's
// VARCHAR(36) do not), one with a 321-character Timestamp (MariaDB strict
// mode refuses it: 1406 / SQLSTATE 22001; the other stores keep it), and one
// whose id the app never issued (every store refuses the answer). The
// predictor used to retry the whole batch forever and commit nothing; now
// the good records are stored within seconds, the bad ones are in the
// dead-letter topic with their reasons, and every offset is committed.
func TestPoisonRecordsDoNotStall(t *testing.T) {
	teststores.Each(t, func(t *testing.T, ts teststores.Opened) {
		s := newStackOn(t, 1, ts.Store)
		reqs := requests(t, 33)
		good, urn, long, unissued := reqs[:30], reqs[30], reqs[31], reqs[32]
		urn.UUID = "urn:uuid:" + uuid.NewString()
		long.Timestamp = longTimestamp
		issueAll(t, s.store, append([]flightdelay.Request{long}, good...))
		type dead struct{ id, reason string }
		wantDead := []dead{{urn.UUID, "not a request id"}}
		wantStored := good
		if ts.Kind == teststores.MariaDB {
			wantDead = append(wantDead, dead{long.UUID, "22001"})
		} else {
			wantStored = append([]flightdelay.Request{long}, good...)
		}
		wantDead = append(wantDead, dead{unissued.UUID, "not issued"})

		var recs []*kgo.Record
		for _, r := range append([]flightdelay.Request{urn, long, unissued}, good...) {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, &kgo.Record{Topic: s.topics.Request, Key: []byte(r.UUID), Value: b})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := s.prod.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		p := s.predictor(t, 500) // one batch: the poison shares it with the good records
		_, stop := run(p)
		defer stop()

		start := time.Now()
		waitCount(t, s.store, int64(len(wantStored)), 15*time.Second)
		t.Logf("%s: %d stored %s after the predictor started", ts.Kind, len(wantStored), time.Since(start).Round(time.Millisecond))
		checkAll(t, s.store, wantStored)
		got := deadLetters(t, s, len(wantDead))
		for i, w := range wantDead {
			if got[i].key != w.id || !strings.Contains(got[i].reason, w.reason) {
				t.Errorf("dead letter %d: key %s reason %q; want key %s, reason with %q", i, got[i].key, got[i].reason, w.id, w.reason)
			}
		}
		waitCommitted(t, s, int64(len(recs)))
		if st := p.Stats(); st.DeadLettered != int64(len(wantDead)) {
			t.Errorf("stats %+v: want %d dead-lettered", st, len(wantDead))
		}
		if code, body := healthz(p); code != 200 || !strings.Contains(body, `"lag":0`) {
			t.Errorf("/healthz after the batch: %d %s, want 200 with lag 0", code, body)
		}
	})
}

// TestStuckPredictorUnhealthy: a store that answers its ping but refuses
// every write with an error that is not a data error (here its table was
// renamed away; a revoked grant or a full disk look the same) is retried
// forever and nothing is dead-lettered — and /healthz, which used to stay
// 200, answers 503 saying the predictor is stuck once records have waited
// longer than StuckAfter; /metrics shows the lag and the age of the last
// commit. When the table is back the records are stored and it is healthy.
func TestStuckPredictorUnhealthy(t *testing.T) {
	for _, k := range []teststores.Kind{teststores.SQLite, teststores.Postgres, teststores.MariaDB} {
		t.Run(string(k), func(t *testing.T) {
			ts := teststores.Open(t, k)
			s := newStackOn(t, 1, ts.Store)
			reqs := requests(t, 20)
			issueAll(t, s.store, reqs)
			table, away := ts.SQL.Table(), ts.SQL.Table()+"_away"
			rename := func(from, to string) {
				t.Helper()
				if _, err := ts.SQL.DB().Exec("ALTER TABLE " + from + " RENAME TO " + to); err != nil {
					t.Fatal(err)
				}
			}
			rename(table, away)
			t.Cleanup(func() { ts.SQL.DB().Exec("DROP TABLE IF EXISTS " + away) })
			publish(t, s.prod, reqs)
			reg := prometheus.NewRegistry()
			p := s.predictorWith(t, func(c *PredictorConfig) { c.StuckAfter = time.Second; c.Registerer = reg })
			_, stop := run(p)
			defer stop()
			joined(t, p)

			var code int
			var body string
			testwait.Poll(15*time.Second, 50*time.Millisecond, func() bool { code, body = healthz(p); return code == 503 })
			if code != 503 || !strings.Contains(body, "stuck") || !strings.Contains(body, "20 records waiting") {
				t.Fatalf("/healthz while every write fails: %d %s, want 503 stuck with 20 records waiting", code, body)
			}
			m := metrics(t, reg)
			if !strings.Contains(m, "datalab_flight_predictor_lag_records 20\n") || !strings.Contains(m, "datalab_flight_predictor_last_commit_age_seconds ") {
				t.Errorf("/metrics while stuck lacks the lag (20) or the last-commit age:\n%s", m)
			}
			if st := p.Stats(); st.DeadLettered != 0 || st.Committed != 0 || st.Retries == 0 {
				t.Fatalf("stats while stuck %+v: want retries, nothing dead-lettered or committed", st)
			}
			rename(away, table)
			waitCount(t, s.store, 20, 15*time.Second)
			checkAll(t, s.store, reqs)
			waitCommitted(t, s, 20)
			testwait.Poll(10*time.Second, 50*time.Millisecond, func() bool { code, body = healthz(p); return code == 200 })
			if code != 200 || !strings.Contains(body, `"lag":0`) {
				t.Fatalf("/healthz after the table came back: %d %s", code, body)
			}
		})
	}
}

// TestDatabaseDownNeverDeadLetters stops the FerretDB server under the
// predictor: the driver's connection errors are transient, so the
// predictor retries and dead-letters nothing, and once the server is back
// every request is stored.
func TestDatabaseDownNeverDeadLetters(t *testing.T) {
	ts := teststores.Open(t, teststores.FerretDB)
	s := newStackOn(t, 1, ts.Store)
	reqs := requests(t, 20)
	issueAll(t, s.store, reqs)
	ts.Ferret.Stop()
	publish(t, s.prod, reqs)
	p := s.predictorWith(t, func(c *PredictorConfig) { c.StoreTimeout = 500 * time.Millisecond })
	_, stop := run(p)
	defer stop()
	testwait.Until(t, 15*time.Second, 20*time.Millisecond, "the predictor to retry the store 3 times", func() bool { return p.Stats().Retries >= 3 })
	if code, body := healthz(p); code != 503 {
		t.Errorf("/healthz with the database down: %d %s", code, body)
	}
	ts.Ferret.Restart()
	waitCount(t, s.store, 20, 20*time.Second)
	checkAll(t, s.store, reqs)
	waitCommitted(t, s, 20)
	if st := p.Stats(); st.DeadLettered != 0 {
		t.Fatalf("stats %+v: dead-lettered while the database was down", st)
	}
}

// deadLetter is a record of the dead-letter topic.
type deadLetter struct{ key, reason string }

// deadLetters reads the first n records of the dead-letter topic.
func deadLetters(t *testing.T, s *stack, n int) []deadLetter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker.Addr()), kgo.ConsumeTopics(s.topics.DeadLetter),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []deadLetter
	for len(out) < n {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("dead-letter topic has %d records %v, want %d", len(out), out, n)
		}
		f.EachRecord(func(r *kgo.Record) {
			d := deadLetter{key: string(r.Key)}
			for _, h := range r.Headers {
				if h.Key == HeaderReason {
					d.reason = string(h.Value)
				}
			}
			out = append(out, d)
		})
	}
	return out
}

// waitCommitted waits until the group's committed offsets on the request
// topic sum to n.
func waitCommitted(t *testing.T, s *stack, n int64) {
	t.Helper()
	var c int64
	if !testwait.Poll(10*time.Second, 20*time.Millisecond, func() bool {
		c = committed(t, s.broker.Addr(), "datalab-flight-predictor", s.topics.Request)
		return c == n
	}) {
		t.Fatalf("committed offsets sum to %d, want %d", c, n)
	}
}

// joined waits until p is in its consumer group.
func joined(t *testing.T, p *Predictor) {
	t.Helper()
	if !testwait.Poll(15*time.Second, 20*time.Millisecond, func() bool { return p.Health().Err() == nil }) {
		t.Fatalf("predictor not in its group: %v", p.Health().Err())
	}
}

// healthz is p's /healthz answer.
func healthz(p *Predictor) (int, string) {
	rec := httptest.NewRecorder()
	p.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	return rec.Code, rec.Body.String()
}

// metrics is reg's /metrics page.
func metrics(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}
