package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

With --model registry:flights@champion (any alias, or a version id) the
predictor serves what that alias of the model registry (--registry) points
at and checks it every --registry-poll: a new version is fetched and loaded
in the background and swapped in between batches. Each batch is scored by
one version, and every stored prediction's Model is the registry version id
that scored it. /healthz then names model_version, alias and since, and
/metrics has datalab_model_info{app="predictor",version,alias} and the swap
counters (docs/flights-streaming.md).

The default listens on loopback only; in a container set --addr :9102 (as the
deploy manifests do). Several predictors on one machine need one --addr each
(127.0.0.1:0 picks a free port); --addr "" serves nothing.`,
	Example: `  datalab predictor --brokers 127.0.0.1:9092 --model data/spark-flight-delay-3.3.3 --store .datalab/flights.sqlite
  datalab predictor --store mongodb://127.0.0.1:27017/agile_data_science
  datalab predictor --model registry:flights@champion --registry s3://models/registry
  DATALAB_PREDICTOR_ADDR=:9102 datalab predictor --brokers kafka:9092`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		return runPredictor(cmd.Context(), predictorOpts, slog.Default(), nil)
	},
}

func init() {
	predictorOpts.register(predictorCmd, false)
	predictorOpts.registerAcceptUnissued(predictorCmd)
	predictorOpts.registerRegistry(predictorCmd)
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
	reg := serve.NewRegistry()
	models, _, stopModels, err := o.flightModels(ctx, "predictor", reg, log)
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
	pr, err := stream.NewPredictor(stream.PredictorConfig{Brokers: o.brokerList(), Group: o.group,
		Topics: o.topics, Models: models, Store: st, Logger: log, Registerer: reg, ClientOpts: kafkaOpts, StuckAfter: o.stuckAfter})
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

var brokerOpts struct {
	addr, dataDir string
	partitions    int
	kafka         kafkaFlags
	tls           brokerTLSFlags
}

var brokerCmd = &cobra.Command{
	Use:   "broker",
	Short: "Run an embedded Kafka-protocol broker on loopback (franz-go kfake) for the flight stack",
	Long: `broker runs a single-node Kafka-protocol broker in this process, on a
loopback address, so that serve-flights and predictor can run without a Kafka
installation. Its state (topics, records, group offsets) is kept in --data-dir
and survives a restart on the same address. For anything beyond one machine,
point --brokers at a real Kafka instead.

Loopback is reachable by every user of the machine. To keep them out, run it
with TLS (--tls-cert, --tls-key; --tls-client-ca to require client
certificates) and a SASL user: --kafka-sasl-mechanism (PLAIN, SCRAM-SHA-256 or
SCRAM-SHA-512), --kafka-sasl-username and the password in
DATALAB_KAFKA_SASL_PASSWORD or --kafka-sasl-password-file: the same settings
the clients (predictor, serve-flights) read, so one set of DATALAB_KAFKA_*
variables configures both sides. SASL users are never written to --data-dir.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		users, err := brokerOpts.kafka.brokerUsers()
		if err != nil {
			return err
		}
		tc, err := brokerOpts.tls.config()
		if err != nil {
			return err
		}
		b, err := stream.StartBroker(stream.BrokerConfig{Addr: brokerOpts.addr, DataDir: brokerOpts.dataDir,
			Partitions: brokerOpts.partitions, Logger: slog.Default(), TLS: tc, Users: users})
		if err != nil {
			return err
		}
		var sasl []string
		for _, u := range users {
			sasl = append(sasl, u.Mechanism+" user "+u.Name)
		}
		slog.Info("embedded broker listening", "addr", b.Addr(), "data_dir", brokerOpts.dataDir, "tls", tc != nil, "sasl", sasl)
		<-cmd.Context().Done()
		b.Close()
		slog.Info("embedded broker stopped")
		return nil
	},
}

func init() {
	f := brokerCmd.Flags()
	f.StringVar(&brokerOpts.addr, "addr", envOr("DATALAB_BROKER_ADDR", defaultBroker), "loopback listen address (env DATALAB_BROKER_ADDR)")
	f.StringVar(&brokerOpts.dataDir, "data-dir", envOr("DATALAB_BROKER_DATA", ".datalab/kafka"), "where the broker keeps its state; empty for memory only (env DATALAB_BROKER_DATA)")
	f.IntVar(&brokerOpts.partitions, "partitions", 3, "default partitions of auto-created topics")
	brokerOpts.kafka.registerSASL(f)
	brokerOpts.tls.register(f, "tls-")
	rootCmd.AddCommand(brokerCmd)
}

