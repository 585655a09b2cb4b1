package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/flights/stream"
)

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
