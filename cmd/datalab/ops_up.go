package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/flights/flightapp"
	"github.com/datalabhq/datalab/flights/flightmodel"
	"github.com/datalabhq/datalab/flights/stream"
	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/pipeline/serve"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

var upOpts struct {
	flights    flightOptions
	pipeline   pipelineFlags
	flightAddr string
	matchAddr  string
	brokerAddr string
	brokerData string
	brokerTLS  brokerTLSFlags
	noPipeline bool
	noMatch    bool
	// trustedOrigins are both apps' --trusted-origins.
	trustedOrigins []string
}

var upCmd = &cobra.Command{
	Use:   "up",
	Short: "Run the whole lab: pipeline if out of date, then both apps, the embedded broker and the predictor",
	Long: `up is one command for the whole stack, in one process:

  1. brings the served models up to date: runs the stages of datalab.yaml that
     produce them (training and its upstream stages, never the notebooks or
     reports), skipping up-to-date ones (--no-pipeline skips this);
  2. starts the embedded Kafka-protocol broker on --broker-addr, unless --brokers names a real Kafka;
  3. starts the flight predictor and serves the flight-delay app on --flight-addr
     with the flight model the pipeline trains (--model serves another, e.g. a
     Spark fixture);
  4. serves the match-winner app on --addr (as 'datalab serve' does; --no-match skips it).

It prints the URLs and runs until Ctrl-C or SIGTERM, then shuts everything down
in order (HTTP servers, predictor leaving its group, producer, broker).`,
	Example: `  datalab up
  datalab up --no-pipeline --flight-addr 127.0.0.1:5001
  DATALAB_BROKERS=kafka:9092 DATALAB_FLIGHT_STORE=mongodb://mongo:27017 datalab up`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		return runUp(cmd.Context(), slog.Default(), func(name, url string) {
			fmt.Fprintf(cmd.OutOrStdout(), "%-8s %s\n", name, url)
		})
	},
}

