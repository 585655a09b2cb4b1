package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/matches/matchreport"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/pipeline/report"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// matchesConfig reads params.matches from the pipeline file.
func matchesConfig(pipelinePath string) (matchmodel.Config, error) {
	return stageConfig[matchmodel.Config](pipelinePath, "matches")
}

var matchesPaths struct {
	pipeline, matches, results, groups, lookup, features, models, metrics string
}

// addMatchesPathFlags adds the input/output flags the match stages share.
func addMatchesPathFlags(c *cobra.Command, which ...string) {
	f := c.Flags()
	for _, w := range which {
		switch w {
		case "pipeline":
			f.StringVar(&matchesPaths.pipeline, "pipeline", "datalab.yaml", "pipeline file whose params.matches configure the stage")
		case "matches":
			f.StringVar(&matchesPaths.matches, "matches", matchmodel.DefaultMatches, "ingested matches (datalab ingest matches)")
		case "results":
			f.StringVar(&matchesPaths.results, "results", matchmodel.DefaultResults, "ingested martj42 results (datalab ingest martj42)")
		case "groups":
			f.StringVar(&matchesPaths.groups, "groups", matchmodel.DefaultGroups, "World Cup 2022 groups CSV (datalab data pull worldcup2022)")
		case "lookup":
			f.StringVar(&matchesPaths.lookup, "lookup", matchmodel.DefaultLookup, "per-team lookup (datalab features matches)")
		case "features":
			f.StringVar(&matchesPaths.features, "features", matchmodel.DefaultFeatures, "feature table Parquet")
		case "models":
			f.StringVar(&matchesPaths.models, "models", matchmodel.DefaultModelsDir, "directory of the model directories, one per variant")
		case "metrics":
			f.StringVar(&matchesPaths.metrics, "metrics", matchmodel.DefaultMetrics, "evaluation JSON")
		}
	}
}

var featuresMatchesCmd = &cobra.Command{
	Use:   "matches",
	Short: "Build the per-team lookup and the feature table of every match",
	Long: `features matches reads build/parquet/matches.parquet and writes
  build/matches/lookup.json      per-team timeline (rank, points, EA squad, Elo, form) and head-to-head
  build/matches/features.parquet every match with all features as of its date, and its result
Features of a match use only results strictly before its date (docs/matches.md).`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		lk, n, err := matchmodel.FeaturesStage(matchesPaths.matches, matchesPaths.lookup, matchesPaths.features)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "matches %d (%s … %s), teams %d, pairs %d\n", n, lk.FirstDate, lk.LastDate, len(lk.Teams), len(lk.H2H))
		return nil
	},
}

var trainMatchesVariants []string

