package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/experiment"
	"github.com/datalabhq/datalab/pipeline/progress"
)

var expFile string

// expLab opens the lab of --file.
func expLab() (*experiment.Lab, error) { return experiment.NewLab(expFile) }

var expCmd = &cobra.Command{
	Use:   "exp",
	Short: "Run experiments side by side, compare them, apply one, reclaim space",
	Long: `exp runs variants of the pipeline — parameter overrides, sweeps over values —
each in its own workspace under .datalab/exps/<name>/, so the workspace's
build/, datalab.lock and datalab.yaml stay as they are while any number of
variants run and stay side by side.

A workspace is a mirror of the working tree made of hard links (source,
notebooks, data/), with its own build/ and a copy of datalab.lock. Stages
whose key (command, deps, code, params) is unchanged are restored from the
shared cache .datalab/cache by hard links, never copied, so ten experiments
over the same data cost the space of what they change. Run records go to
runs/ (with the experiment's name), reports to the reports/ site.

  datalab exp run     run experiments (a grid of --set / --sweep)
  datalab exp show    experiments × changed params × headline metrics
  datalab exp apply   make one experiment's params and outputs the workspace's
  datalab exp remove  delete experiments' workspaces
  datalab exp gc      delete failed workspaces and unreferenced cache entries

See docs/experiments.md.`,
	Example: `  datalab exp run --sweep matches.forests.default.max_depth=4,8,12
  datalab exp show --sort-by served.holdout.accuracy
  datalab exp apply max_depth-12
  datalab exp gc`,
}

var expRunFlags struct {
	pipeline     pipelineFlags
	sets, sweeps []string
	name         string
	jobs         int
	force        bool
}

var expRunCmd = &cobra.Command{
	Use:   "run [stage…]",
	Short: "Run experiments, each in its own workspace, in parallel",
	Long: `run makes one experiment per point of the grid of every --sweep (the
cartesian product; --set applies to all of them) and runs the pipeline (or
the given stages and their upstream ones) in each experiment's workspace,
.datalab/exps/<name>/. Values are YAML, as with datalab run --set: 12, 0.5,
true, '[form3, elo]'. A sweep's values are separated by commas; commas
inside brackets or quotes do not split.

The workspace's build/, datalab.lock and datalab.yaml are never touched.
Unchanged stages come from the shared cache (.datalab/cache) by hard links.
Up to -j experiments run at once (default: the number of cores); each one's
stage output goes to .datalab/exps/<name>/exp.log. On a terminal one line
per experiment shows its stage, redrawn as stages finish; elsewhere every
change is a line. Run records go to runs/ with the experiment's name, the
reports of each run into the reports/ site (the index lists every run).

Names: --name N names a single experiment N, a sweep over one key N-<value>,
others N-1, N-2, …; without --name a name comes from the overrides
(max_depth-12), made unique. Running again under the name of a done
experiment needs --force; a failed or cancelled one is replaced.

Ctrl-C stops the running stages (their whole process groups) and records
every unfinished experiment as cancelled, never done. exp.json in each
workspace records its overrides, status (queued, running, done, failed,
cancelled), run id, start and end, and metrics.`,
	Example: `  datalab exp run --sweep matches.forests.default.max_depth=4,6,8,10,12
  datalab exp run evaluate-matches --set matches.forests.default.num_trees=500 --name trees500
  datalab exp run --sweep matches.forests.default.max_depth=8,12 --sweep matches.forests.default.min_instances_per_node=5,20 -j 2
  datalab exp run --sweep 'matches.variants=[form3],[form3,elo]' --name variants`,
	RunE: func(cmd *cobra.Command, args []string) error {
		f := &expRunFlags
		lab, err := experiment.NewLab(f.pipeline.file)
		if err != nil {
			return err
		}
		if f.pipeline.runsDir != "" {
			if lab.Runs, err = filepath.Abs(f.pipeline.runsDir); err != nil {
				return err
			}
		}
		stage := f.pipeline.options(nil, nil)
		recs, runErr := lab.Run(cmd.Context(), experiment.RunOptions{
			Targets: args, Sets: f.sets, Sweeps: f.sweeps, Name: f.name,
			Force: f.force, Jobs: f.jobs, Stage: stage,
			Progress: cmd.ErrOrStderr(), Terminal: progress.Enabled(),
		})
		if len(recs) > 0 {
			printExperiments(cmd.OutOrStdout(), lab, recs)
		}
		return runErr
	},
}

