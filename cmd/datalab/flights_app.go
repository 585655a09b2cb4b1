package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/flights/flightapp"
	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/flights/flightstore/mongostore"
	"github.com/datalabhq/datalab/flights/flightstore/sqlstore"
	"github.com/datalabhq/datalab/flights/stream"
	"github.com/datalabhq/datalab/pipeline/ingest"
	"github.com/datalabhq/datalab/pipeline/registry"
	"github.com/datalabhq/datalab/pipeline/serve"
	"github.com/datalabhq/datalab/pipeline/sqldb"
)

// Flight defaults: the Spark 3.3.3 course model until the Go-trained flight
// model replaces it, the seed's distance table, a SQLite store under .datalab/.
const (
	defaultFlightModel     = "data/spark-flight-delay-3.3.3"
	defaultFlightDistances = "data/distances/origin_dest_distances.jsonl"
	defaultFlightStore     = ".datalab/flights.sqlite"
	defaultBroker          = "127.0.0.1:9092"
)

// flightOptions are the settings shared by serve-flights, predictor and up.
type flightOptions struct {
	model, distances, store, brokers string
	topics                           stream.Topics
	partitions                       int32
	// pendingTTL and acceptUnissued are the store's flightstore.Policy
	// (--pending-ttl on every flight command, --accept-unissued where a
	// predictor runs: registerAcceptUnissued).
	pendingTTL     string
	acceptUnissued bool
	// kafka is how the clients connect to Kafka (TLS, SASL).
	kafka kafkaFlags
	// registry is where a --model registry:… reference is looked up
	// (predictor, serve-flights and up: registerRegistry).
	registry registryFlags
}

func (o *flightOptions) register(cmd *cobra.Command, withDistances bool) {
	f := cmd.Flags()
	def := stream.DefaultTopics()
	f.StringVar(&o.model, "model", envOr("DATALAB_FLIGHT_MODEL", defaultFlightModel),
		"flight model: a directory (Spark format), or registry:flights@champion (any alias, or a version id) to serve what the model registry's alias points at, swapping when it moves (env DATALAB_FLIGHT_MODEL)")
	if withDistances {
		f.StringVar(&o.distances, "distances", envOr("DATALAB_FLIGHT_DISTANCES", defaultFlightDistances), "airport-pair distance table, JSON lines (env DATALAB_FLIGHT_DISTANCES)")
	}
	// The default is resolved at run time: DATALAB_FLIGHT_STORE may hold a password.
	f.StringVar(&o.store, "store", "", "prediction store: SQLite path, postgres://…, mysql://… or mongodb://… (env DATALAB_FLIGHT_STORE; default "+defaultFlightStore+")")
	f.StringVar(&o.brokers, "brokers", envOr("DATALAB_BROKERS", ""), "Kafka brokers, comma-separated (env DATALAB_BROKERS)")
	f.StringVar(&o.topics.Request, "request-topic", envOr("DATALAB_REQUEST_TOPIC", def.Request), "request topic (env DATALAB_REQUEST_TOPIC)")
	f.StringVar(&o.topics.Response, "response-topic", envOr("DATALAB_RESPONSE_TOPIC", def.Response), "response topic (env DATALAB_RESPONSE_TOPIC)")
	f.StringVar(&o.topics.DeadLetter, "dead-letter-topic", envOr("DATALAB_DEAD_LETTER_TOPIC", def.DeadLetter), "dead-letter topic (env DATALAB_DEAD_LETTER_TOPIC)")
	f.Int32Var(&o.partitions, "partitions", 3, "partitions of topics created on startup (predictors scale up to this many)")
	f.StringVar(&o.pendingTTL, "pending-ttl", envOr("DATALAB_PENDING_TTL", flightstore.DefaultPendingTTL.String()),
		"how long an issued request waits for its prediction; then the response route answers 410 EXPIRED, late predictions are refused and the store deletes the id; 0 never expires. App and predictor must agree (env DATALAB_PENDING_TTL)")
	o.kafka.register(f)
	cmd.Long += "\n" + kafkaSecurityHelp
}

// registerRegistry adds the model registry flags to a command that serves
// --model registry:… references.
func (o *flightOptions) registerRegistry(cmd *cobra.Command) { o.registry.register(cmd.Flags()) }

