package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/objstore/layout"
	"github.com/datalabhq/datalab/pipeline/report"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// siteHistory keeps a report site's history in a remote's site/ prefix:
// pull the runs this site lacks before the index is built, rebuild the
// index over all of them, push what the remote lacks. `datalab report
// sync` and `datalab run --remote` both go through it.
type siteHistory struct {
	rem *layout.Remote
	dir string // the reports directory
	out io.Writer
}

// pull fetches the remote's runs (and page directories) the local site
// lacks, and says what it did.
func (s siteHistory) pull(ctx context.Context) error {
	res, err := s.rem.PullSite(ctx, s.dir)
	if err != nil {
		return fmt.Errorf("report site history from %s: %w", s.rem, err)
	}
	s.say("pulled", res.Pulled, res)
	return nil
}

// publish rebuilds the index over every run the site now has, then pushes
// the runs the remote lacks and the pages.
func (s siteHistory) publish(ctx context.Context) error {
	if _, err := os.Stat(s.dir); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(s.out, "site: no %s directory: nothing to publish to %s\n", s.dir, s.rem)
		return nil
	}
	if err := report.BuildIndex(s.dir); err != nil {
		return err
	}
	res, err := s.rem.PushSite(ctx, s.dir)
	if err != nil {
		return fmt.Errorf("report site history to %s: %w", s.rem, err)
	}
	s.say("pushed", res.Pushed, res)
	return nil
}

// say prints one line per sync step: runs copied, identical, differing,
// pages copied, names skipped.
func (s siteHistory) say(verb string, runs []string, res layout.SiteResult) {
	line := fmt.Sprintf("site: %s %d run%s", verb, len(runs), plural(len(runs)))
	if len(runs) > 0 {
		line += " (" + strings.Join(runs, ", ") + ")"
	}
	line += fmt.Sprintf(", %d already on both sides", res.Same)
	if len(res.Pages) > 0 {
		line += "; pages " + strings.Join(res.Pages, ", ")
	}
	line += " — " + s.rem.String()
	fmt.Fprintln(s.out, line)
	if len(res.Differ) > 0 {
		fmt.Fprintf(s.out, "site: %d run%s differ between %s and the store; each side kept its own copy: %s\n",
			len(res.Differ), plural(len(res.Differ)), s.dir, strings.Join(res.Differ, ", "))
	}
	if len(res.Skipped) > 0 {
		fmt.Fprintf(s.out, "site: skipped names that are not run directories (unsafe, or an unfinished upload): %s\n", strings.Join(res.Skipped, ", "))
	}
}

var reportSyncFlags struct {
	remote, reportsDir string
	pullOnly           bool
}

var reportSyncCmd = &cobra.Command{
	Use:   "sync",
	Short: "Merge the report site with the history kept in object storage (--remote)",
	Long: `sync keeps the report site's history in object storage, under the remote's
site/ prefix (docs/object-storage.md), so runs made on different machines —
throw-away CI runners — accumulate into one site:

 1. pull: every run directory the remote holds (site/runs/<id>/: the run's
    reports and run.json) that reports/runs/ lacks is downloaded, each file
    verified against the run's manifest; notebooks/ and other page
    directories are downloaded when the local site has none;
 2. the index (index.html, its pages, the diff pages) is rebuilt over every
    run the site now has;
 3. push: every local run the remote lacks is uploaded, then the page
    directories and last the index pages.

A run present on both sides is never overwritten, in either direction: it is
written by the checkout that made it. When the two copies differ, each side
keeps its own and sync lists the run. datalab run --remote does the same
around the run (pull before the stages, push after the run record).

Without a bucket, a directory works as the remote (a CI artifact kept from
one workflow run to the next; docs/ci.md).`,
	Example: `  datalab report sync --remote 's3://lab-artifacts/ci?region=eu-west-1'
  DATALAB_REMOTE=gs://lab-artifacts/ci datalab report sync
  datalab report sync --remote ./site-history --pull-only   # before a run: fetch earlier runs
  datalab report sync --remote ./site-history               # after it: rebuild the index, push`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		if reportSyncFlags.remote == "" {
			return errors.New("report sync: give --remote URL (a directory, file://, s3:// or gs:// URL) or set DATALAB_REMOTE")
		}
		rem, err := layout.Open(cmd.Context(), reportSyncFlags.remote, ".", nil)
		if err != nil {
			return err
		}
		defer rem.Close()
		s := siteHistory{rem: rem, dir: reportSyncFlags.reportsDir, out: cmd.OutOrStdout()}
		if err := s.pull(cmd.Context()); err != nil {
			return err
		}
		if reportSyncFlags.pullOnly {
			if _, err := os.Stat(s.dir); err != nil {
				return nil // nothing pulled, nothing local
			}
			return report.BuildIndex(s.dir)
		}
		return s.publish(cmd.Context())
	},
}

func init() {
	f := reportSyncCmd.Flags()
	f.StringVar(&reportSyncFlags.remote, "remote", envOr("DATALAB_REMOTE", ""), "object storage holding the site's history: a directory or a file://, s3:// or gs:// URL (env DATALAB_REMOTE)")
	f.StringVar(&reportSyncFlags.reportsDir, "reports-dir", layout.SiteDir, "the report site directory")
	f.BoolVar(&reportSyncFlags.pullOnly, "pull-only", false, "fetch the remote's runs and rebuild the index; upload nothing")
	subcommandGroup("report", "Write HTML reports").AddCommand(reportSyncCmd)
}

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