var trainMatchesCmd = &cobra.Command{
	Use:   "matches [--variant v …]",
	Short: "Train the match-winner variants (params.matches in datalab.yaml)",
	Long: `train matches trains each variant of params.matches.variants (or those named by
--variant) on the matches before params.matches.test_year and writes
build/models/matches/<variant>/: spark/ (Spark PipelineModel), lookup.json,
manifest.json. Training is deterministic: the same inputs give the same bytes.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		cfg, err := matchesConfig(matchesPaths.pipeline)
		if err != nil {
			return err
		}
		d, err := matchmodel.LoadData(matchesPaths.matches, matchesPaths.lookup, cfg.TestYear)
		if err != nil {
			return err
		}
		ms, err := matchmodel.TrainStage(cmd.Context(), cfg, d, matchesPaths.groups, matchesPaths.models, trainMatchesVariants)
		if err != nil {
			return err
		}
		for _, m := range ms {
			fmt.Fprintf(cmd.OutOrStdout(), "%-6s %d rows, %d features, version %s\n", m.Variant.Name, m.TrainRows, len(m.Columns), m.Version)
		}
		return nil
	},
}

func init() {
	addMatchesPathFlags(featuresMatchesCmd, "matches", "lookup", "features")
	subcommandGroup("features", "Build use-case features from ingested data").AddCommand(featuresMatchesCmd)

	addMatchesPathFlags(trainMatchesCmd, "pipeline", "matches", "lookup", "groups", "models")
	trainMatchesCmd.Flags().StringSliceVar(&trainMatchesVariants, "variant", nil, "train only these variants (repeatable)")
	subcommandGroup("train", "Train models").AddCommand(trainMatchesCmd)
}

var evaluateMatchesCmd = &cobra.Command{
	Use:   "matches",
	Short: "Score the match-winner variants and baselines on the test year and the 2022 World Cup",
	Long: `evaluate matches loads every variant's model directory (as the web app does),
scores the matches of params.matches.test_year and the 64 real World Cup 2022
matches (martj42 results, features as of 2022-11-20), computes the baselines
("better FIFA rank wins", an Elo ordered logit fitted on the training years,
majority class) and writes build/matches/metrics.json, with a "served" block
for params.matches.serve_variant: its metrics as three-way and as home win vs
not, and its checks against the rank rule and the Elo logit. RPS is the ranked
probability score (lower is better).`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		cfg, err := matchesConfig(matchesPaths.pipeline)
		if err != nil {
			return err
		}
		d, err := matchmodel.LoadData(matchesPaths.matches, matchesPaths.lookup, cfg.TestYear)
		if err != nil {
			return err
		}
		ev, err := matchmodel.EvaluateStage(cmd.Context(), cfg, d, matchesPaths.results, matchesPaths.models, matchesPaths.metrics)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(w, "model\tclasses\tacc %d\tbal.acc %d\tlog loss %d\tRPS %d\tAUC %d\tacc WC64\tRPS WC64\t\n", ev.TestYear, ev.TestYear, ev.TestYear, ev.TestYear, ev.TestYear)
		for _, v := range ev.Variants {
			fmt.Fprintf(w, "%s\t%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t\n", v.Name, matchmodel.ClassSet(classesOf(v.Holdout.Classes)),
				v.Holdout.Accuracy, v.Holdout.BalancedAccuracy, v.Holdout.LogLoss, v.Holdout.RPS, v.Holdout.AUC, v.WorldCup.Accuracy, v.WorldCup.RPS)
		}
		for _, set := range []string{"binary", "three-way"} {
			for _, b := range ev.Baselines[set] {
				// Rules without probabilities are scored as one-hot
				// forecasts: their log loss and AUC say nothing.
				ll, auc := "-", "-"
				if b.Name == matchmodel.EloLogitName {
					ll, auc = fmt.Sprintf("%.4f", b.Holdout.LogLoss), fmt.Sprintf("%.4f", b.Holdout.AUC)
				}
				fmt.Fprintf(w, "%s\t%s\t%.4f\t%.4f\t%s\t%.4f\t%s\t%.4f\t%.4f\t\n", b.Name, set, b.Holdout.Accuracy, b.Holdout.BalancedAccuracy, ll, b.Holdout.RPS, auc, b.WorldCup.Accuracy, b.WorldCup.RPS)
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if sv := ev.Served; sv != nil {
			failed := 0
			for _, c := range sv.Checks {
				if !c.Pass {
					failed++
					fmt.Fprintf(cmd.OutOrStdout(), "served %s misses the target: %s %s %s %.4f vs %s %.4f\n", sv.Variant, c.Set, c.Classes, c.Metric, c.Served, c.Baseline, c.Value)
				}
			}
			if failed == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "served %s beats %s on the %d hold-out and does not lose on the World Cup (%d checks)\n",
					sv.Variant, strings.Join(matchmodel.ServedBaselines, " and "), ev.TestYear, len(sv.Checks))
			}
		}
		return nil
	},
}

// classesOf counts classes for ClassSet from a Result's class names.
func classesOf(names []string) []matchwinner.Outcome {
	out := make([]matchwinner.Outcome, len(names))
	for i, n := range names {
		out[i] = matchwinner.Outcome(n)
	}
	return out
}

func init() {
	addMatchesPathFlags(evaluateMatchesCmd, "pipeline", "matches", "lookup", "results", "models", "metrics")
	subcommandGroup("evaluate", "Evaluate trained models").AddCommand(evaluateMatchesCmd)
}

var reportMatchesFlags struct {
	out, reportsDir, runID string
	pointers, ingestOuts   []string
}

var reportMatchesCmd = &cobra.Command{
	Use:   "matches",
	Short: "Write the match-winner HTML report (variants vs baselines, World Cup 2022)",
	Long: `report matches renders build/matches/metrics.json (datalab evaluate matches) as a
self-contained HTML file, twice:

  reports/runs/<run-id>/matches.html  the run's report, with its lineage: run id
                                      (DATALAB_RUN_ID, set by datalab run), git
                                      commit and dirty flag, data oids, params, and
                                      a data-quality section: rows read, written and
                                      quarantined per ingested data set and reason
  build/matches/report.html           the same report without run id, commit and Go
                                      version: its bytes depend only on the inputs,
                                      so the pipeline can check it across runs

Without DATALAB_RUN_ID or --run-id the run id is "matches-" + the first 12 hex
digits of the metrics file's sha256.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		cfg, err := matchesConfig(matchesPaths.pipeline)
		if err != nil {
			return err
		}
		p, err := stagerun.LoadEnv(matchesPaths.pipeline)
		if err != nil {
			return err
		}
		ev, err := matchmodel.ReadEvaluation(matchesPaths.metrics)
		if err != nil {
			return err
		}
		return publishReport(cmd.OutOrStdout(), report.UseCaseReport{
			Kind:        matchreport.Kind,
			MetricsPath: matchesPaths.metrics,
			RepoDir:     filepath.Dir(matchesPaths.pipeline),
			Pipeline:    p,
			Pointers:    reportMatchesFlags.pointers,
			IngestOuts:  reportMatchesFlags.ingestOuts,
			Params:      matchreport.MatchParams(p),
			StableOut:   reportMatchesFlags.out,
			ReportsDir:  reportMatchesFlags.reportsDir,
			RunID:       reportMatchesFlags.runID,
			Build: func(l report.Lineage) (*report.Report, error) {
				return matchreport.Build(ev, l, cfg.ServeVariant)
			},
		})
	},
}

