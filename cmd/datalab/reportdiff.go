package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/report"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

var reportDiffDir string

var reportDiffCmd = &cobra.Command{
	Use:   "diff A B",
	Short: "Write the diff page of two runs of the report site (params, metrics, curves overlaid)",
	Long: `diff writes <reports-dir>/diffs/<A>..<B>.html, a self-contained page comparing run
A (the base) with run B (the head) of the report site:

  - the runs: start time, experiment, overrides, commit, status
  - parameters that changed, data sets whose content changed, code (commit,
    Go and datalab versions) — from the run records datalab run publishes
    into reports/runs/<id>/run.json
  - pipeline metrics that changed (the run records' metrics files), with the
    absolute and relative change, green when better, red when worse
  - per report kind (matches, flights, …): the headline metrics compared, the
    two runs' ROC curves and calibration curves on one plot each (A dashed,
    B solid) and their confusion matrices side by side

A and B are run ids, unique id prefixes, latest, latest~N, experiment names
(the newest run of the experiment) or commit:SHA, resolved among the runs in
the site. The index (datalab report index, and every report stage) already
writes this page for each run and the previous run of the same report kind
and links it as "vs previous"; this command makes one for any two runs.
Same runs, same bytes. Runs whose reports were written outside datalab run
have no record: the page says so and compares their reports only.`,
	Example: `  datalab report diff latest~1 latest
  datalab report diff 20261201T101500Z-1a2b3c depth-12   # a run against an experiment
  datalab report diff --reports-dir site/reports 20261201 20261202`,
	Args: cobra.ExactArgs(2),
	RunE: func(cmd *cobra.Command, args []string) error {
		path, err := report.WriteDiff(reportDiffDir, args[0], args[1])
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), "wrote", path)
		return nil
	},
}

func init() {
	reportDiffCmd.Flags().StringVar(&reportDiffDir, "reports-dir", "reports", "the report site directory")
	subcommandGroup("report", "Write HTML reports").AddCommand(reportDiffCmd)
}

// publishRunReports puts a finished run into the report site of the
// pipeline at root (<root>/reports): its run record next to its reports and
// a rebuilt index. Only a run that wrote a report (reports/runs/<id>/
// exists) is published — a run whose report stages were skipped as up to
// date would add a row identical to the run that made the reports, and
// `datalab runs list` lists every run anyway.
func publishRunReports(root string, rec *stagerun.RunRecord) error {
	reports := filepath.Join(root, "reports")
	if st, err := os.Stat(filepath.Join(reports, "runs", rec.ID)); err != nil || !st.IsDir() {
		return nil
	}
	if err := report.PublishRun(reports, rec); err != nil {
		return fmt.Errorf("publish run %s into the report site: %w", rec.ID, err)
	}
	return nil
}