// kafkaSecurityHelp is the part of --help of every Kafka command that says
// how to connect to a managed Kafka; docs/kafka-security.md has the rest.
const kafkaSecurityHelp = `
Kafka security (flags or DATALAB_KAFKA_* variables; docs/kafka-security.md):
  AWS MSK, IAM:    --kafka-tls --kafka-sasl-mechanism AWS_MSK_IAM   (port 9098; AWS credentials
                   from the environment, shared config or the instance/pod role)
  AWS MSK, SCRAM:  --kafka-tls --kafka-sasl-mechanism SCRAM-SHA-512 --kafka-sasl-username U   (port 9096)
  Confluent Cloud: --kafka-tls --kafka-sasl-mechanism PLAIN --kafka-sasl-username API_KEY     (port 9092)
The SASL password (Confluent: the API secret) comes only from the variable
DATALAB_KAFKA_SASL_PASSWORD or the file --kafka-sasl-password-file, never
from a flag value (visible to every user in ps), and is never logged.`

// kafkaFlags are the Kafka connection settings of every command that talks
// to Kafka (predictor, serve-flights, up) and the SASL user of the embedded
// broker (broker, up): one definition, so they read the same flags and
// variables everywhere.
type kafkaFlags struct {
	tls, insecureSkipVerify               bool
	caFile, certFile, keyFile, serverName string
	mechanism, username, passwordFile     string
}

// envBool reads a boolean variable for a flag default; a value that is not
// a boolean is reported when the flags are used (see kafkaFlags.security).
func envBool(name string) bool {
	v, _ := strconv.ParseBool(os.Getenv(name))
	return v
}

// register adds the client flags (TLS and SASL) to f.
func (k *kafkaFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&k.tls, "kafka-tls", envBool("DATALAB_KAFKA_TLS"), "connect to Kafka with TLS, trusting the system roots or --kafka-tls-ca (env DATALAB_KAFKA_TLS)")
	f.StringVar(&k.caFile, "kafka-tls-ca", os.Getenv("DATALAB_KAFKA_TLS_CA"), "PEM file of the CA that signed the brokers' certificates; implies --kafka-tls (env DATALAB_KAFKA_TLS_CA)")
	f.StringVar(&k.certFile, "kafka-tls-cert", os.Getenv("DATALAB_KAFKA_TLS_CERT"), "client certificate (PEM) for brokers that require mutual TLS (env DATALAB_KAFKA_TLS_CERT)")
	f.StringVar(&k.keyFile, "kafka-tls-key", os.Getenv("DATALAB_KAFKA_TLS_KEY"), "key (PEM) of --kafka-tls-cert (env DATALAB_KAFKA_TLS_KEY)")
	f.StringVar(&k.serverName, "kafka-tls-server-name", os.Getenv("DATALAB_KAFKA_TLS_SERVER_NAME"), "name to verify the brokers' certificates against instead of their host (env DATALAB_KAFKA_TLS_SERVER_NAME)")
	f.BoolVar(&k.insecureSkipVerify, "kafka-tls-insecure-skip-verify", envBool("DATALAB_KAFKA_TLS_INSECURE_SKIP_VERIFY"), "accept any broker certificate: anyone on the path can read and change the traffic; never in production (env DATALAB_KAFKA_TLS_INSECURE_SKIP_VERIFY)")
	k.registerSASL(f)
}

// registerSASL adds the SASL flags only (the embedded broker's user).
func (k *kafkaFlags) registerSASL(f *pflag.FlagSet) {
	f.StringVar(&k.mechanism, "kafka-sasl-mechanism", os.Getenv("DATALAB_KAFKA_SASL_MECHANISM"), "SASL mechanism: "+strings.Join(stream.Mechanisms(), ", ")+"; empty for none (env DATALAB_KAFKA_SASL_MECHANISM)")
	f.StringVar(&k.username, "kafka-sasl-username", os.Getenv("DATALAB_KAFKA_SASL_USERNAME"), "SASL username (Confluent Cloud: the API key) (env DATALAB_KAFKA_SASL_USERNAME)")
	f.StringVar(&k.passwordFile, "kafka-sasl-password-file", os.Getenv("DATALAB_KAFKA_SASL_PASSWORD_FILE"), "file holding the SASL password (one trailing newline is ignored); else the password is read from env DATALAB_KAFKA_SASL_PASSWORD (env DATALAB_KAFKA_SASL_PASSWORD_FILE)")
}

