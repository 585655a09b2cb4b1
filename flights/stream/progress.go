package stream

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultStuckAfter is PredictorConfig.StuckAfter's default: how long
// records may wait without a commit before the predictor counts as stuck.
// A healthy batch commits within a second or two, and the store's retries
// back off to 2 s, so 30 s is many failed
// attempts in a row — long enough not to flap on a short database restart.
const DefaultStuckAfter = 30 * time.Second

// progress follows the predictor's progress on its assigned partitions:
// the lag (records up to each partition's high watermark, as the last
// fetch saw it, that are not committed yet) and how long records have
// waited without a commit. Group membership alone cannot show a predictor
// that is in its group but retries one batch forever. Its methods are
// safe for concurrent use (the poll loop and franz-go's rebalance
// callbacks update it, /healthz and /metrics read it).
type progress struct {
	now func() time.Time

	mu    sync.Mutex
	parts map[topicPartition]*partitionProgress
	// since is when the records now waiting started waiting: the last
	// commit, or the moment the lag left 0; zero while nothing waits.
	since      time.Time
	lastCommit time.Time
	lastErr    error // the last failed attempt since the last commit
}

type topicPartition struct {
	topic     string
	partition int32
}

type partitionProgress struct {
	hwm  int64 // high watermark of the last fetch
	next int64 // offset after the last committed record
}

// progressState is a snapshot of progress.
type progressState struct {
	// Lag is the number of records waiting on the assigned partitions.
	Lag int64
	// Waiting is how long they have waited without a commit (0 when
	// none wait).
	Waiting time.Duration
	// LastCommit is the time of the last commit (zero before the first).
	LastCommit time.Time
	// LastErr is the last failed store, publish or commit attempt since
	// the last commit.
	LastErr error
}

func newProgress() *progress {
	return &progress{now: time.Now, parts: map[topicPartition]*partitionProgress{}}
}

// polled records the high watermarks of a poll, and where a partition seen
// for the first time since its assignment starts: its first record is the
// group's committed position.
func (pr *progress) polled(fetches kgo.Fetches) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err != nil {
			return
		}
		k := topicPartition{p.Topic, p.Partition}
		st, ok := pr.parts[k]
		if !ok {
			if len(p.Records) == 0 {
				return // no start known yet
			}
			st = &partitionProgress{next: p.Records[0].Offset}
			pr.parts[k] = st
		}
		st.hwm = max(st.hwm, p.HighWatermark)
	})
	pr.settle()
}

// committed records that recs' offsets are committed.
func (pr *progress) committed(recs []*kgo.Record) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, r := range recs {
		if st, ok := pr.parts[topicPartition{r.Topic, r.Partition}]; ok {
			st.next = max(st.next, r.Offset+1)
			st.hwm = max(st.hwm, st.next)
		}
	}
	pr.lastCommit, pr.lastErr = pr.now(), nil
	pr.since = time.Time{} // progress: whatever still waits starts waiting now
	pr.settle()
}

// failed records a failed attempt, for /healthz's reason.
func (pr *progress) failed(step string, err error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.lastErr = fmt.Errorf("%s: %w", step, err)
}

// revoked forgets partitions the group took away (revoked or lost): their
// records are another member's to wait for.
func (pr *progress) revoked(topics map[string][]int32) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for t, ps := range topics {
		for _, p := range ps {
			delete(pr.parts, topicPartition{t, p})
		}
	}
	pr.settle()
}

// lag sums the waiting records; the caller holds mu.
func (pr *progress) lag() int64 {
	var n int64
	for _, st := range pr.parts {
		n += max(0, st.hwm-st.next)
	}
	return n
}

// settle starts or ends the waiting time; the caller holds mu.
func (pr *progress) settle() {
	switch waiting := pr.lag() > 0; {
	case !waiting:
		pr.since = time.Time{}
	case pr.since.IsZero():
		pr.since = pr.now()
	}
}

// state is a snapshot.
func (pr *progress) state() progressState {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	s := progressState{Lag: pr.lag(), LastCommit: pr.lastCommit, LastErr: pr.lastErr}
	if s.Lag > 0 && !pr.since.IsZero() {
		s.Waiting = pr.now().Sub(pr.since)
	}
	return s
}

// stuck is non-nil when records have waited longer than after without a
// commit, saying how many, how long, and the last error.
func (s progressState) stuck(after time.Duration) error {
	if s.Lag == 0 || s.Waiting <= after {
		return nil
	}
	msg := fmt.Sprintf("stuck: %d records waiting on assigned partitions, no commit for %s (threshold %s)",
		s.Lag, s.Waiting.Round(time.Second), after)
	if s.LastErr != nil {
		return fmt.Errorf("%s; last error: %w", msg, s.LastErr)
	}
	return fmt.Errorf("%s", msg)
}

// collectors are the progress gauges for /metrics.
func (pr *progress) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "datalab_flight_predictor_lag_records",
			Help: "Records waiting on the predictor's assigned partitions: up to the high watermark of the last fetch, not committed yet.",
		}, func() float64 { return float64(pr.state().Lag) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "datalab_flight_predictor_last_commit_age_seconds",
			Help: "Seconds records have waited since the last commit (or since they arrived, if later); 0 while none wait. /healthz answers 503 beyond the predictor's stuck threshold.",
		}, func() float64 { return pr.state().Waiting.Seconds() }),
	}
}
