package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/datalabhq/datalab/flights/stream"
	"github.com/datalabhq/datalab/pipeline/serve"
)

// defaultPredictorAddr serves the predictor's /healthz and /metrics on
// loopback: on a workstation nothing else needs them. Containers set
// DATALAB_PREDICTOR_ADDR=:9102 so probes and Prometheus reach them.
const defaultPredictorAddr = "127.0.0.1:9102"

// predictorOptions are `datalab predictor`'s settings.
type predictorOptions struct {
	flightOptions
	group, addr string
	// stuckAfter is how long records may wait without a commit before
	// /healthz answers 503.
	stuckAfter time.Duration
}

var predictorOpts predictorOptions

var predictorCmd = &cobra.Command{
	Use:   "predictor",
	Short: "Consume flight-delay requests from Kafka, predict, store, publish the response, commit",
	Long: `predictor joins a consumer group on the request topic. For each batch it
decodes the requests, predicts with the flight model, upserts the predictions
into the store (keyed by UUID, so redelivered requests do not duplicate),
publishes them to the response topic, and only then commits the offsets.
Messages it cannot use (undecodable, invalid, an id not in the form the app
issues, unscorable) go to the dead-letter topic with the reason in the
dlq.reason header, and so do records the store refuses as data errors (SQLSTATE
22/23, an answer for an id never issued): a refused batch is split in halves
until the refused records are found, and the rest are stored. While the store
is down (or fails in any other way) it retries with backoff and commits
nothing. Run several predictors with the same --group to share partitions.

On --addr it serves, for probes and Prometheus:

  /healthz   200 {"status":"OK","lag":…,"lastCommitAgeSeconds":…,…} while
             the consumer is in its group (a heartbeat answered within the
             last 10 s), the store answers a ping and records do not wait
             longer than --stuck-after without a commit; otherwise 503
             {"status":"ERROR","error":"kafka: …"}, "store: …" or "stuck: …"
  /metrics   the predictor's counters (records by outcome, retries by step,
             batch time, group membership, lag, last-commit age) and
             Go/process metrics

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
	predictorOpts.registerAcceptUnissued(predictorCmd)
	f := predictorCmd.Flags()
	f.StringVar(&predictorOpts.group, "group", envOr("DATALAB_PREDICTOR_GROUP", "datalab-flight-predictor"), "consumer group (env DATALAB_PREDICTOR_GROUP)")
	f.StringVar(&predictorOpts.addr, "addr", envOr("DATALAB_PREDICTOR_ADDR", defaultPredictorAddr), `listen address of /healthz and /metrics; "" for none (env DATALAB_PREDICTOR_ADDR)`)
	stuck, err := time.ParseDuration(envOr("DATALAB_PREDICTOR_STUCK_AFTER", stream.DefaultStuckAfter.String()))
	if err != nil || stuck <= 0 {
		stuck = stream.DefaultStuckAfter
		fmt.Fprintf(os.Stderr, "datalab: ignoring DATALAB_PREDICTOR_STUCK_AFTER=%q: want a duration such as 30s or 2m\n", os.Getenv("DATALAB_PREDICTOR_STUCK_AFTER"))
	}
	f.DurationVar(&predictorOpts.stuckAfter, "stuck-after", stuck, "/healthz answers 503 when records wait this long without a commit (env DATALAB_PREDICTOR_STUCK_AFTER)")
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
	st, err := o.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	kafka, err := o.kafka.security()
	if err != nil {
		return err
	}
	kafkaOpts, err := kafka.ClientOpts(o.brokerList())
	if err != nil {
		return err
	}
	p, err := stream.NewProducer(o.brokerList(), o.topics.Request, kafkaOpts...)
	if err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = stream.EnsureTopics(tctx, p.Client(), o.partitions, o.topics.All()...)
	cancel()
	p.Close()
	if err != nil {
		return kafka.Explain(err)
	}
	reg := serve.NewRegistry()
	pr, err := stream.NewPredictor(stream.PredictorConfig{Brokers: o.brokerList(), Group: o.group,
		Topics: o.topics, Scorer: sc, Store: st, Logger: log, Registerer: reg, ClientOpts: kafkaOpts, StuckAfter: o.stuckAfter})
	if err != nil {
		return err
	}
	reg.MustRegister(pr.Health().MembershipGauge())
	if o.addr == "" {
		return pr.Run(ctx)
	}
	// The same serving layer as the apps: security headers, request id and
	// log, and the HTTP metrics under app="predictor".
	web, err := serve.New(serve.Options{App: "predictor", Logger: log, Registerer: reg})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	web.Handle(mux, "GET /healthz", "healthz", pr.HealthHandler())
	web.HandleMetrics(mux, reg)

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	g, ctx := errgroup.WithContext(ctx)
	listening := make(chan struct{})
	g.Go(func() error {
		defer stop()
		return serve.Serve(ctx, serve.ServerConfig{Addr: o.addr, Handler: web.Wrap(mux), Logger: log,
			ShutdownTimeout: flightShutdownTimeout, Ready: func(a string) {
				log.Info("predictor health and metrics", "healthz", urlOf(a, "/healthz"), "metrics", urlOf(a, "/metrics"))
				if ready != nil {
					ready(a)
				}
				close(listening)
			}})
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
