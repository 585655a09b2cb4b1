package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/objstore/layout"
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
	remote   string
	set      []string
	save     bool
	cacheDir string
	noCache  bool
}

// openRunCache opens the run cache of `datalab run`: --cache-dir, else
// <root>/.datalab/cache; nil with --no-cache.
func openRunCache(p *stagerun.Pipeline) (*stagerun.Cache, error) {
	if runFlags.noCache {
		return nil, nil
	}
	dir := runFlags.cacheDir
	if dir == "" {
		dir = filepath.Join(p.Root, ".datalab", "cache")
	}
	return stagerun.OpenCache(dir)
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

A stage that fails after it started (non-zero exit, killed) is retried:
default 3 times, 10 seconds apart (a stage's retries:/retry_delay: in
datalab.yaml win). A command that cannot start — exit 127 (not found) or 126
(not executable), or datalab notebooks run without its kernel — fails at
once with what to install (make run, or bash .ci/setup notebooks): a second
try could not pass.
Stage output is shown prefixed with [stage] and kept in
runs/<run-id>/<stage>.log. Every run writes runs/<run-id>/run.json: git
commit and dirty flag, data set oids, params, Go and datalab versions, and
per stage its status, attempts, errors and timings.

A stage's "datalab …" runs this very binary, whatever its name or path (go
build -o dl works: a link named datalab to it comes first on the stages'
PATH; its path is in $DATALAB_BIN). Stages get DATALAB_RUN_ID, DATALAB_STAGE
and DATALAB_ATTEMPT. datalab.lock keeps content hashes only; which run
produced the outs, attempts and errors are in runs/<run-id>/run.json. Ctrl-C stops the running
stage's whole process group. See docs/pipeline.md for the file format.

--set key.path=value (repeatable) runs with a parameter changed, the value
parsed as YAML (12, 0.5, [form3, elo], {max_depth: 6}); numeric segments
index lists (flights.variants.0.forest.max_depth=6). The key must exist
under params: and the value must have the type the file has (an int may
replace a float); otherwise the run stops naming the closest keys. Only the
stages whose params changed re-run. The overrides are in the run record
and reach every stage as $DATALAB_SET (JSON); setting DATALAB_SET yourself
is the environment equivalent of --set. datalab.yaml is not modified unless
--save is given, which writes the values into it keeping its comments.

