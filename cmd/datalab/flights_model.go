package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/sparkml"
)

var predictFlags struct {
	model, input, output string
	derive               []string
}

var predictCmd = &cobra.Command{
	Use:   "predict --model DIR --input rows.jsonl [--output FILE]",
	Short: "Score JSON rows with a Spark-format model (PipelineModel or per-stage directories)",
	Long: `predict loads a Spark MLlib random forest pipeline and prints one JSON line per
input row: {"prediction":k,"probability":[…]} (plus "label" when the pipeline has
a label stage, e.g. the delay bucket).

An input row is either raw fields, run through the model's StringIndexers and
VectorAssembler exactly as Spark would, e.g.
  {"Carrier":"AA","Origin":"ATL","Dest":"SFO","DepDelay":5,"Distance":2139,
   "DayOfMonth":25,"DayOfWeek":6,"DayOfYear":360}
or a pre-assembled vector, where null is a missing value (NaN):
  {"features":[5,2139,25,6,360,null,null,null,null]}

Columns named by --derive are computed when a row lacks them (the flight
model's Route = Origin-Dest by default).`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		if predictFlags.model == "" || predictFlags.input == "" {
			return fmt.Errorf("--model and --input are required (use --input - for stdin)")
		}
		p, err := sparkml.LoadPipeline(predictFlags.model)
		if err != nil {
			return err
		}
		for _, spec := range predictFlags.derive {
			if spec == "" {
				continue
			}
			d, err := sparkml.ParseDerivation(spec)
			if err != nil {
				return fmt.Errorf("--derive: %w", err)
			}
			p.Derive = append(p.Derive, d)
		}
		var in io.Reader = cmd.InOrStdin()
		if predictFlags.input != "-" {
			f, err := os.Open(predictFlags.input)
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		}
		run := func(w io.Writer) error {
			st, err := sparkml.PredictJSONL(cmd.Context(), p, in, w)
			if err != nil {
				return fmt.Errorf("%s: %w", predictFlags.input, err)
			}
			slog.Info("predicted", "rows", st.Rows, "skipped", st.Skipped, "model", predictFlags.model)
			return nil
		}
		if predictFlags.output == "" || predictFlags.output == "-" {
			return run(cmd.OutOrStdout())
		}
		return atomicfile.Write(predictFlags.output, run)
	},
}

func init() {
	f := predictCmd.Flags()
	f.StringVar(&predictFlags.model, "model", envOr("DATALAB_MODEL", ""), "model directory: a Spark PipelineModel, a RandomForestClassificationModel, or a directory of per-stage directories (env DATALAB_MODEL)")
	f.StringVarP(&predictFlags.input, "input", "i", "", "JSON-lines rows to score, or - for stdin")
	f.StringVarP(&predictFlags.output, "output", "o", "", "write predictions to this file (atomically) instead of stdout")
	f.StringArrayVar(&predictFlags.derive, "derive", []string{"Route=Origin-Dest"}, "compute NAME=COL<sep>COL when a row lacks NAME (repeatable; --derive '' for none)")
	rootCmd.AddCommand(predictCmd)
}

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