// runUp runs the stack until ctx is cancelled; announce gets each service's URL.
func runUp(ctx context.Context, log *slog.Logger, announce func(name, url string)) error {
	o := upOpts
	flightModel, err := upFlightModel(o.flights.model, o.pipeline.file)
	if err != nil {
		return err
	}
	if !o.noPipeline {
		if _, err := os.Stat(o.pipeline.file); err == nil {
			p, err := stagerun.LoadEnv(o.pipeline.file)
			if err != nil {
				return err
			}
			models := []string{flightModel}
			if m, err := upMatchModel(o.pipeline.file); err == nil && !o.noMatch {
				models = append(models, m)
			}
			if targets := upTargets(p, models); len(targets) > 0 {
				log.Info("bringing the served models up to date (up-to-date stages are skipped)", "file", o.pipeline.file, "stages", strings.Join(targets, ","))
				rec, err := p.Run(ctx, targets, o.pipeline.options(os.Stderr, os.Stderr))
				if rec != nil {
					printRunSummary(os.Stderr, p, rec)
				}
				if err != nil {
					return fmt.Errorf("pipeline: %w (fix it, or start the apps anyway with --no-pipeline)", err)
				}
			}
		} else {
			log.Warn("no pipeline file; serving what exists", "file", o.pipeline.file)
		}
	}
	if _, err := os.Stat(flightModel); err != nil && o.flights.model == "" {
		return fmt.Errorf("flight model %s is missing: train it with `make run` (or `datalab run train-flights`), or serve a Spark fixture with --model", flightModel)
	}
	dist, err := loadFlightDistances(o.flights.distances)
	if err != nil {
		return err
	}
	// The app and the predictor share one model: a directory, or a
	// registry alias followed (its metrics on the app's /metrics).
	o.flights.model = flightModel
	prom := serve.NewRegistry()
	models, _, stopModels, err := o.flights.flightModels(ctx, "flights", prom, log)
	if err != nil {
		return err
	}
	defer stopModels()
	st, err := o.flights.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var brokers []string
	if strings.TrimSpace(o.flights.brokers) != "" {
		brokers = o.flights.brokerList()
	}
	kafka, err := o.flights.kafka.security()
	if err != nil {
		return err
	}
	// The embedded broker takes the clients' SASL user and its own
	// certificate; a real Kafka has its own.
	var embeddedUsers []stream.BrokerUser
	var embeddedTLS *tls.Config
	if len(brokers) == 0 {
		if embeddedUsers, err = o.flights.kafka.brokerUsers(); err != nil {
			return err
		}
		if embeddedTLS, err = o.brokerTLS.config(); err != nil {
			return err
		}
	}
	stack, err := flightapp.StartStack(ctx, flightapp.StackConfig{Brokers: brokers, EmbeddedAddr: o.brokerAddr,
		Kafka: kafka, EmbeddedTLS: embeddedTLS, EmbeddedUsers: embeddedUsers,
		EmbeddedDataDir: o.brokerData, Topics: o.flights.topics, Partitions: o.flights.partitions,
		Models: models, Registry: prom, Distances: dist, Store: st, Logger: log, TrustedOrigins: o.trustedOrigins})
	if err != nil {
		return err
	}
	defer stack.Close()
	if stack.Broker != nil {
		announce("kafka", stack.Broker.Addr()+" (embedded)")
	} else {
		announce("kafka", strings.Join(stack.Brokers, ","))
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := serve.Serve(ctx, serve.ServerConfig{Addr: o.flightAddr, Handler: stack.App, Logger: log,
			ShutdownTimeout: flightShutdownTimeout, Ready: func(a string) {
				announce("flights", urlOf(a, "/flights/delays/predict_kafka"))
				announce("metrics", urlOf(a, "/metrics"))
			}})
		if err != nil {
			errs <- fmt.Errorf("flight app: %w", err)
			cancel()
		}
	}()
	if !o.noMatch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mo := serveOptions{addr: o.matchAddr, models: registryFlags{cache: defaultModelCache()}, db: predictionLogDSN(""),
				pipeline: o.pipeline.file, logBuffer: 10_000, logFlush: DefaultLogFlushInterval, shutdownTimeout: 15 * time.Second, trustedOrigins: o.trustedOrigins}
			ready := make(chan string, 1)
			go func() {
				if a, ok := <-ready; ok {
					announce("matches", urlOf(a, "/"))
				}
			}()
			// The match app is optional here: without a trained match model
			// the flight stack keeps running and the reason is logged.
			if err := runServe(ctx, mo, loadMatchModel, log, ready); err != nil {
				log.Error("match app not running", "err", err, "hint", "train it with 'datalab run' or pass --no-match")
			}
			close(ready)
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func init() {
	f := upCmd.Flags()
	upOpts.flights.register(upCmd, true)
	trainedFlightModelByDefault(upCmd, &upOpts.flights.model)
	upOpts.flights.registerAcceptUnissued(upCmd)
	upOpts.flights.registerRegistry(upCmd)
	upOpts.pipeline.register(upCmd)
	f.StringVar(&upOpts.flightAddr, "flight-addr", envOr("DATALAB_FLIGHT_ADDR", defaultFlightAddr), "flight app listen address (env DATALAB_FLIGHT_ADDR)")
	f.StringVar(&upOpts.matchAddr, "addr", envOr("DATALAB_ADDR", defaultMatchAddr), "match app listen address (env DATALAB_ADDR)")
	f.StringVar(&upOpts.brokerAddr, "broker-addr", envOr("DATALAB_BROKER_ADDR", defaultBroker), "embedded broker address when --brokers is empty (env DATALAB_BROKER_ADDR)")
	f.StringVar(&upOpts.brokerData, "broker-data", envOr("DATALAB_BROKER_DATA", ".datalab/kafka"), "embedded broker state directory (env DATALAB_BROKER_DATA)")
	upOpts.brokerTLS.register(f, "broker-tls-")
	f.BoolVar(&upOpts.noPipeline, "no-pipeline", false, "do not run the pipeline first")
	f.BoolVar(&upOpts.noMatch, "no-match", false, "do not serve the match app")
	registerTrustedOrigins(upCmd, &upOpts.trustedOrigins)
	rootCmd.AddCommand(upCmd)
}

// What `datalab up` serves and which pipeline stages it runs for that: the
// models the pipeline trains (not a Spark fixture `make run` never pulls),
// and only the stages producing them — never the notebooks or reports, so a
// missing notebook kernel cannot keep the apps down.

// trainedFlightModelByDefault makes up's --model default to the flight model
// the pipeline trains (resolved at run time by upFlightModel) instead of the
// Spark 3.3.3 fixture the separate flight commands default to; the fixtures
// stay available with --model or DATALAB_FLIGHT_MODEL.
func trainedFlightModelByDefault(cmd *cobra.Command, model *string) {
	fl := cmd.Flags().Lookup("model")
	fl.DefValue = ""
	fl.Usage = "flight model directory, Spark format (env DATALAB_FLIGHT_MODEL; default build/models/flights/<params.flights.serve_variant>, the model the pipeline trains; " +
		"a Spark fixture after `datalab data pull spark-flight-delay-3.3.3`: --model data/spark-flight-delay-3.3.3), or registry:flights@champion to follow a registry alias"
	*model = os.Getenv("DATALAB_FLIGHT_MODEL")
}

// upFlightModel is the flight model up serves: flag when given, else
// build/models/flights/<params.flights.serve_variant> of the pipeline file.
func upFlightModel(flag, pipelineFile string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	cfg, err := flightsConfig(pipelineFile)
	if err != nil {
		return "", fmt.Errorf("no --model given and the served flight variant is unknown: %w", err)
	}
	if cfg.ServeVariant == "" {
		return "", fmt.Errorf("no --model given and %s sets no params.flights.serve_variant", pipelineFile)
	}
	return filepath.Join(flightmodel.DefaultModelsDir, cfg.ServeVariant), nil
}

// upMatchModel is the match model up's match app serves (as `datalab
// serve` resolves it): build/models/matches/<params.matches.serve_variant>.
func upMatchModel(pipelineFile string) (string, error) {
	cfg, err := matchesConfig(pipelineFile)
	if err != nil {
		return "", err
	}
	return filepath.Join(matchmodel.DefaultModelsDir, cfg.ServeVariant), nil
}

// upTargets names the stages of p producing the given model directories
// (absolute, or relative to the working directory), in execution order. A
// model no stage produces — a Spark fixture, a directory elsewhere — adds
// none, so serving only such models runs no stage at all.
func upTargets(p *stagerun.Pipeline, models []string) []string {
	want := map[string]bool{}
	for _, m := range models {
		abs, err := filepath.Abs(m)
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(p.Root, abs)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		names, err := p.Producers([]string{rel})
		if err != nil {
			continue
		}
		for _, n := range names {
			want[n] = true
		}
	}
	var targets []string
	for _, n := range p.Names() {
		if want[n] {
			targets = append(targets, n)
		}
	}
	return slices.Clip(targets)
}
