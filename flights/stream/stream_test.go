package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/flights/flightstore/sqlstore"
	"github.com/datalabhq/datalab/flights/flighttest"
	"github.com/datalabhq/datalab/internal/testwait"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// requests builds n valid requests over a few routes and dates.
func requests(t testing.TB, n int) []flightdelay.Request {
	s, d := flighttest.Fixtures(t)
	e := &flightdelay.Enricher{Distances: d, Scorer: s}
	routes := [][3]string{{"AA", "ATL", "SFO"}, {"DL", "ATL", "LAX"}, {"UA", "SFO", "ORD"}, {"WN", "LAS", "PHX"}}
	out := make([]flightdelay.Request, n)
	for i := range out {
		r := routes[i%len(routes)]
		req, err := e.Enrich(flightdelay.Form{DepDelay: fmt.Sprint(i%120 - 20), Carrier: r[0], Origin: r[1], Dest: r[2],
			FlightDate: time.Date(2015, 1, 1+i%31, 0, 0, 0, 0, time.UTC).Format(flightdelay.DateLayout)})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = req
	}
	return out
}

// watchedStore wraps a store: it can be taken down, and reports upserts.
type watchedStore struct {
	flightstore.Store
	down     atomic.Bool
	upserted atomic.Int64
	after    func(total int64)
}

func (w *watchedStore) Upsert(ctx context.Context, docs ...flightdelay.Prediction) error {
	if w.down.Load() {
		return errors.New("database is down")
	}
	if err := w.Store.Upsert(ctx, docs...); err != nil {
		return err
	}
	n := w.upserted.Add(int64(len(docs)))
	if w.after != nil {
		w.after(n)
	}
	return nil
}

type stack struct {
	broker *Broker
	store  *watchedStore
	prod   *Producer
	topics Topics
}

// newStack is newStackOn over a SQLite store in the test's directory.
func newStack(t *testing.T, partitions int32) *stack {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "flights.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newStackOn(t, partitions, st)
}

// newStackOn starts an embedded broker with the predictor's topics of
// partitions partitions, and a producer, over st.
func newStackOn(t *testing.T, partitions int32, st flightstore.Store) *stack {
	t.Helper()
	b, err := StartBroker(BrokerConfig{Addr: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "kafka")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	topics := DefaultTopics()
	prod, err := NewProducer([]string{b.Addr()}, topics.Request)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, prod.Client(), partitions, topics.All()...); err != nil {
		t.Fatal(err)
	}
	return &stack{broker: b, store: &watchedStore{Store: st}, prod: prod, topics: topics}
}

func (s *stack) predictor(t *testing.T, maxPoll int) *Predictor {
	t.Helper()
	return s.predictorWith(t, func(c *PredictorConfig) { c.MaxPollRecords = maxPoll })
}

// predictorWith is a predictor over the stack with short retries, its
// configuration changed by set.
func (s *stack) predictorWith(t *testing.T, set func(*PredictorConfig)) *Predictor {
	t.Helper()
	sc, _ := flighttest.Fixtures(t)
	cfg := PredictorConfig{Brokers: []string{s.broker.Addr()}, Topics: s.topics, Scorer: sc,
		Store: s.store, RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)}
	set(&cfg)
	p, err := NewPredictor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run starts p until the returned stop is called.
func run(p *Predictor) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	return ctx, func() { cancel(); <-done }
}

// publishAll issues the requests' ids in the stack's store and publishes
// them, as the web app does.
func publishAll(t *testing.T, s *stack, reqs []flightdelay.Request) {
	t.Helper()
	issueAll(t, s.store, reqs)
	publish(t, s.prod, reqs)
}

// publish publishes the requests (several at a time, like concurrent web
// requests) and waits for every acknowledgement.
func publish(t *testing.T, prod *Producer, reqs []flightdelay.Request) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(reqs))
	sem := make(chan struct{}, 64)
	for _, r := range reqs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := prod.Publish(ctx, r); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// issueAll records the requests' ids as issued in st, as the web app does
