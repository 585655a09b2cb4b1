package main

import (
	"encoding/json"

	"github.com/datalabhq/datalab/pipeline/sparkml"
	"github.com/spf13/cobra"
)

var modelCmd = &cobra.Command{
	Use:   "model",
	Short: "Work with saved models (Spark MLlib format)",
}

var modelInspectJSON bool

var modelInspectCmd = &cobra.Command{
	Use:   "inspect DIR",
	Short: "Show a model's stages, params, tree statistics and feature importances",
	Long: `inspect loads a Spark-format model directory (a PipelineModel, a lone
RandomForestClassificationModel, or a directory of per-stage directories) and
prints its feature stages, the classifier (params, trees, nodes, depth, classes,
feature importances) and the label stage used in training.

Given a single stage directory (e.g. the seed's string_indexer_model_Route.bin),
it describes that stage: class, uid, Spark version, input and output columns,
params, and what it holds — a StringIndexerModel's labels (index = position)
and handleInvalid, a Bucketizer's splits and buckets, a VectorAssembler's
inputs. Other Spark stage classes (OneHotEncoderModel, …) are described from
their saved params. Stages written by Spark 2.x and 3.x and by datalab are read.

--json prints the same as one JSON document (all labels, not the first 20).`,
	Example: `  datalab model inspect build/models/flights/bts/model
  datalab model inspect data/spark-flight-delay-3.3.3/string_indexer_model_Route.bin
  datalab model inspect --json data/spark-flight-delay-3.3.3/arrival_bucketizer_2.0.bin`,
	Args: cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		s, err := sparkml.Inspect(args[0])
		if err != nil {
			return err
		}
		if modelInspectJSON {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(s)
		}
		return s.WriteText(cmd.OutOrStdout())
	},
}

func init() {
	modelInspectCmd.Flags().BoolVar(&modelInspectJSON, "json", false, "print JSON instead of tables")
	modelCmd.AddCommand(modelInspectCmd)
	rootCmd.AddCommand(modelCmd)
}
