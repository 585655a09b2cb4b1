package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/matches/matchreport"
	"github.com/datalabhq/datalab/pipeline/report"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

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
