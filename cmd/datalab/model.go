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
feature importances) and the label stage used in training. --json prints the
same as one JSON document.`,
	Args: cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		p, err := sparkml.LoadPipeline(args[0])
		if err != nil {
			return err
		}
		s := p.Summary()
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
