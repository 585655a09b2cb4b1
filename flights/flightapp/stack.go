package flightapp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/flights/stream"
	"github.com/datalabhq/datalab/pipeline/ingest"
	"github.com/datalabhq/datalab/pipeline/serve"
	"github.com/prometheus/client_golang/prometheus"
)

// StackConfig configures StartStack.
type StackConfig struct {
	// Brokers are real Kafka brokers; empty starts the embedded broker on
	// EmbeddedAddr (default 127.0.0.1:9092), persisting to EmbeddedDataDir
	// when set.
	Brokers         []string
	EmbeddedAddr    string
	EmbeddedDataDir string
	// Kafka is how the producer and the predictors connect (TLS, SASL).
	Kafka stream.Security
	// EmbeddedTLS and EmbeddedUsers make the embedded broker speak TLS
	// and require SASL (stream.BrokerConfig's TLS and Users).
	EmbeddedTLS   *tls.Config
	EmbeddedUsers []stream.BrokerUser
	// Topics default to stream.DefaultTopics(); Partitions (default 3) is
	// used when creating them.
	Topics     stream.Topics
	Partitions int32
	// Scorer (or Models), Distances and Store are required; Models, when
	// set, is the model of the app and the predictors (Config.Models).
	Scorer    *flightdelay.Scorer
	Models    flightdelay.Models
	Distances *ingest.DistanceTable
	Store     flightstore.Store
	// Registry gets the app's (and the first predictor's) metrics and is
	// served on /metrics; nil makes one. The caller registers more on it,
	// e.g. the model metrics of a registry alias (serve.ModelMetrics).
	Registry *prometheus.Registry
	// Predictors is how many predictor group members to run in-process
	// (default 1; 0 is taken as 1, use NoPredictor for none).
	Predictors  int
	NoPredictor bool
	Logger      *slog.Logger
	// TrustedOrigins are the app's (Config.TrustedOrigins).
	TrustedOrigins []string
}

// Stack is the flight app with its Kafka plumbing in one process: the
// embedded broker (when no brokers are given), the producer, the
// predictor(s) and the HTTP handler. `datalab up`, the tests and the
// benchmark all run this.
type Stack struct {
	// App is the HTTP handler.
	App *App
	// Broker is the embedded broker, nil with real brokers.
	Broker *stream.Broker
	// Brokers are the addresses in use.
	Brokers []string
	// Producer publishes requests.
	Producer *stream.Producer
	// Predictors are the in-process predictors.
	Predictors []*stream.Predictor

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartStack starts everything and returns once the topics exist.
func StartStack(ctx context.Context, cfg StackConfig) (*Stack, error) {
	if cfg.Models == nil && cfg.Scorer != nil {
		cfg.Models = flightdelay.FixedModel(cfg.Scorer)
	}
	if cfg.Models == nil || cfg.Distances == nil || cfg.Store == nil {
		return nil, errors.New("stack: Scorer (or Models), Distances and Store are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Topics == (stream.Topics{}) {
		cfg.Topics = stream.DefaultTopics()
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 3
	}
	if cfg.Predictors <= 0 {
		cfg.Predictors = 1
	}
	s := &Stack{Brokers: cfg.Brokers}
	fail := func(err error) (*Stack, error) {
		s.Close()
		return nil, err
	}
	if len(s.Brokers) == 0 {
		addr := cfg.EmbeddedAddr
		if addr == "" {
			addr = "127.0.0.1:9092"
		}
		b, err := stream.StartBroker(stream.BrokerConfig{Addr: addr, DataDir: cfg.EmbeddedDataDir, Partitions: int(cfg.Partitions), Logger: cfg.Logger,
			TLS: cfg.EmbeddedTLS, Users: cfg.EmbeddedUsers})
		if err != nil {
			return fail(err)
		}
		s.Broker, s.Brokers = b, []string{b.Addr()}
	}
	kafkaOpts, err := cfg.Kafka.ClientOpts(s.Brokers)
	if err != nil {
		return fail(err)
	}
	p, err := stream.NewProducer(s.Brokers, cfg.Topics.Request, kafkaOpts...)
	if err != nil {
		return fail(err)
	}
	s.Producer = p
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := stream.EnsureTopics(tctx, p.Client(), cfg.Partitions, cfg.Topics.All()...); err != nil {
		return fail(cfg.Kafka.Explain(err))
	}
	reg := cfg.Registry
	if reg == nil {
		reg = serve.NewRegistry()
	}
	s.App, err = New(Config{
		Enricher: &flightdelay.Enricher{Distances: cfg.Distances},
		Models:   cfg.Models, Store: cfg.Store, Publisher: p, Logger: cfg.Logger, Registry: reg,
		TrustedOrigins: cfg.TrustedOrigins,
	})
	if err != nil {
		return fail(err)
	}
	runCtx, runCancel := context.WithCancel(context.Background())
	s.cancel = runCancel
	if !cfg.NoPredictor {
		for i := range cfg.Predictors {
			var r prometheus.Registerer
			if i == 0 {
				r = reg // one member's counters on /metrics
			}
			pr, err := stream.NewPredictor(stream.PredictorConfig{Brokers: s.Brokers, Topics: cfg.Topics,
				Models: cfg.Models, Store: cfg.Store, Logger: cfg.Logger, Registerer: r, ClientOpts: kafkaOpts})
			if err != nil {
				return fail(fmt.Errorf("stack: %w", err))
			}
			s.Predictors = append(s.Predictors, pr)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				if err := pr.Run(runCtx); err != nil {
					cfg.Logger.Error("predictor", "err", err)
				}
			}()
		}
	}
	return s, nil
}

// Close stops the predictors (leaving their group), the producer and the
// embedded broker, in that order. The store is the caller's.
func (s *Stack) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.Producer != nil {
		s.Producer.Close()
	}
	if s.Broker != nil {
		s.Broker.Close()
	}
}