// flightModels loads the model --model names for app ("predictor",
// "flights"): a directory, loaded once, or a registry reference
// (registry:flights@champion, or a version id) followed until stop is
// called. Its model metrics (serve.ModelMetrics) go to prom; a
// directory's version there is its content hash, the id it has (or would
// have) in the registry. name is how logs name the model.
func (o *flightOptions) flightModels(ctx context.Context, app string, prom prometheus.Registerer, log *slog.Logger) (m flightdelay.Models, name string, stop func(), err error) {
	model, target, isRef, err := registry.ParseRef(o.model)
	if err != nil {
		return nil, "", nil, err
	}
	if !isRef {
		start := time.Now()
		sc, _, err := loadFlightModel(o.model, "")
		if err != nil {
			return nil, "", nil, err
		}
		if id, _, err := registry.DirID(o.model); err == nil {
			serve.NewModelMetrics(prom, app, "").OnSwap("", id, time.Since(start))
		}
		return flightdelay.FixedModel(sc), sc.Name(), func() {}, nil
	}
	f, stop, err := followModel(ctx, o.registry, app, model, target, flightdelay.LoadScorer, prom, log)
	if err != nil {
		return nil, "", nil, err
	}
	return followedFlightModel{f}, o.model, stop, nil
}

// followedFlightModel serves the flight model a registry.Follower holds:
// each snapshot is the Follower's (a swap waits for it to be released).
type followedFlightModel struct {
	f *registry.Follower[*flightdelay.Scorer]
}

func (m followedFlightModel) Snapshot() (flightdelay.Served, func()) {
	cur, release := m.f.Snapshot()
	return flightdelay.Served{Scorer: cur.Model, Version: cur.Version, Alias: m.f.Alias(), Since: cur.Since}, release
}

// registerAcceptUnissued adds --accept-unissued to a command that runs a
// predictor.
func (o *flightOptions) registerAcceptUnissued(cmd *cobra.Command) {
	v, _ := strconv.ParseBool(os.Getenv("DATALAB_ACCEPT_UNISSUED")) // checked by policy
	cmd.Flags().BoolVar(&o.acceptUnissued, "accept-unissued", v,
		"store predictions for request ids the web app never issued (or that expired): for requests published to Kafka without the app. Off, such records go to the dead-letter topic (env DATALAB_ACCEPT_UNISSUED)")
}

// policy is the store policy the flags ask for.
func (o *flightOptions) policy() (flightstore.Policy, error) {
	if v := os.Getenv("DATALAB_ACCEPT_UNISSUED"); v != "" {
		if _, err := strconv.ParseBool(v); err != nil {
			return flightstore.Policy{}, fmt.Errorf("DATALAB_ACCEPT_UNISSUED=%q: want true or false", v)
		}
	}
	ttl, err := time.ParseDuration(o.pendingTTL)
	if o.pendingTTL == "" {
		ttl, err = flightstore.DefaultPendingTTL, nil
	}
	if err != nil || ttl < 0 {
		return flightstore.Policy{}, fmt.Errorf("--pending-ttl / DATALAB_PENDING_TTL %q: want a duration such as 10m or 90s, or 0 for never", o.pendingTTL)
	}
	if ttl == 0 {
		ttl = -1 // Policy: negative never expires; zero would be the default
	}
	return flightstore.Policy{PendingTTL: ttl, AcceptUnissued: o.acceptUnissued}, nil
}

// openStore opens the store --store names with the policy the flags ask for.
func (o *flightOptions) openStore(ctx context.Context) (flightstore.Store, error) {
	p, err := o.policy()
	if err != nil {
		return nil, err
	}
	return openFlightStore(ctx, o.storeDSN(), p)
}

func (o *flightOptions) storeDSN() string {
	if o.store != "" {
		return o.store
	}
	return envOr("DATALAB_FLIGHT_STORE", defaultFlightStore)
}

// brokerList splits --brokers, falling back to the embedded broker's
// default address.
func (o *flightOptions) brokerList() []string {
	var out []string
	for _, b := range strings.Split(o.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return []string{defaultBroker}
	}
	return out
}

// openFlightStore opens the store the DSN names (sqldb.ParseDSN):
// mongodb:// → MongoDB, anything else → SQL (SQLite file by default,
// created with its directory).
func openFlightStore(ctx context.Context, dsn string, p flightstore.Policy) (flightstore.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The one DSN parser decides, so a key=value PostgreSQL DSN or a typo
	// is read here exactly as the stores read it.
	if d, err := sqldb.ParseDSN(dsn); err != nil {
		return nil, fmt.Errorf("flight store (--store / DATALAB_FLIGHT_STORE): %w", err)
	} else if d.Dialect == sqldb.MongoDB {
		return mongostore.Open(ctx, dsn, mongostore.WithPolicy(p))
	}
	return sqlstore.Open(ctx, dsn, sqlstore.WithPolicy(p))
}

