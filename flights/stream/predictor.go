package stream

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Dead-letter record headers. The record's key and value are the original
// request record's, unchanged, so it can be replayed after a fix.
const (
	HeaderReason    = "dlq.reason"
	HeaderTopic     = "dlq.topic"
	HeaderPartition = "dlq.partition"
	HeaderOffset    = "dlq.offset"
)

// PredictorConfig configures a Predictor.
type PredictorConfig struct {
	// Brokers are the seed brokers.
	Brokers []string
	// Group is the consumer group (default "datalab-flight-predictor");
	// predictors in one group share the request topic's partitions.
	Group string
	// Topics names the request, response and dead-letter topics.
	Topics Topics
	// Scorer turns requests into predictions; or Models, when set, gives
	// the model of each batch (one snapshot scores the whole batch, so
	// the batch's predictions name one version — see score).
	Scorer *flightdelay.Scorer
	Models flightdelay.Models
	// Store keeps the predictions.
	Store flightstore.Store
	// MaxPollRecords bounds one batch (default 500).
	MaxPollRecords int
	// RetryMin and RetryMax bound the backoff between attempts to store
	// or publish (defaults 50 ms, 2 s); StoreTimeout bounds one attempt
	// (default 5 s).
	RetryMin, RetryMax, StoreTimeout time.Duration
	// StuckAfter is how long records may wait on the assigned partitions
	// without a commit before /healthz reports the predictor stuck
	// (default 30 s).
	StuckAfter time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer, when set, gets the predictor's Prometheus metrics.
	Registerer prometheus.Registerer
	// ClientOpts are extra franz-go options (appended last; the
	// predictor's own GroupHealth hooks are installed in any case).
	ClientOpts []kgo.Opt
}

// PredictorStats counts what a Predictor did.
type PredictorStats struct {
	// Stored is the number of request records whose prediction was stored
	// (redeliveries count again).
	Stored int64 `json:"stored"`
	// DeadLettered is the number of records sent to the dead-letter topic.
	DeadLettered int64 `json:"deadLettered"`
	// Committed is the number of records whose offsets were committed.
	Committed int64 `json:"committed"`
	// Retries is the number of failed store/publish/commit attempts.
	Retries int64 `json:"retries"`
	// Batches is the number of polled batches handled.
	Batches int64 `json:"batches"`
}

// Outcomes of a request record (label outcome of
// datalab_flight_predictor_records_total).
const (
	outcomeStored     = "stored"
	outcomeDeadLetter = "dead_letter"
)

// Steps the predictor retries (label step of
// datalab_flight_predictor_retries_total).
const (
	stepStore   = "store"
	stepPublish = "publish"
	stepCommit  = "commit"
)

// Predictor consumes requests, predicts, stores, publishes and commits.
type Predictor struct {
	cfg PredictorConfig
	log *slog.Logger

	stored, dead, committed, retries, batches atomic.Int64
	health                                    *GroupHealth
	progress                                  *progress

	mRecords  *prometheus.CounterVec
	mRetries  *prometheus.CounterVec
	mBatchDur prometheus.Histogram
}

// NewPredictor checks cfg and registers the metrics.
func NewPredictor(cfg PredictorConfig) (*Predictor, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("predictor: no brokers")
	}
	if cfg.Models == nil && cfg.Scorer != nil {
		cfg.Models = flightdelay.FixedModel(cfg.Scorer)
	}
	if cfg.Models == nil || cfg.Store == nil {
		return nil, errors.New("predictor: a scorer (or models) and a store are required")
	}
	if err := cfg.Topics.Validate(); err != nil {
		return nil, fmt.Errorf("predictor: %w", err)
	}
	if cfg.Group == "" {
		cfg.Group = "datalab-flight-predictor"
	}
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = 500
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 50 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(2*time.Second, cfg.RetryMin)
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 5 * time.Second
	}
	if cfg.StuckAfter <= 0 {
		cfg.StuckAfter = DefaultStuckAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Predictor{cfg: cfg, log: cfg.Logger.With("component", "predictor", "group", cfg.Group),
		health: NewGroupHealth(cfg.Group), progress: newProgress(),
		mRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "datalab_flight_predictor_records_total",
			Help: "Request records handled by the predictor, by outcome (stored, dead_letter).",
		}, []string{"outcome"}),
		mRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "datalab_flight_predictor_retries_total",
			Help: "Failed attempts the predictor retried, by step (store, publish, commit).",
		}, []string{"step"}),
		mBatchDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "datalab_flight_predictor_batch_seconds",
			Help:    "Time from poll to commit of one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	// Every label value is exported from the start (at 0), so that rates
	// and alerts over them have a series before the first event.
	for _, o := range []string{outcomeStored, outcomeDeadLetter} {
		p.mRecords.WithLabelValues(o)
	}
	for _, s := range []string{stepStore, stepPublish, stepCommit} {
		p.mRetries.WithLabelValues(s)
	}
	if cfg.Registerer != nil {
		for _, c := range append([]prometheus.Collector{p.mRecords, p.mRetries, p.mBatchDur}, p.progress.collectors()...) {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("predictor metrics: %w", err)
			}
		}
	}
	return p, nil
}

