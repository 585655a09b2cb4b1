package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/stagerun"
	"github.com/datalabhq/datalab/pipeline/watch"
)

var watchFlags struct {
	pipeline pipelineFlags
	interval time.Duration
	debounce time.Duration
	globs    string
	prefix   string
	state    string
	stages   []string
	once     bool
}

var watchCmd = &cobra.Command{
	Use:   "watch DIR|URL",
	Short: "Run the pipeline whenever raw data files appear or change in a directory or bucket",
	Long: `Watch polls a directory or bucket for new or changed raw files and runs the
pipeline (like ` + "`datalab run`" + `) once per burst of changes — the job the original
S3 ObjectCreated → Lambda → Airflow trigger did.

DIR is a local directory; URL is file:///abs/dir, s3://bucket?region=… or
gs://bucket (cloud credentials come from the usual AWS / Google environment).
Only keys whose base name matches --glob count. What was seen (size,
modification time and MD5 where the store has one) is kept in --state, so a
restarted watcher does not re-trigger; deleting that file re-triggers once.

The run happens in this process, with a freshly loaded pipeline file each
time, so edits to datalab.yaml are picked up. Up-to-date stages are skipped
as usual, so a changed file that no stage depends on costs nothing. For a
remote bucket, let the stage that downloads from it list the state file
among its deps: the watcher writes it before triggering. A failing run is
logged and not retried by the watcher (the stages' own retries apply); the
watcher keeps polling.`,
	Example: `  datalab watch data/raw                          # poll every 10s, run everything
  datalab watch --once data/raw                   # one check, for scripts and cron
  datalab watch --stage ingest s3://raw-bucket?region=eu-west-1
  datalab watch --glob '*.csv' --interval 1m gs://lab-raw`,
	Args: cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		url, err := watch.BucketURL(args[0])
		if err != nil {
			return err
		}
		f := &watchFlags.pipeline
		// Validate the pipeline and stage names before watching.
		p, err := stagerun.LoadEnv(f.file)
		if err != nil {
			return err
		}
		if _, err := p.Select(watchFlags.stages); err != nil {
			return err
		}
		trigger := func(ctx context.Context, changes []watch.Change) error {
			p, err := stagerun.LoadEnv(f.file)
			if err != nil {
				return err
			}
			rec, err := p.Run(ctx, watchFlags.stages, f.options(cmd.OutOrStdout(), cmd.ErrOrStderr()))
			if rec != nil {
				slog.Info("pipeline run finished", "run", rec.ID, "status", rec.Status, "ran", strings.Join(rec.Ran(), ","))
			}
			return err
		}
		var globs []string
		for _, g := range strings.Split(watchFlags.globs, ",") {
			if g = strings.TrimSpace(g); g != "" {
				globs = append(globs, g)
			}
		}
		w, err := watch.New(cmd.Context(), url, trigger, watch.Options{
			Interval: watchFlags.interval, Debounce: watchFlags.debounce,
			Globs: globs, Prefix: watchFlags.prefix, StatePath: watchFlags.state,
		})
		if err != nil {
			return err
		}
		defer w.Close()
		if watchFlags.once {
			fired, err := w.Once(cmd.Context())
			if err == nil && !fired {
				slog.Info("no new or changed files", "bucket", url)
			}
			return err
		}
		return w.Run(cmd.Context())
	},
}

func init() {
	watchFlags.pipeline.register(watchCmd)
	fl := watchCmd.Flags()
	fl.DurationVar(&watchFlags.interval, "interval", watch.DefaultInterval, "time between polls")
	fl.DurationVar(&watchFlags.debounce, "debounce", watch.DefaultDebounce, "quiet time a burst of changes must end with before the run starts (0 = default, negative = none)")
	fl.StringVar(&watchFlags.globs, "glob", strings.Join(watch.DefaultGlobs, ","), "comma-separated base-name patterns of the files that count")
	fl.StringVar(&watchFlags.prefix, "prefix", "", "only watch keys under this prefix")
	fl.StringVar(&watchFlags.state, "state", watch.DefaultStatePath, "file remembering what was seen")
	fl.StringSliceVar(&watchFlags.stages, "stage", nil, "stages to run (and their upstream); default all, repeatable")
	fl.BoolVar(&watchFlags.once, "once", false, "check once, run if something changed, and exit")
	rootCmd.AddCommand(watchCmd)
}
