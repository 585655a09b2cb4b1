package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// pipelineFlags are the flags shared by `datalab run` and `datalab watch`:
// which pipeline file, and the retry policy of its stages.
type pipelineFlags struct {
	file       string
	retries    int
	retryDelay time.Duration
	runsDir    string
}

func (f *pipelineFlags) register(cmd *cobra.Command) {
	retries, err := strconv.Atoi(envOr("DATALAB_RETRIES", strconv.Itoa(stagerun.DefaultRetries)))
	if err != nil || retries < 0 {
		retries = stagerun.DefaultRetries
		fmt.Fprintf(os.Stderr, "datalab: ignoring DATALAB_RETRIES=%q: want a whole number ≥ 0\n", os.Getenv("DATALAB_RETRIES"))
	}
	delay, err := time.ParseDuration(envOr("DATALAB_RETRY_DELAY", stagerun.DefaultRetryDelay.String()))
	if err != nil || delay < 0 {
		delay = stagerun.DefaultRetryDelay
		fmt.Fprintf(os.Stderr, "datalab: ignoring DATALAB_RETRY_DELAY=%q: want a duration such as 30s or 5m\n", os.Getenv("DATALAB_RETRY_DELAY"))
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", envOr("DATALAB_PIPELINE", "datalab.yaml"), "pipeline file; stages run in its directory (env DATALAB_PIPELINE)")
	fl.IntVar(&f.retries, "retries", retries, "retries of a failed stage, unless the stage sets retries: (env DATALAB_RETRIES)")
	fl.DurationVar(&f.retryDelay, "retry-delay", delay, "fixed wait between attempts, unless the stage sets retry_delay: (env DATALAB_RETRY_DELAY)")
	fl.StringVar(&f.runsDir, "runs-dir", envOr("DATALAB_RUNS_DIR", ""), "where run records go (default runs/ beside the pipeline file; env DATALAB_RUNS_DIR)")
}

// options builds the stagerun options of these flags.
func (f *pipelineFlags) options(stdout, stderr io.Writer) stagerun.Options {
	return stagerun.Options{
		Retries: f.retries, RetryDelay: f.retryDelay,
		Stdout: stdout, Stderr: stderr,
		RunsDir: f.runsDir, Version: version,
	}
}

var runFlags struct {
	pipeline pipelineFlags
	force    bool
	dryRun   bool
}

var runCmd = &cobra.Command{
	Use:   "run [stage…]",
	Short: "Run the pipeline in datalab.yaml, skipping stages that are up to date",
	Long: `Run executes the stages of the pipeline file (datalab.yaml) in dependency
order. With stage names, it runs those stages and the stages upstream of them.

A stage is skipped when nothing it depends on changed since its last
successful run: the sha256 of its substituted command, dependency files and
directories, code paths and params must match the key in datalab.lock, and
its outs must still have the hashes recorded there. A stage whose upstream
re-ran but produced identical outputs is skipped too. Running twice with
nothing changed does no work.

A failing stage is retried (default 3 times, 5 minutes apart, like the
original Airflow DAG; a stage's retries:/retry_delay: in datalab.yaml win).
Stage output is shown prefixed with [stage] and kept in
runs/<run-id>/<stage>.log. Every run writes runs/<run-id>/run.json: git
commit and dirty flag, data set oids, params, Go and datalab versions, and
per stage its status, attempts, errors and timings.

Stages find this datalab binary first on PATH (also in $DATALAB_BIN), and get
DATALAB_RUN_ID, DATALAB_STAGE and DATALAB_ATTEMPT. Ctrl-C stops the running
stage's whole process group. See docs/pipeline.md for the file format.`,
	Example: `  datalab run                  # everything that is out of date
  datalab run --dry-run        # what would run, and why
  datalab run train            # train and what it needs
  datalab run --force evaluate # rerun evaluate and its upstream stages
  DATALAB_RETRY_DELAY=30s datalab run`,
	RunE: func(cmd *cobra.Command, args []string) error {
		f := &runFlags.pipeline
		p, err := stagerun.Load(f.file)
		if err != nil {
			return err
		}
		opts := f.options(cmd.OutOrStdout(), cmd.ErrOrStderr())
		opts.Force = runFlags.force
		if runFlags.dryRun {
			plan, err := p.Plan(cmd.Context(), args, opts)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), plan)
			return nil
		}
		rec, err := p.Run(cmd.Context(), args, opts)
		if rec != nil {
			printRunSummary(cmd.ErrOrStderr(), p, rec)
		}
		return err
	}}

// printRunSummary prints one line per stage and where the record is.
func printRunSummary(w io.Writer, p *stagerun.Pipeline, rec *stagerun.RunRecord) {
	fmt.Fprintf(w, "run %s: %s\n", rec.ID, rec.Status)
	for _, s := range rec.Stages {
		line := fmt.Sprintf("  %-8s %s", s.Status, s.Name)
		if n := len(s.Attempts); n > 0 {
			line += fmt.Sprintf(" (%d attempt%s, %.1fs)", n, plural(n), s.DurationSec)
		}
		if s.Status == stagerun.StatusRan || s.Status == stagerun.StatusFailed {
			line += ": " + strings.Join(s.Reasons, "; ")
		}
		fmt.Fprintln(w, line)
	}
	dir := runFlags.pipeline.runsDir
	if dir == "" {
		dir = filepath.Join(p.Root, "runs")
	}
	record := filepath.Join(dir, rec.ID, "run.json")
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, record); err == nil && !strings.HasPrefix(rel, "..") {
			record = rel
		}
	}
	fmt.Fprintf(w, "record: %s\n", record)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func init() {
	runFlags.pipeline.register(runCmd)
	runCmd.Flags().BoolVar(&runFlags.force, "force", false, "run the selected stages (and their upstream stages) even if up to date")
	runCmd.Flags().BoolVarP(&runFlags.dryRun, "dry-run", "n", false, "print which stages would run and why, and run nothing")
	rootCmd.AddCommand(runCmd)
}