// Stats returns the counters so far.
func (p *Predictor) Stats() PredictorStats {
	return PredictorStats{Stored: p.stored.Load(), DeadLettered: p.dead.Load(), Committed: p.committed.Load(),
		Retries: p.retries.Load(), Batches: p.batches.Load()}
}

// Run joins the group and handles batches until ctx is cancelled, then
// leaves the group. A batch interrupted by cancellation is not committed:
// its records are redelivered to the next member. Run returns nil on
// cancellation and an error only when the client cannot be created.
func (p *Predictor) Run(ctx context.Context) error {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(p.cfg.Brokers...),
		kgo.ConsumerGroup(p.cfg.Group),
		kgo.ConsumeTopics(p.cfg.Topics.Request),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		// Partitions are not reassigned while a batch is between poll and
		// commit, so a batch is committed by the member that stored it.
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.ProducerLinger(0),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(10 * time.Second),
		kgo.SessionTimeout(6 * time.Second),
		kgo.HeartbeatInterval(time.Second),
		kgo.WithHooks(p.health),
		// Partitions taken away are another member's to report lag on.
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { p.progress.revoked(lost) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { p.progress.revoked(lost) }),
	}, p.cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("predictor: %w", err)
	}
	defer func() {
		// Leave the group promptly so the partitions move on at once.
		cl.AllowRebalance()
		cl.Close()
	}()
	p.log.Info("predictor started", "brokers", p.cfg.Brokers, "topic", p.cfg.Topics.Request)
	for {
		fetches := cl.PollRecords(ctx, p.cfg.MaxPollRecords)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			p.log.Info("predictor stopped", "stats", p.Stats())
			return nil
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			p.log.Warn("fetch error (the client retries)", "topic", topic, "partition", partition, "err", err)
		})
		p.progress.polled(fetches)
		recs := fetches.Records()
		if len(recs) > 0 {
			start := time.Now()
			if err := p.handle(ctx, cl, recs); err != nil {
				p.log.Info("predictor stopped mid-batch; the batch is not committed and will be redelivered", "records", len(recs), "err", err)
				return nil
			}
			p.mBatchDur.Observe(time.Since(start).Seconds())
			p.batches.Add(1)
		}
		cl.AllowRebalance()
	}
}

// handle stores, publishes and commits one batch; it returns only when the
// batch is committed or ctx is cancelled. Records that cannot be decoded,
// validated or scored, and records the store refuses as data errors, go
// to the dead-letter topic; the rest are stored and answered. Every record
// of the batch is committed, so no record can hold its partition up.
func (p *Predictor) handle(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	good, dead := p.score(recs)
	stored, refused, err := p.store(ctx, good)
	if err != nil {
		return err
	}
	dead = append(dead, refused...)
	// In partition order, as they came, whichever step refused them.
	slices.SortFunc(dead, func(a, b deadRecord) int {
		return cmp.Or(cmp.Compare(a.rec.Partition, b.rec.Partition), cmp.Compare(a.rec.Offset, b.rec.Offset))
	})
	out := make([]*kgo.Record, 0, len(recs))
	for _, s := range stored {
		body, err := json.Marshal(s.doc)
		if err != nil {
			return err
		}
		out = append(out, &kgo.Record{Topic: p.cfg.Topics.Response, Key: []byte(s.doc.UUID), Value: body})
	}
	for _, d := range dead {
		p.log.Warn("dead-lettering request record", "partition", d.rec.Partition, "offset", d.rec.Offset, "reason", d.reason)
		out = append(out, p.deadLetter(d))
	}
	p.stored.Add(int64(len(stored)))
	if err := p.retry(ctx, stepPublish, func(ctx context.Context) error {
		return produceAll(ctx, cl, out)
	}); err != nil {
		return err
	}
	p.dead.Add(int64(len(dead)))
	p.mRecords.WithLabelValues(outcomeStored).Add(float64(len(stored)))
	p.mRecords.WithLabelValues(outcomeDeadLetter).Add(float64(len(dead)))
	if err := p.retry(ctx, stepCommit, func(ctx context.Context) error {
		return cl.CommitRecords(ctx, recs...)
	}); err != nil {
		return err
	}
	p.committed.Add(int64(len(recs)))
	p.progress.committed(recs)
	return nil
}

// score decodes and scores a batch under one snapshot of the models: the
// whole batch is scored by one version, and a swap waits only for the
// scoring (CPU), never for the store or Kafka. Batches are handled one
// after the other, so the stored predictions change version exactly once
// per swap, in the order they were scored.
func (p *Predictor) score(recs []*kgo.Record) (good []scored, dead []deadRecord) {
	m, release := p.cfg.Models.Snapshot()
	defer release()
	for _, rec := range recs {
		doc, reason := predict(m, rec)
		if reason != "" {
			dead = append(dead, deadRecord{rec, reason})
			continue
		}
		good = append(good, scored{rec, doc})
	}
	return good, dead
}