func init() {
	addMatchesPathFlags(reportMatchesCmd, "pipeline", "metrics")
	f := reportMatchesCmd.Flags()
	f.StringVar(&reportMatchesFlags.out, "out", "build/matches/report.html", "the input-determined copy of the report")
	f.StringVar(&reportMatchesFlags.reportsDir, "reports-dir", "reports", "site directory; the report goes to <dir>/runs/<run-id>/matches.html")
	f.StringVar(&reportMatchesFlags.runID, "run-id", os.Getenv("DATALAB_RUN_ID"), "run id (env DATALAB_RUN_ID, set by datalab run)")
	f.StringSliceVar(&reportMatchesFlags.pointers, "pointer", []string{
		"data/pointers/matches/international_matches.csv.pointer",
		"data/pointers/martj42/results.csv.pointer",
		"data/pointers/worldcup2022/2022_world_cup_groups.csv.pointer",
	}, "data pointer files whose oids the lineage lists (repeatable)")
	f.StringSliceVar(&reportMatchesFlags.ingestOuts, "ingest-out", []string{
		"build/parquet/matches.parquet",
		"build/parquet/martj42.parquet",
	}, "ingest outputs (Parquet, quarantine file beside) whose rows read, written and quarantined the data-quality section lists (repeatable)")
	subcommandGroup("report", "Write HTML reports").AddCommand(reportMatchesCmd)
}
