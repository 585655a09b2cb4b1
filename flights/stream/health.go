package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupStale is how old the last answered group request may be before a
// consumer no longer counts as in its group: the predictor heartbeats every
// second, and a member silent for its session timeout (6 s) is out of the
// group anyway.
const groupStale = 10 * time.Second

// healthzStoreTimeout bounds the store ping of one /healthz request, so a
// hung store answers 503 before a probe's own timeout.
const healthzStoreTimeout = 2 * time.Second

// GroupHealth follows a franz-go client's consumer-group membership
// through client hooks (install it with kgo.WithHooks; a Predictor installs
// its own): the consumer counts as in its group while the coordinator
// answered a SyncGroup or heartbeat within groupStale and no group session
// failed since. Its methods are safe for concurrent use.
type GroupHealth struct {
	group string
	now   func() time.Time

	mu          sync.Mutex
	lastGroupOK time.Time // last answered SyncGroup / Heartbeat
	lostAt      time.Time // last group session failure
	lastErr     error     // last broker or group error, for the reason
}

var (
	_ kgo.HookBrokerE2E        = (*GroupHealth)(nil)
	_ kgo.HookGroupManageError = (*GroupHealth)(nil)
)

// NewGroupHealth returns the health of a member of group, which is not in
// the group until its client's first answered SyncGroup or heartbeat.
func NewGroupHealth(group string) *GroupHealth {
	return &GroupHealth{group: group, now: time.Now}
}

// Group is the consumer group followed.
func (h *GroupHealth) Group() string { return h.group }

// OnBrokerE2E implements kgo.HookBrokerE2E.
func (h *GroupHealth) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	err := e2e.Err()
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.lastErr = err
		return
	}
	switch kmsg.Key(key) {
	case kmsg.SyncGroup, kmsg.Heartbeat, kmsg.ConsumerGroupHeartbeat:
		h.lastGroupOK = h.now()
	}
}

// OnGroupManageError implements kgo.HookGroupManageError: the group
// session ended (the client rejoins by itself).
func (h *GroupHealth) OnGroupManageError(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lostAt, h.lastErr = h.now(), err
}

// Err is nil while the consumer is in its group, else why it is not
// (with the last broker or group error, when there was one).
func (h *GroupHealth) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var reason string
	switch age := h.now().Sub(h.lastGroupOK); {
	case h.lastGroupOK.IsZero():
		reason = fmt.Sprintf("not in consumer group %q yet", h.group)
	case !h.lostAt.Before(h.lastGroupOK):
		reason = fmt.Sprintf("consumer group %q session lost, rejoining", h.group)
	case age > groupStale:
		reason = fmt.Sprintf("no heartbeat answered in consumer group %q for %s", h.group, age.Round(time.Second))
	default:
		return nil
	}
	if h.lastErr != nil {
		return fmt.Errorf("%s (last error: %w)", reason, h.lastErr)
	}
	return errors.New(reason)
}

// MembershipGauge returns the gauge datalab_flight_predictor_group_member:
// 1 while Err is nil, else 0. It is separate from the metrics
// PredictorConfig.Registerer gets so that only the processes that report
// on membership (the predictor command) export it.
func (h *GroupHealth) MembershipGauge() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "datalab_flight_predictor_group_member",
		Help: "1 while the predictor is in its consumer group (a heartbeat answered within the last 10 s), else 0.",
	}, func() float64 {
		if h.Err() != nil {
			return 0
		}
		return 1
	})
}

// Health is the predictor's consumer-group membership, followed through
// the hooks Run installs on its client.
func (p *Predictor) Health() *GroupHealth { return p.health }

// HealthHandler serves the predictor's /healthz: 200
// {"status":"OK","group":…,"stats":…,"lag":…,"lastCommitAgeSeconds":…,
// "model":…} (and "model_version", "alias", "since" when the model comes
// from the registry: flightdelay.Served.Health) while the consumer is in its group, the store answers a ping and the
// predictor makes progress; else 503 {"status":"ERROR","error":…} with the
// reason prefixed "kafka: ", "store: " or "stuck: " (records have waited
// on the assigned partitions longer than PredictorConfig.StuckAfter without
// a commit — e.g. every write fails although the store answers pings). The
// checks run in that order and a probe reports the first that fails; lag,
// lastCommitAgeSeconds and the model are in every answer.
func (p *Predictor) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		progress := p.progress.state()
		code, body := http.StatusOK, map[string]any{"status": "OK", "group": p.health.Group(), "stats": p.Stats()}
		fail := func(reason string) {
			code, body = http.StatusServiceUnavailable, map[string]any{"status": "ERROR", "error": reason}
		}
		if err := p.health.Err(); err != nil {
			fail("kafka: " + err.Error())
		} else {
			ctx, cancel := context.WithTimeout(r.Context(), healthzStoreTimeout)
			defer cancel()
			if err := p.cfg.Store.Ping(ctx); err != nil {
				fail("store: " + err.Error())
			} else if err := progress.stuck(p.cfg.StuckAfter); err != nil {
				fail(err.Error())
			}
		}
		m, release := p.cfg.Models.Snapshot()
		maps.Copy(body, m.Health())
		release()
		body["lag"] = progress.Lag
		body["lastCommitAgeSeconds"] = progress.Waiting.Round(time.Millisecond).Seconds()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(body)
	})
}
