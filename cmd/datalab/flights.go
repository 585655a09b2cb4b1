package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/flights/flightmodel"
	"github.com/datalabhq/datalab/flights/flightreport"
	"github.com/datalabhq/datalab/pipeline/report"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// flightsConfig reads params.flights from the pipeline file.
func flightsConfig(pipelinePath string) (flightmodel.Config, error) {
	return stageConfig[flightmodel.Config](pipelinePath, "flights")
}

var flightsFlags struct {
	pipeline, models, metrics string
	variants                  []string
	csvDir, csvVariant        string
}

func addFlightsFlags(c *cobra.Command, which ...string) {
	f := c.Flags()
	for _, w := range which {
		switch w {
		case "pipeline":
			f.StringVar(&flightsFlags.pipeline, "pipeline", "datalab.yaml", "pipeline file whose params.flights configure the stage")
		case "models":
			f.StringVar(&flightsFlags.models, "models", flightmodel.DefaultModelsDir, "directory of the PipelineModel directories, one per variant")
		case "metrics":
			f.StringVar(&flightsFlags.metrics, "metrics", flightmodel.DefaultMetrics, "evaluation JSON")
		}
	}
}

var featuresFlightsCmd = &cobra.Command{
	Use:   "flights --csv-dir DIR [--variant v]",
	Short: "Export a flight variant's train/test feature matrix as CSV (for external peers such as scikit-learn)",
	Long: `features flights fits the variant's Spark-style stages (Route = Origin-Dest,
StringIndexers frequencyDesc/keep on the training split, VectorAssembler in the
seed's order, label Bucketizer on ArrDelay) and writes DIR/train.csv and
DIR/test.csv: a header of the feature names then "label", one row per flight of
the seeded split (params.flights). These are the exact vectors the forest of
'datalab train flights' is trained and tested on; bench/flightmodel uses them to
measure scikit-learn's reference on the same features.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		cfg, err := flightsConfig(flightsFlags.pipeline)
		if err != nil {
			return err
		}
		if flightsFlags.csvDir == "" {
			return fmt.Errorf("give --csv-dir DIR")
		}
		name := flightsFlags.csvVariant
		if name == "" {
			name = cfg.ServeVariant
		}
		v, err := cfg.Variant(name)
		if err != nil {
			return err
		}
		n, m, err := flightmodel.ExportCSV(cmd.Context(), cfg, v, flightsFlags.csvDir)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "variant %s: wrote %d train and %d test rows to %s\n", v.Name, n, m, flightsFlags.csvDir)
		return nil
	},
}

var trainFlightsCmd = &cobra.Command{
	Use:   "flights [--variant v …]",
	Short: "Train the flight-delay variants (params.flights in datalab.yaml)",
	Long: `train flights trains each variant of params.flights.variants (or those named by
--variant) on the training split of its data set and writes a Spark PipelineModel
directory build/models/flights/<variant>/ (label Bucketizer, StringIndexers,
VectorAssembler, RandomForestClassificationModel). Deterministic: the same inputs
give the same bytes. The flight web app serves such a directory unchanged.

With --engine spark the PySpark job (datalab spark job) trains the same pipeline
on Spark instead — --runner local runs spark-submit --master local[*] here,
--runner emr runs it on a transient EMR cluster (spot fleets, always
terminated) — and the model goes to build/models/flights-spark/<variant>
unless --models is given; default variant: params.flights.serve_variant.
Spark's train/test split is not Go's (docs/spark-training.md):

  datalab train flights --engine spark --variant bts
  datalab train flights --engine spark --runner emr --bucket s3://my-lab \
      --datalab-binary datalab-linux-amd64 --core-nodes 2`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		cfg, err := flightsConfig(flightsFlags.pipeline)
		if err != nil {
			return err
		}
		if sparkFlags.engine != engineGo {
			return trainFlightsSpark(cmd, cfg)
		}
		ts, err := flightmodel.TrainStage(cmd.Context(), cfg, flightsFlags.models, flightsFlags.variants)
		if err != nil {
			return err
		}
		for _, t := range ts {
			fmt.Fprintf(cmd.OutOrStdout(), "%-16s %d train rows, %d features, %d nodes, fit %.2fs\n", t.Variant.Name, t.TrainRows,
				len(t.Variant.Features), t.Pipeline.Model.NumNodes(), t.FitTime.Seconds())
		}
		return nil
	},
}

var evaluateFlightsCmd = &cobra.Command{
	Use:   "flights",
	Short: "Score the flight-delay variants and baselines on their held-out rows",
	Long: `evaluate flights loads every variant's PipelineModel directory (as the web app
does), runs the held-out rows of its data set through it as raw rows (Transform,
Predict), computes the baselines (majority class; DepDelay-only forest where the
data has DepDelay) and writes build/metrics/flights/metrics.json.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		cfg, err := flightsConfig(flightsFlags.pipeline)
		if err != nil {
			return err
		}
		ev, err := flightmodel.EvaluateStage(cmd.Context(), cfg, flightsFlags.models, flightsFlags.metrics)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(w, "variant\tmodel\ttest rows\taccuracy\tw.precision\tw.recall\tw.F1\tlog loss\t\n")
		for _, v := range ev.Variants {
			fmt.Fprintf(w, "%s\t%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t\n", v.Name, "forest", v.TestRows, v.Holdout.Accuracy,
				v.Holdout.WeightedPrecision, v.Holdout.WeightedRecall, v.Holdout.WeightedF1, v.Holdout.LogLoss)
			for _, b := range v.Baselines {
				fmt.Fprintf(w, "%s\t%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t\n", v.Name, b.Name, v.TestRows, b.Holdout.Accuracy,
					b.Holdout.WeightedPrecision, b.Holdout.WeightedRecall, b.Holdout.WeightedF1, b.Holdout.LogLoss)
			}
		}
		return w.Flush()
	},
}

