package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/report"
)

var reportIndexDir string

var reportIndexCmd = &cobra.Command{
	Use:   "index",
	Short: "Rebuild the report site index (reports/index.html, trends, diff pages)",
	Long: `index scans the reports directory — every run's reports and published run
record under runs/<run-id>/, rendered notebooks under notebooks/ — and rewrites:

  index.html          the stage graph (reports/pipeline.svg, when present),
                      trend plots (one per headline metric and report kind, a
                      point per run), the newest change of each kind, the
                      newest 50 runs and every notebook
  index-2.html, …     older runs, 50 a page, with newer/older links
  diffs/<A>..<B>.html the diff page of each run and the previous run of the
                      same report kind (see datalab report diff)

Each run row shows its id, start time, experiment, overrides, commit, its
reports with their headline metrics and a "vs previous" link to its diff
page. Same files, same bytes; pages of a longer run list that no longer
exist are removed. The report commands and datalab run already rebuild the
index; run this after deleting or copying runs.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		if err := report.BuildIndex(reportIndexDir); err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), "wrote", filepath.Join(reportIndexDir, "index.html"))
		return nil
	},
}

func init() {
	reportIndexCmd.Flags().StringVar(&reportIndexDir, "reports-dir", "reports", "the report site directory")
	subcommandGroup("report", "Write HTML reports").AddCommand(reportIndexCmd)
}
