package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/errgroup"

	"github.com/datalabhq/datalab/pipeline/flightstore"
	"github.com/datalabhq/datalab/pipeline/stream"
)

// defaultPredictorAddr serves the predictor's /healthz and /metrics on
// loopback: on a workstation nothing else needs them. Containers set
// DATALAB_PREDICTOR_ADDR=:9102 so probes and Prometheus reach them.
const defaultPredictorAddr = "127.0.0.1:9102"

// predictorOptions are `datalab predictor`'s settings.
type predictorOptions struct {
	flightOptions
	group, addr string
}

var predictorOpts predictorOptions

var predictorCmd = &cobra.Command{
	Use:   "predictor",
	Short: "Consume flight-delay requests from Kafka, predict, store, publish the response, commit",
	Long: `predictor joins a consumer group on the request topic. For each batch it
decodes the requests, predicts with the flight model, upserts the predictions
into the store (keyed by UUID, so redelivered requests do not duplicate),
publishes them to the response topic, and only then commits the offsets.
Messages it cannot use go to the dead-letter topic with the reason in the
dlq.reason header. While the store is down it retries with backoff and commits
nothing. Run several predictors with the same --group to share partitions.

On --addr it serves, for probes and Prometheus:

  /healthz   200 {"status":"OK",…} while the consumer is in its group (a
             heartbeat answered within the last 10 s) and the store answers
             a ping; otherwise 503 {"status":"ERROR","error":"kafka: …"} or
             "store: …"
  /metrics   the predictor's counters (records by outcome, retries by step,
             batch time, group membership) and Go/process metrics

The default listens on loopback only; in a container set --addr :9102 (as the
deploy manifests do). Several predictors on one machine need one --addr each
(127.0.0.1:0 picks a free port); --addr "" serves nothing.`,
	Example: `  datalab predictor --brokers 127.0.0.1:9092 --model data/spark-flight-delay-3.3.3 --store .datalab/flights.sqlite
  datalab predictor --store mongodb://127.0.0.1:27017/agile_data_science
  DATALAB_PREDICTOR_ADDR=:9102 datalab predictor --brokers kafka:9092`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		return runPredictor(cmd.Context(), predictorOpts, slog.Default(), nil)
	},
}

func init() {
	predictorOpts.register(predictorCmd, false)
	f := predictorCmd.Flags()
	f.StringVar(&predictorOpts.group, "group", envOr("DATALAB_PREDICTOR_GROUP", "datalab-flight-predictor"), "consumer group (env DATALAB_PREDICTOR_GROUP)")
	f.StringVar(&predictorOpts.addr, "addr", envOr("DATALAB_PREDICTOR_ADDR", defaultPredictorAddr), `listen address of /healthz and /metrics; "" for none (env DATALAB_PREDICTOR_ADDR)`)
	rootCmd.AddCommand(predictorCmd)
}

// runPredictor runs the predictor, and its HTTP endpoint when o.addr is
// set, until ctx is cancelled. ready, when set, gets the endpoint's address
// once it listens (before the predictor joins its group).
func runPredictor(ctx context.Context, o predictorOptions, log *slog.Logger, ready func(addr string)) error {
	sc, _, err := loadFlightModel(o.model, "")
	if err != nil {
		return err
	}
	st, err := openFlightStore(ctx, o.storeDSN())
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := stream.NewProducer(o.brokerList(), o.topics.Request)
	if err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = stream.EnsureTopics(tctx, p.Client(), o.partitions, o.topics.All()...)
	cancel()
	p.Close()
	if err != nil {
		return err
	}
	health := &groupHealth{group: o.group, now: time.Now}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "datalab_flight_predictor_group_member",
			Help: "1 while the predictor is in its consumer group (a heartbeat answered within the last 10 s), else 0.",
		}, func() float64 {
			if health.err() != nil {
				return 0
			}
			return 1
		}))
	pr, err := stream.NewPredictor(stream.PredictorConfig{Brokers: o.brokerList(), Group: o.group,
		Topics: o.topics, Scorer: sc, Store: st, Logger: log, Registerer: reg,
		ClientOpts: []kgo.Opt{kgo.WithHooks(health)}})
	if err != nil {
		return err
	}
	if o.addr == "" {
		return pr.Run(ctx)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", predictorHealthz(health, st, pr.Stats))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	g, ctx := errgroup.WithContext(ctx)
	listening := make(chan struct{})
	g.Go(func() error {
		defer stop()
		return serveHandler(ctx, o.addr, mux, log, func(a string) {
			log.Info("predictor health and metrics", "healthz", urlOf(a, "/healthz"), "metrics", urlOf(a, "/metrics"))
			if ready != nil {
				ready(a)
			}
			close(listening)
		})
	})
	select {
	case <-listening:
	case <-ctx.Done(): // could not listen
		return g.Wait()
	}
	g.Go(func() error {
		defer stop() // the predictor is what the endpoint reports on
		return pr.Run(ctx)
	})
	return g.Wait()
}

// predictorHealthz answers 200 while the consumer is in its group and the
// store answers, 503 with the reason otherwise.
func predictorHealthz(h *groupHealth, st flightstore.Store, stats func() stream.PredictorStats) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, body := http.StatusOK, map[string]any{"status": "OK", "group": h.group, "stats": stats()}
		if err := h.err(); err != nil {
			code, body = http.StatusServiceUnavailable, map[string]any{"status": "ERROR", "error": "kafka: " + err.Error()}
		} else {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := st.Ping(ctx); err != nil {
				code, body = http.StatusServiceUnavailable, map[string]any{"status": "ERROR", "error": "store: " + err.Error()}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(body)
	})
}

// groupStale is how old the last answered group request may be: members
// heartbeat every second (pipeline/stream), and one silent for the session
// timeout (6 s) is out of the group anyway.
const groupStale = 10 * time.Second

// groupHealth follows the predictor's Kafka client through franz-go hooks
// (pipeline/stream takes them as ClientOpts): the consumer counts as
// connected while the coordinator answered a heartbeat or group sync within
// groupStale, and no group session failed since.
type groupHealth struct {
	group string
	now   func() time.Time

	mu          sync.Mutex
	lastGroupOK time.Time // last answered SyncGroup / Heartbeat
	lostAt      time.Time // last group session failure
	lastErr     error     // last broker or group error, for the reason
}

var (
	_ kgo.HookBrokerE2E        = (*groupHealth)(nil)
	_ kgo.HookGroupManageError = (*groupHealth)(nil)
)

// OnBrokerE2E implements kgo.HookBrokerE2E.
func (h *groupHealth) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
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
func (h *groupHealth) OnGroupManageError(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lostAt, h.lastErr = h.now(), err
}

// err is nil while the consumer is in its group, else why it is not.
func (h *groupHealth) err() error {
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