// security resolves the settings, reading the password now (from the
// file, else DATALAB_KAFKA_SASL_PASSWORD) so that it is never a flag
// default printed by --help.
func (k *kafkaFlags) security() (stream.Security, error) {
	for _, v := range []string{"DATALAB_KAFKA_TLS", "DATALAB_KAFKA_TLS_INSECURE_SKIP_VERIFY"} {
		if s := os.Getenv(v); s != "" {
			if _, err := strconv.ParseBool(s); err != nil {
				return stream.Security{}, fmt.Errorf("%s=%q: want true or false", v, s)
			}
		}
	}
	s := stream.Security{TLS: k.tls, TLSCAFile: k.caFile, TLSCertFile: k.certFile, TLSKeyFile: k.keyFile,
		TLSServerName: k.serverName, TLSInsecureSkipVerify: k.insecureSkipVerify,
		SASLMechanism: k.mechanism, SASLUsername: k.username, SASLPassword: os.Getenv("DATALAB_KAFKA_SASL_PASSWORD")}
	// The file is read only for a mechanism with a password: deploys mount
	// one (possibly empty) file whether SASL is on or not.
	if m := strings.ToUpper(k.mechanism); k.passwordFile != "" && m != "" && m != stream.MechanismAWSMSKIAM {
		b, err := os.ReadFile(k.passwordFile)
		if err != nil {
			// The error names the file, never its content.
			return stream.Security{}, fmt.Errorf("kafka SASL password file: %w", err)
		}
		s.SASLPassword = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if s.SASLPassword == "" {
			return stream.Security{}, fmt.Errorf("kafka SASL password file %s is empty", k.passwordFile)
		}
	}
	return s, nil
}

// brokerUsers is the embedded broker's SASL user: the one the clients
// authenticate as, so one set of DATALAB_KAFKA_SASL_* variables configures
// both sides. None when no mechanism is set.
func (k *kafkaFlags) brokerUsers() ([]stream.BrokerUser, error) {
	s, err := k.security()
	if err != nil || s.SASLMechanism == "" {
		return nil, err
	}
	m := strings.ToUpper(s.SASLMechanism)
	if m == stream.MechanismAWSMSKIAM {
		return nil, errors.New("the embedded broker cannot check AWS_MSK_IAM (only MSK can): use PLAIN or SCRAM-SHA-256/512 with it, or point --brokers at MSK")
	}
	if s.SASLUsername == "" || s.SASLPassword == "" {
		return nil, fmt.Errorf("the embedded broker's SASL %s user needs --kafka-sasl-username and DATALAB_KAFKA_SASL_PASSWORD (or --kafka-sasl-password-file)", m)
	}
	return []stream.BrokerUser{{Mechanism: m, Name: s.SASLUsername, Password: s.SASLPassword}}, nil
}

// brokerTLSFlags are the embedded broker's server certificate settings,
// under prefix ("tls-" for `datalab broker`, "broker-tls-" for `up`).
type brokerTLSFlags struct {
	certFile, keyFile, clientCAFile string
}

func (b *brokerTLSFlags) register(f *pflag.FlagSet, prefix string) {
	f.StringVar(&b.certFile, prefix+"cert", os.Getenv("DATALAB_BROKER_TLS_CERT"), "embedded broker: serve TLS with this PEM certificate (env DATALAB_BROKER_TLS_CERT); clients then need --kafka-tls-ca")
	f.StringVar(&b.keyFile, prefix+"key", os.Getenv("DATALAB_BROKER_TLS_KEY"), "embedded broker: key (PEM) of the certificate (env DATALAB_BROKER_TLS_KEY)")
	f.StringVar(&b.clientCAFile, prefix+"client-ca", os.Getenv("DATALAB_BROKER_TLS_CLIENT_CA"), "embedded broker: require client certificates signed by this PEM CA (env DATALAB_BROKER_TLS_CLIENT_CA)")
}

// config returns the broker's TLS configuration, nil without a certificate.
func (b *brokerTLSFlags) config() (*tls.Config, error) {
	if b.certFile == "" && b.keyFile == "" && b.clientCAFile == "" {
		return nil, nil
	}
	return stream.ServerTLSConfig(b.certFile, b.keyFile, b.clientCAFile)
}