// printExperiments lists experiments with their status, run and log.
func printExperiments(w io.Writer, lab *experiment.Lab, recs []*experiment.Record) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EXPERIMENT\tSTATUS\tRUN\tLOG")
	for _, r := range recs {
		log := filepath.Join(lab.Dir(r.Name), experiment.LogFile)
		if wd, err := os.Getwd(); err == nil {
			if rel, err := filepath.Rel(wd, log); err == nil && !strings.HasPrefix(rel, "..") {
				log = rel
			}
		}
		run := r.RunID
		if run == "" {
			run = "–"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Status, run, log)
	}
	tw.Flush()
}

var expShowFlags struct {
	sortBy   string
	metrics  []string
	json, md bool
	all      bool
}

var expShowCmd = &cobra.Command{
	Use:   "show",
	Short: "Table of experiments × changed params × headline metrics",
	Long: `show lists the experiments with the parameters any of them changes and
their headline metrics, after a first row for the workspace's own last
successful run (its params are datalab.yaml's values): the baseline to
compare with.

The headline metrics are, per use case, the hold-out accuracy of the model
it serves (<case>.served.holdout.accuracy, else the serve_variant's) with
the RPS, log loss and AUC beside it when the metrics file has them;
--metrics chooses others by glob over the keys of the run records
(datalab runs show ID lists them), '*' spanning dots. --sort-by orders the
experiments best first by one metric (a key or a unique end of one), in the
metric's direction (accuracy: higher first; log loss, RPS: lower first).
By default only done and running experiments are listed; --all adds
failed, cancelled and queued ones.`,
	Example: `  datalab exp show
  datalab exp show --sort-by served.holdout.accuracy
  datalab exp show --metrics 'matches.variants.*.holdout.accuracy' --all
  datalab exp show --md > comment.md
  datalab exp show --json | jq '.rows[] | {name, metrics}'`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		f := &expShowFlags
		if f.json && f.md {
			return fmt.Errorf("--json and --md exclude each other: pick one")
		}
		lab, err := expLab()
		if err != nil {
			return err
		}
		t, err := lab.Show(experiment.ShowOptions{Metrics: f.metrics, SortBy: f.sortBy, All: f.all})
		if err != nil {
			return err
		}
		var out []byte
		switch {
		case f.json:
			if out, err = t.JSON(); err != nil {
				return err
			}
		case f.md:
			out = t.Markdown()
		default:
			out = t.Text()
		}
		_, err = cmd.OutOrStdout().Write(out)
		return err
	},
}

var expApplyCmd = &cobra.Command{
	Use:   "apply NAME",
	Short: "Make an experiment's parameters and outputs the workspace's",
	Long: `apply takes a done experiment into the workspace: the outs of every stage
it ran differently are linked into build/ from the experiment (the shared
cache's files, hard links, no copies), its lock entries go into
datalab.lock and its overrides into datalab.yaml (comments and layout
kept). Everything is prepared first, then swapped in; if a step fails the
steps done are undone and the workspace is as it was.

Afterwards datalab run has nothing to do for the stages the experiment ran.
Review and commit datalab.yaml and datalab.lock as for any change.`,
	Example: `  datalab exp apply max_depth-12
  git diff datalab.yaml`,
	Args: cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		lab, err := expLab()
		if err != nil {
			return err
		}
		res, err := lab.Apply(args[0])
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "applied %s\n", args[0])
		for k, v := range res.Overrides {
			fmt.Fprintf(w, "  %s: %v (in %s)\n", k, v, lab.Pipeline)
		}
		if len(res.Stages) == 0 {
			fmt.Fprintln(w, "  no stage differs from the workspace's")
		} else {
			fmt.Fprintf(w, "  stages from the experiment: %s\n  outs replaced: %s\n", strings.Join(res.Stages, ", "), strings.Join(res.Outs, ", "))
		}
		return nil
	},
}

var expRemoveAllFailed bool