var reportFlightsFlags struct {
	out, reportsDir, runID string
	pointers, ingestOuts   []string
}

var reportFlightsCmd = &cobra.Command{
	Use:   "flights",
	Short: "Write the flight-delay HTML report (held-out metrics, baselines, lineage)",
	Long: `report flights renders build/metrics/flights/metrics.json (datalab evaluate flights)
as a self-contained HTML file, twice:

  reports/runs/<run-id>/flights.html  the run's report (+ sidecar for the site index),
                                      with its lineage: run id (DATALAB_RUN_ID, set by
                                      datalab run), git commit and dirty flag, Go version,
                                      data oids, params.flights, and a data-quality
                                      section (rows read, written and quarantined per
                                      ingested data set and reason)
  build/flights/report.html           the same report without run id, commit and Go
                                      version: its bytes depend only on the inputs

Without DATALAB_RUN_ID or --run-id the run id is "flights-" + the first 12 hex
digits of the metrics file's sha256.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		p, err := stagerun.LoadEnv(flightsFlags.pipeline)
		if err != nil {
			return err
		}
		ev, err := flightmodel.ReadEvaluation(flightsFlags.metrics)
		if err != nil {
			return err
		}
		return publishReport(cmd.OutOrStdout(), report.UseCaseReport{
			Kind:        flightreport.Kind,
			MetricsPath: flightsFlags.metrics,
			RepoDir:     filepath.Dir(flightsFlags.pipeline),
			Pipeline:    p,
			Pointers:    reportFlightsFlags.pointers,
			IngestOuts:  reportFlightsFlags.ingestOuts,
			Params:      report.UseCaseParams(p, "flights"),
			StableOut:   reportFlightsFlags.out,
			ReportsDir:  reportFlightsFlags.reportsDir,
			RunID:       reportFlightsFlags.runID,
			Build: func(l report.Lineage) (*report.Report, error) {
				return flightreport.Build(ev, l)
			},
		})
	},
}

func init() {
	addFlightsFlags(reportFlightsCmd, "pipeline", "metrics")
	rf := reportFlightsCmd.Flags()
	rf.StringVar(&reportFlightsFlags.out, "out", "build/flights/report.html", "the input-determined copy of the report")
	rf.StringVar(&reportFlightsFlags.reportsDir, "reports-dir", "reports", "site directory; the report goes to <dir>/runs/<run-id>/flights.html")
	rf.StringVar(&reportFlightsFlags.runID, "run-id", os.Getenv("DATALAB_RUN_ID"), "run id (env DATALAB_RUN_ID, set by datalab run)")
	rf.StringSliceVar(&reportFlightsFlags.pointers, "pointer", flightPointers, "data pointer files whose oids the lineage lists (repeatable)")
	rf.StringSliceVar(&reportFlightsFlags.ingestOuts, "ingest-out", []string{"build/parquet/bts2008.parquet", "build/parquet/flights3m.parquet"},
		"ingest outputs (Parquet, quarantine file beside) whose rows read, written and quarantined the data-quality section lists (repeatable)")
	subcommandGroup("report", "Write HTML reports").AddCommand(reportFlightsCmd)
}

// flightPointers are the raw data behind the flight variants.
var flightPointers = []string{
	"data/pointers/bts2008/flights_2008_4_1.csv.pointer",
	"data/pointers/bts2008/flights_2008_4_2.csv.pointer",
	"data/pointers/bts2008/flights_2008_5_1.csv.pointer",
	"data/pointers/bts2008/flights_2008_5_2.csv.pointer",
	"data/pointers/bts2008/flights_2008_5_3.csv.pointer",
	"data/pointers/bts2008/flights_2008_6_1.csv.pointer",
	"data/pointers/bts2008/flights_2008_6_2.csv.pointer",
	"data/pointers/flights3m/flights-3m.parquet.pointer",
	"data/pointers/distances/origin_dest_distances.jsonl.pointer",
}

func init() {
	addFlightsFlags(featuresFlightsCmd, "pipeline")
	featuresFlightsCmd.Flags().StringVar(&flightsFlags.csvDir, "csv-dir", "", "directory for train.csv and test.csv")
	featuresFlightsCmd.Flags().StringVar(&flightsFlags.csvVariant, "variant", "", "variant whose features to export (default params.flights.serve_variant)")
	subcommandGroup("features", "Build use-case features from ingested data").AddCommand(featuresFlightsCmd)

	addFlightsFlags(trainFlightsCmd, "pipeline", "models")
	trainFlightsCmd.Flags().StringSliceVar(&flightsFlags.variants, "variant", nil, "train only these variants (repeatable)")
	subcommandGroup("train", "Train models").AddCommand(trainFlightsCmd)

	addFlightsFlags(evaluateFlightsCmd, "pipeline", "models", "metrics")
	subcommandGroup("evaluate", "Evaluate trained models").AddCommand(evaluateFlightsCmd)
}