The run cache (.datalab/cache, or --cache-dir / DATALAB_CACHE_DIR) keeps the
outs of every successful stage by stage key, as hard links to read-only
content-addressed objects. A stage that is out of date but whose key was run
before (a parameter set back, an experiment's result) has its outs restored
from it by hard links instead of running: "cached" in the summary. Before a
stage runs, out files linked into the cache are unlinked, so a command
writing them in place never changes the cache. --no-cache turns it off;
--force always runs. --dry-run shows "cache" for stages it would restore.

With --remote URL (a directory, file://, s3:// or gs:// URL) the run also
keeps its artifacts in object storage, in the seed's bucket layout: raw/
(pulled data files), parquet/, models/, build/ (other outputs), scripts/
(the stage commands as pipeline.sh, the pipeline file, flights/sparkjob/*.py),
logs/<run-id>/ (run.json and stage logs) and site/ (the report site:
before the stages run, earlier runs' reports and records missing from
reports/runs/ are fetched, so the index lists them; after the run, the
index is rebuilt and this run's reports and the pages are uploaded — as
datalab report sync does). Stages keep working on local
files: a dependency missing locally is fetched first; a stage that is up to
date by datalab.lock but whose outs are missing here fetches them instead of
running; outs are uploaded after each stage, the run record at the end.
Every object carries its sha256 and every download is verified. s3:// URLs
take gocloud's parameters (region, endpoint, use_path_style, profile, …);
credentials come from the usual AWS / Google environment. --dry-run does
not consult the remote. See docs/object-storage.md.`,
	Example: `  datalab run                  # everything that is out of date
  datalab run --dry-run        # what would run, and why
  datalab run train            # train and what it needs
  datalab run --force evaluate # rerun evaluate and its upstream stages
  datalab run --set matches.forests.default.max_depth=12
  datalab run --set 'matches.variants=[form3, elo]' --dry-run
  datalab run --set matches.serve_variant=elo --save   # and write it into datalab.yaml
  DATALAB_SET='{"matches.forests.default.max_depth":12}' datalab run
  DATALAB_RETRY_DELAY=30s datalab run
  datalab run --remote s3://lab-artifacts?region=eu-west-1
  datalab run --remote 's3://lab?endpoint=http://127.0.0.1:9000&use_path_style=true&region=us-east-1'   # MinIO`,
	RunE: func(cmd *cobra.Command, args []string) error {
		f := &runFlags.pipeline
		p, err := stagerun.LoadEnv(f.file)
		if err != nil {
			return err
		}
		if runFlags.save && len(runFlags.set) == 0 {
			return fmt.Errorf("--save writes the --set values into %s: give at least one --set key=value", f.file)
		}
		if len(runFlags.set) > 0 {
			ov, err := stagerun.ParseSet(runFlags.set)
			if err != nil {
				return err
			}
			if err := p.Override(ov); err != nil {
				return fmt.Errorf("%w (datalab run --set names keys under params: in %s)", err, f.file)
			}
			if runFlags.save && !runFlags.dryRun {
				if err := stagerun.SaveOverrides(f.file, ov); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "datalab: saved %d value(s) into %s\n", len(ov), f.file)
			}
		}
		opts := f.options(cmd.OutOrStdout(), cmd.ErrOrStderr())
		opts.Force = runFlags.force
		if opts.Cache, err = openRunCache(p); err != nil {
			return err
		}
		if runFlags.dryRun {
			if runFlags.remote != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "datalab: --dry-run does not consult --remote: stages shown as running may be fetched instead")
			}
			plan, err := p.Plan(cmd.Context(), args, opts)
			if err != nil {
				return err
			}
			if runFlags.save {
				fmt.Fprintf(cmd.ErrOrStderr(), "datalab: --dry-run: %s is not changed (without --dry-run, --save would write the --set values)\n", f.file)
			}
			fmt.Fprint(cmd.OutOrStdout(), plan)
			return nil
		}
		var site *siteHistory
		if runFlags.remote != "" {
			rem, err := layout.Open(cmd.Context(), runFlags.remote, p.Root, nil)
			if err != nil {
				return err
			}
			defer rem.Close()
			if err := rem.PushScripts(cmd.Context(), p); err != nil {
				return fmt.Errorf("push scripts to %s: %w", runFlags.remote, err)
			}
			opts.Remote = rem
			// The report site's history: earlier runs' reports, fetched
			// before any report stage rebuilds the index (cmd/datalab/run_site.go).
			site = &siteHistory{rem: rem, dir: filepath.Join(p.Root, layout.SiteDir), out: cmd.ErrOrStderr()}
			if err := site.pull(cmd.Context()); err != nil {
				return err
			}
		}
		rec, err := p.Run(cmd.Context(), args, opts)
		if rec != nil {
			printRunSummary(cmd.ErrOrStderr(), p, rec)
			// The run's record goes next to its reports in the site
			// (reports/runs/<id>/run.json), for the index and diff pages.
			err = errors.Join(err, publishRunReports(p.Root, rec))
		}
		if site != nil && rec != nil {
			err = errors.Join(err, site.publish(cmd.Context()))
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
		if s.Status == stagerun.StatusCached {
			line += ": restored from the run cache (" + strings.Join(s.Reasons, "; ") + ")"
		}
		if len(s.Fetched) > 0 {
			line += " (fetched from remote: " + strings.Join(s.Fetched, ", ") + ")"
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
	if rec.Remote != "" {
		key, _ := layout.Key("runs/" + rec.ID)
		fmt.Fprintf(w, "remote: %s (%s/run.json)\n", rec.Remote, key)
	}
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
	runCmd.Flags().StringArrayVar(&runFlags.set, "set", nil, "override a parameter for this run: key.path=value, value as YAML (repeatable; env DATALAB_SET as a JSON object)")
	runCmd.Flags().BoolVar(&runFlags.save, "save", false, "write the --set values into the pipeline file (comments kept)")
	runCmd.Flags().StringVar(&runFlags.cacheDir, "cache-dir", envOr("DATALAB_CACHE_DIR", ""), "run cache directory (default .datalab/cache beside the pipeline file; env DATALAB_CACHE_DIR); keep it on the workspace's file system so outs are hard-linked, not copied")
	runCmd.Flags().BoolVar(&runFlags.noCache, "no-cache", false, "neither restore stages from the run cache nor store their outs in it")
	runCmd.Flags().StringVar(&runFlags.remote, "remote", envOr("DATALAB_REMOTE", ""), "object storage for the run's artifacts: a directory or a file://, s3:// or gs:// URL (env DATALAB_REMOTE; docs/object-storage.md)")
	rootCmd.AddCommand(runCmd)
}
