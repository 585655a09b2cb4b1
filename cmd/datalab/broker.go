package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/stream"
)

var brokerOpts struct {
	addr, dataDir string
	partitions    int
}

var brokerCmd = &cobra.Command{
	Use:   "broker",
	Short: "Run an embedded Kafka-protocol broker on loopback (franz-go kfake) for the flight stack",
	Long: `broker runs a single-node Kafka-protocol broker in this process, on a
loopback address, so that serve-flights and predictor can run without a Kafka
installation. Its state (topics, records, group offsets) is kept in --data-dir
and survives a restart on the same address. It has no authentication: for
anything beyond one machine, point --brokers at a real Kafka instead.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		b, err := stream.StartBroker(stream.BrokerConfig{Addr: brokerOpts.addr, DataDir: brokerOpts.dataDir,
			Partitions: brokerOpts.partitions, Logger: slog.Default()})
		if err != nil {
			return err
		}
		slog.Info("embedded broker listening", "addr", b.Addr(), "data_dir", brokerOpts.dataDir)
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
	rootCmd.AddCommand(brokerCmd)
}