// before it publishes a request.
func issueAll(t *testing.T, st flightstore.Store, reqs []flightdelay.Request) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, r := range reqs {
		if err := st.Issue(ctx, r.UUID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// waitCount waits until the store holds want predictions.
func waitCount(t *testing.T, st flightstore.Store, want int64, within time.Duration) {
	t.Helper()
	var n int64
	if !testwait.Poll(within, 20*time.Millisecond, func() bool {
		var err error
		if n, err = st.Count(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n > want {
			t.Fatalf("store holds %d predictions, want %d", n, want)
		}
		return n == want
	}) {
		t.Fatalf("store holds %d predictions, want %d", n, want)
	}
}

// checkAll checks every request has exactly its one prediction.
func checkAll(t *testing.T, st flightstore.Store, reqs []flightdelay.Request) {
	t.Helper()
	ctx := context.Background()
	if n, _ := st.Count(ctx); n != int64(len(reqs)) {
		t.Fatalf("%d documents, want %d", n, len(reqs))
	}
	for _, r := range reqs {
		d, status, err := st.Get(ctx, r.UUID)
		if err != nil || status != flightstore.Done || d.UUID != r.UUID || d.Route != r.Route() || d.PredictionLabel == "" {
			t.Fatalf("request %s: %v %v %+v", r.UUID, status, err, d)
		}
	}
}

// committed sums the group's committed offsets on topic, as the broker has them.
func committed(t *testing.T, addr, group, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, tp := range resp.Topics {
		if tp.Topic != topic {
			continue
		}
		for _, p := range tp.Partitions {
			if p.Offset > 0 {
				sum += p.Offset
			}
		}
	}
	return sum
}

// TestKillPredictorMidStream publishes 1,000 requests, kills the predictor
// after it has stored some batches (the batch in flight is stored but not
// committed), restarts it, and checks every request has exactly one stored
// prediction: redelivered records replaced their documents.
func TestKillPredictorMidStream(t *testing.T) {
	s := newStack(t, 3)
	reqs := requests(t, 1000)
	publishAll(t, s, reqs)

	first := s.predictor(t, 100)
	killed := make(chan struct{})
	var once sync.Once
	s.store.after = func(total int64) {
		if total >= 300 {
			once.Do(func() { close(killed) })
			// Hold the batch here until the kill lands, so it is stored
			// and never committed.
			time.Sleep(50 * time.Millisecond)
		}
	}
	_, stop := run(first)
	select {
	case <-killed:
	case <-time.After(20 * time.Second):
		t.Fatal("predictor stored nothing")
	}
	stop()
	s.store.after = nil
	fs := first.Stats()
	if fs.Committed >= fs.Stored {
		t.Fatalf("first predictor committed %d of %d stored: the kill did not interrupt a batch", fs.Committed, fs.Stored)
	}

	second := s.predictor(t, 100)
	_, stop2 := run(second)
	defer stop2()
	waitCount(t, s.store, 1000, 20*time.Second)
	checkAll(t, s.store, reqs)
	ss := second.Stats()
	if redelivered := fs.Stored + ss.Stored - 1000; redelivered <= 0 {
		t.Fatalf("stored %d + %d: expected redeliveries after the kill", fs.Stored, ss.Stored)
	} else {
		t.Logf("first predictor stored %d (committed %d), second stored %d: %d redelivered, 1000 documents", fs.Stored, fs.Committed, ss.Stored, redelivered)
	}
	var c int64
	if !testwait.Poll(10*time.Second, 20*time.Millisecond, func() bool {
		c = committed(t, s.broker.Addr(), "datalab-flight-predictor", s.topics.Request)
		return c == 1000
	}) {
		t.Fatalf("committed offsets sum to %d, want 1000", c)
	}
}

// TestStoreDown keeps the database down: the predictor retries and commits
// nothing; once it is back everything is stored and committed.
func TestStoreDown(t *testing.T) {
	s := newStack(t, 3)
	s.store.down.Store(true)
	reqs := requests(t, 60)
	publishAll(t, s, reqs)
	p := s.predictor(t, 100)
	_, stop := run(p)
	defer stop()
	testwait.Until(t, 10*time.Second, 10*time.Millisecond, "the predictor to retry the store 5 times", func() bool { return p.Stats().Retries >= 5 })
	if c := committed(t, s.broker.Addr(), "datalab-flight-predictor", s.topics.Request); c != 0 || p.Stats().Committed != 0 {
		t.Fatalf("committed %d (broker) / %d (predictor) while the store is down", c, p.Stats().Committed)
	}
	if n, _ := s.store.Count(context.Background()); n != 0 {
		t.Fatalf("%d stored while down", n)
	}
	s.store.down.Store(false)
	waitCount(t, s.store, 60, 10*time.Second)
	checkAll(t, s.store, reqs)
	testwait.Until(t, 5*time.Second, 20*time.Millisecond, "the 60 offsets to be committed after the store came back", func() bool {
		return committed(t, s.broker.Addr(), "datalab-flight-predictor", s.topics.Request) == 60
	})
}

// TestPoisonMessages sends undecodable and invalid records between good
// ones on a single partition: the bad ones land in the dead-letter topic
// with their reason, the good ones after them are still predicted.
func TestPoisonMessages(t *testing.T) {
	s := newStack(t, 1)
	good := requests(t, 4)
	wrongDay := good[1]
	wrongDay.UUID, wrongDay.DayOfWeek = uuid.NewString(), 0
	unknownCarrier := good[2]
	unknownCarrier.UUID, unknownCarrier.Carrier = uuid.NewString(), "ZZ"
	enc := func(r flightdelay.Request) []byte { b, _ := json.Marshal(r); return b }
	poison := []struct {
		key, value []byte
		reason     string
	}{
		{nil, []byte("\x00\xffnot json"), "decode: not a JSON object"},
		{[]byte("k"), []byte(`{"UUID":"x"}`), "decode: missing fields"},
		{[]byte(wrongDay.UUID), enc(wrongDay), "DayOfWeek: 0"},
		{[]byte(unknownCarrier.UUID), enc(unknownCarrier), `score: Carrier: the model does not know Carrier "ZZ"`},
		{[]byte("other-key"), enc(good[3]), "differs from UUID"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := s.prod.Client()
	issueAll(t, s.store, good[:3])
	var recs []*kgo.Record
	for i, p := range poison {
		recs = append(recs, &kgo.Record{Topic: s.topics.Request, Key: p.key, Value: p.value})
		recs = append(recs, &kgo.Record{Topic: s.topics.Request, Key: []byte(good[i%3].UUID), Value: enc(good[i%3])})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p := s.predictor(t, 3) // small batches: poison and good records in separate polls too
	_, stop := run(p)
	defer stop()
	waitCount(t, s.store, 3, 10*time.Second)
	checkAll(t, s.store, good[:3])

	dlq, err := kgo.NewClient(kgo.SeedBrokers(s.broker.Addr()), kgo.ConsumeTopics(s.topics.DeadLetter),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	var got []*kgo.Record
	for len(got) < len(poison) {
		f := dlq.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("dead-letter topic has %d records, want %d", len(got), len(poison))
		}
		got = append(got, f.Records()...)
	}
	for i, rec := range got {
		headers := map[string]string{}
		for _, h := range rec.Headers {
			headers[h.Key] = string(h.Value)
		}
		if !strings.Contains(headers[HeaderReason], poison[i].reason) || string(rec.Value) != string(poison[i].value) ||
			headers[HeaderTopic] != s.topics.Request || headers[HeaderOffset] != fmt.Sprint(2*i) {
			t.Errorf("dead letter %d: headers %v value %q; want reason %q", i, headers, rec.Value, poison[i].reason)
		}
	}
	// Everything, good and bad, is committed: the partition kept flowing.
	testwait.Poll(10*time.Second, 10*time.Millisecond, func() bool { return p.Stats().Committed == int64(len(recs)) })
	if st := p.Stats(); st.DeadLettered != int64(len(poison)) || st.Committed != int64(len(recs)) || st.Stored != int64(len(recs)-len(poison)) {
		t.Fatalf("stats %+v", st)
	}
}

// TestBrokerRestart restarts the embedded broker under a running producer
// and predictor: both reconnect to the same address and the requests
// published after the restart are predicted too.
func TestBrokerRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kafka")
	b, err := StartBroker(BrokerConfig{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	st, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "flights.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &stack{broker: b, store: &watchedStore{Store: st}, topics: DefaultTopics()}
	if s.prod, err = NewProducer([]string{addr}, s.topics.Request); err != nil {
		t.Fatal(err)
	}
	defer s.prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, s.prod.Client(), 3, s.topics.All()...); err != nil {
		t.Fatal(err)
	}
	p := s.predictor(t, 100)
	_, stop := run(p)
	defer stop()
	reqs := requests(t, 100)
	publishAll(t, s, reqs[:50])
	waitCount(t, s.store, 50, 10*time.Second)

	b.Close()
	time.Sleep(200 * time.Millisecond)
	if b, err = StartBroker(BrokerConfig{Addr: addr, DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	defer func() { b.Close() }()
	publishAll(t, s, reqs[50:])
	waitCount(t, s.store, 100, 20*time.Second)
	checkAll(t, s.store, reqs)
	// Stop the predictor while the broker is still up (the deferred
	// stop is then a no-op), as `up` does on shutdown.
	stop()
}

// TestStopWithBrokerGone stops a predictor whose broker vanished mid-stream:
// it returns promptly instead of waiting on records in flight.
func TestStopWithBrokerGone(t *testing.T) {
	s := newStack(t, 3)
	p := s.predictor(t, 100)
	_, stop := run(p)
	publishAll(t, s, requests(t, 200))
	s.broker.Close()
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("predictor did not stop within 15 s after its broker went away")
	}
}
