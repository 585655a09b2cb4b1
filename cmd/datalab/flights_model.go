package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/sparkml"
	"github.com/spf13/cobra"
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
