package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/stream"
)

var predictorOpts struct {
	flightOptions
	group string
}

var predictorCmd = &cobra.Command{
	Use:   "predictor",
	Short: "Consume flight-delay requests from Kafka, predict, store, publish the response, commit",
	Long: `predictor joins a consumer group on the request topic. For each batch it
decodes the requests, predicts with the flight model, upserts the predictions
into the store (keyed by UUID, so redelivered requests do not duplicate),
publishes them to the response topic, and only then commits the offsets.
Messages it cannot use go to the dead-letter topic with the reason in the
dlq.reason header. While the store is down it retries with backoff and commits
nothing. Run several predictors with the same --group to share partitions.`,
	Example: `  datalab predictor --brokers 127.0.0.1:9092 --model data/spark-flight-delay-3.3.3 --store .datalab/flights.sqlite
  datalab predictor --store mongodb://127.0.0.1:27017/agile_data_science`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		o := predictorOpts
		ctx := cmd.Context()
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
		pr, err := stream.NewPredictor(stream.PredictorConfig{Brokers: o.brokerList(), Group: o.group,
			Topics: o.topics, Scorer: sc, Store: st, Logger: slog.Default()})
		if err != nil {
			return err
		}
		return pr.Run(ctx)
	},
}

func init() {
	predictorOpts.register(predictorCmd, false)
	predictorCmd.Flags().StringVar(&predictorOpts.group, "group", envOr("DATALAB_PREDICTOR_GROUP", "datalab-flight-predictor"), "consumer group (env DATALAB_PREDICTOR_GROUP)")
	rootCmd.AddCommand(predictorCmd)
}