// scored is a request record and its prediction.
type scored struct {
	rec *kgo.Record
	doc flightdelay.Prediction
}

// deadRecord is a request record bound for the dead-letter topic.
type deadRecord struct {
	rec    *kgo.Record
	reason string
}

// deadLetter is d's record on the dead-letter topic: the request record's
// key, value and headers, unchanged, plus the reason and where it was.
func (p *Predictor) deadLetter(d deadRecord) *kgo.Record {
	rec := d.rec
	return &kgo.Record{Topic: p.cfg.Topics.DeadLetter, Key: rec.Key, Value: rec.Value,
		Headers: append(append([]kgo.RecordHeader(nil), rec.Headers...),
			kgo.RecordHeader{Key: HeaderReason, Value: []byte(d.reason)},
			kgo.RecordHeader{Key: HeaderTopic, Value: []byte(rec.Topic)},
			kgo.RecordHeader{Key: HeaderPartition, Value: []byte(strconv.Itoa(int(rec.Partition)))},
			kgo.RecordHeader{Key: HeaderOffset, Value: []byte(strconv.FormatInt(rec.Offset, 10))})}
}

// store upserts the predictions of items. An error that may pass (the
// database is down, a timeout, a deadlock, anything unclassified) is
// retried with backoff until it passes or ctx ends, and never refuses a
// record. A data error (flightstore.IsPermanent) refuses the call as a
// whole, so the items are split in halves and each half stored the same
// way, down to the single records the store refuses: those come back as
// refused, with the store's error as the reason, and every other item is
// stored. A batch of n with k bad records costs about 2k·log2(n) calls.
func (p *Predictor) store(ctx context.Context, items []scored) (stored []scored, refused []deadRecord, err error) {
	if len(items) == 0 {
		return nil, nil, nil
	}
	docs := make([]flightdelay.Prediction, len(items))
	for i, it := range items {
		docs[i] = it.doc
	}
	var dataErr error
	if err := p.retry(ctx, stepStore, func(ctx context.Context) error {
		sctx, cancel := context.WithTimeout(ctx, p.cfg.StoreTimeout)
		defer cancel()
		err := p.cfg.Store.Upsert(sctx, docs...)
		if err != nil && flightstore.IsPermanent(err) {
			dataErr = err
			return nil
		}
		return err
	}); err != nil {
		return nil, nil, err
	}
	switch {
	case dataErr == nil:
		return items, nil, nil
	case len(items) == 1:
		return nil, []deadRecord{{items[0].rec, "store: " + dataErr.Error()}}, nil
	}
	p.log.Info("the store refused a batch: storing its halves apart to find the refused records", "records", len(items), "err", dataErr)
	mid := len(items) / 2
	s1, r1, err := p.store(ctx, items[:mid])
	if err != nil {
		return nil, nil, err
	}
	s2, r2, err := p.store(ctx, items[mid:])
	if err != nil {
		return nil, nil, err
	}
	return append(s1, s2...), append(r1, r2...), nil
}

// produceAll produces recs and waits for every acknowledgement, or for ctx:
// unlike ProduceSync it returns as soon as ctx is cancelled, even when
// records are in flight to a broker that went away (closing the client then
// fails them), so a predictor always stops promptly.
func produceAll(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	var (
		mu       sync.Mutex
		firstErr error
		left     = len(recs)
		done     = make(chan struct{})
	)
	for _, r := range recs {
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if left--; left == 0 {
				close(done)
			}
		})
	}
	select {
	case <-done:
		mu.Lock()
		defer mu.Unlock()
		return firstErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// predict decodes and scores one record with m; reason is non-empty when
// the record belongs in the dead-letter topic.
func predict(m flightdelay.Served, rec *kgo.Record) (flightdelay.Prediction, string) {
	req, err := flightdelay.DecodeRequest(rec.Value)
	if err != nil {
		return flightdelay.Prediction{}, "decode: " + err.Error()
	}
	// The store keys documents by id; an id the app would never issue is
	// refused here rather than by one store and not another.
	if err := flightstore.CheckID(req.UUID); err != nil {
		return flightdelay.Prediction{}, "UUID: " + err.Error()
	}
	if len(rec.Key) > 0 && string(rec.Key) != req.UUID {
		return flightdelay.Prediction{}, fmt.Sprintf("record key %q differs from UUID %s", rec.Key, req.UUID)
	}
	doc, err := m.Score(req)
	if err != nil {
		return flightdelay.Prediction{}, "score: " + err.Error()
	}
	return doc, ""
}

// retry runs fn until it succeeds or ctx is cancelled, with exponential
// backoff between RetryMin and RetryMax.
func (p *Predictor) retry(ctx context.Context, step string, fn func(context.Context) error) error {
	wait := p.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.retries.Add(1)
		p.mRetries.WithLabelValues(step).Inc()
		p.progress.failed(step, err)
		p.log.Warn("retrying", "step", step, "attempt", attempt, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, p.cfg.RetryMax)
	}
}