// loadFlightModel loads the scorer and, when path is set, the distance table.
func loadFlightModel(model, distances string) (*flightdelay.Scorer, *ingest.DistanceTable, error) {
	sc, err := flightdelay.LoadScorer(model)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (pull it with: datalab data pull spark-flight-delay-3.3.3)", err)
	}
	if distances == "" {
		return sc, nil, nil
	}
	d, err := loadFlightDistances(distances)
	if err != nil {
		return nil, nil, err
	}
	return sc, d, nil
}

// loadFlightDistances loads the airport-pair distance table.
func loadFlightDistances(path string) (*ingest.DistanceTable, error) {
	d, err := ingest.LoadDistances(path)
	if err != nil {
		return nil, fmt.Errorf("%w (pull it with: datalab data pull distances)", err)
	}
	return d, nil
}

// flightShutdownTimeout is how long the flight app (serve-flights, up) and
// the predictor's endpoint wait for requests in flight once told to stop.
const flightShutdownTimeout = 10 * time.Second

// urlOf turns a listen address into a browsable URL.
func urlOf(addr, path string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + path
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path
}

// defaultFlightAddr is where serve-flights (and up) listen unless told
// otherwise: loopback, like defaultMatchAddr.
const defaultFlightAddr = "127.0.0.1:5001"

var serveFlightsOpts struct {
	flightOptions
	addr           string
	trustedOrigins []string
}

var serveFlightsCmd = &cobra.Command{
	Use:   "serve-flights",
	Short: "Serve the flight-delay web app (publishes requests to Kafka; a predictor answers)",
	Long: `serve-flights serves the flight-delay app with the seed's contract:

  GET  /flights/delays/predict_kafka                          the form
  POST /flights/delays/predict/classify_realtime              → {"status":"OK","id":"<uuid>"}
  GET  /flights/delays/predict/classify_realtime/response/ID  → WAIT, then OK with the prediction
  POST /api/v1/flights/predict                                synchronous scoring for scripts
  /healthz, /metrics

Requests go to the request topic on --brokers; run 'datalab predictor' (or
use 'datalab up', which runs everything in one process). The store must be
the predictor's: the app records issued ids in it and reads predictions back.

The model checks each form (carriers, airports and routes it knows) and
scores the synchronous API. With --model registry:flights@champion the app
follows the alias in the model registry (--registry, checked every
--registry-poll): a new version is loaded in the background and swapped in
between requests; /healthz names model_version, alias and since, /metrics
has datalab_model_info and the swap counters (docs/flights-streaming.md).`,
	Example: `  datalab broker &
  datalab predictor &
  datalab serve-flights --addr :5001`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		o := serveFlightsOpts
		ctx, log := cmd.Context(), slog.Default()
		dist, err := loadFlightDistances(o.distances)
		if err != nil {
			return err
		}
		prom := serve.NewRegistry()
		models, name, stopModels, err := o.flightModels(ctx, "flights", prom, log)
		if err != nil {
			return err
		}
		defer stopModels()
		st, err := o.openStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		kafka, err := o.kafka.security()
		if err != nil {
			return err
		}
		s, err := flightapp.StartStack(ctx, flightapp.StackConfig{Brokers: o.brokerList(), Topics: o.topics, Kafka: kafka,
			Partitions: o.partitions, Models: models, Registry: prom, Distances: dist, Store: st, NoPredictor: true, Logger: log,
			TrustedOrigins: o.trustedOrigins})
		if err != nil {
			return err
		}
		defer s.Close()
		return serve.Serve(ctx, serve.ServerConfig{Addr: o.addr, Handler: s.App, Logger: log,
			ShutdownTimeout: flightShutdownTimeout, Ready: func(a string) {
				log.Info("serving flights", "url", urlOf(a, "/flights/delays/predict_kafka"), "model", name, "brokers", s.Brokers)
			}})
	},
}

func init() {
	serveFlightsOpts.register(serveFlightsCmd, true)
	serveFlightsOpts.registerRegistry(serveFlightsCmd)
	serveFlightsCmd.Flags().StringVar(&serveFlightsOpts.addr, "addr", envOr("DATALAB_FLIGHT_ADDR", defaultFlightAddr), "listen address (env DATALAB_FLIGHT_ADDR; 5001 was the seed's port); loopback by default, :5001 listens on every interface (containers)")
	registerTrustedOrigins(serveFlightsCmd, &serveFlightsOpts.trustedOrigins)
	rootCmd.AddCommand(serveFlightsCmd)
}