var expRemoveCmd = &cobra.Command{
	Use:   "remove NAME…",
	Short: "Delete experiments' workspaces",
	Long: `remove deletes the workspaces of the named experiments (with --all-failed:
of every failed or cancelled one) and prints the bytes that freed — files
shared with the cache or the workspace are not freed until datalab exp gc
drops the cache entries nothing refers to. The experiments' run records in
runs/ and their reports in reports/ stay: they are history.`,
	Example: `  datalab exp remove max_depth-4 max_depth-6
  datalab exp remove --all-failed`,
	RunE: func(cmd *cobra.Command, args []string) error {
		lab, err := expLab()
		if err != nil {
			return err
		}
		if expRemoveAllFailed {
			failed, err := lab.Unfinished()
			if err != nil {
				return err
			}
			args = append(args, failed...)
		}
		if len(args) == 0 {
			return fmt.Errorf("name the experiments to remove (datalab exp show --all lists them), or pass --all-failed")
		}
		freed, err := lab.Remove(args...)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "removed %s; freed %s\n", strings.Join(args, ", "), humanBytes(freed))
		return nil
	},
}

var expGCCmd = &cobra.Command{
	Use:   "gc",
	Short: "Delete failed experiments and cache entries nothing refers to",
	Long: `gc removes the workspaces of failed and cancelled experiments (and leftovers
of interrupted ones), then every entry of the stage cache (.datalab/cache)
that neither datalab.lock nor a remaining experiment's lock refers to, and
prints the bytes freed. Outs of the workspace's current lock and of every
kept experiment stay cached, so they are restored, not recomputed.`,
	Example: `  datalab exp remove max_depth-4 && datalab exp gc`,
	Args:    cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		lab, err := expLab()
		if err != nil {
			return err
		}
		res, err := lab.GC()
		if res != nil {
			w := cmd.OutOrStdout()
			if len(res.Workspaces) > 0 {
				fmt.Fprintf(w, "removed workspaces: %s (%s)\n", strings.Join(res.Workspaces, ", "), humanBytes(res.WorkspaceBytes))
			}
			fmt.Fprintf(w, "freed %s (%s from the cache); the cache keeps %s\n", humanBytes(res.WorkspaceBytes+res.CacheBytes), humanBytes(res.CacheBytes), humanBytes(res.CacheKept))
		}
		return err
	},
}

// humanBytes prints a size in B, KiB, MiB or GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func init() {
	for _, c := range []*cobra.Command{expShowCmd, expApplyCmd, expRemoveCmd, expGCCmd} {
		c.Flags().StringVarP(&expFile, "file", "f", envOr("DATALAB_PIPELINE", "datalab.yaml"), "pipeline file; the experiments live beside it in .datalab/exps (env DATALAB_PIPELINE)")
	}

	f := &expRunFlags
	f.pipeline.register(expRunCmd)
	fl := expRunCmd.Flags()
	fl.StringArrayVar(&f.sets, "set", nil, "override a parameter in every experiment: key.path=value (YAML value; repeatable)")
	fl.StringArrayVar(&f.sweeps, "sweep", nil, "one experiment per value: key.path=a,b,c (repeatable: the grid of all sweeps)")
	fl.StringVar(&f.name, "name", "", "experiment name (a sweep appends -<value> or -1, -2, …); default from the overrides")
	fl.IntVarP(&f.jobs, "jobs", "j", runtime.NumCPU(), "experiments run at once")
	fl.BoolVar(&f.force, "force", false, "run again under the name of a done experiment, replacing it")

	sf := expShowCmd.Flags()
	sf.StringVar(&expShowFlags.sortBy, "sort-by", "", "order experiments best first by this metric (a key or a unique end of one)")
	sf.StringArrayVar(&expShowFlags.metrics, "metrics", nil, "metric keys to show, by glob ('*' spans dots; repeatable); default the served hold-out metrics")
	sf.BoolVar(&expShowFlags.json, "json", false, "print JSON")
	sf.BoolVar(&expShowFlags.md, "md", false, "print a Markdown table (for a pull-request comment)")
	sf.BoolVar(&expShowFlags.all, "all", false, "also list failed, cancelled and queued experiments")

	expRemoveCmd.Flags().BoolVar(&expRemoveAllFailed, "all-failed", false, "remove every failed or cancelled experiment")

	expCmd.AddCommand(expRunCmd, expShowCmd, expApplyCmd, expRemoveCmd, expGCCmd)
	rootCmd.AddCommand(expCmd)
}
