package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/datalabhq/datalab/pipeline/notebook"
	"github.com/datalabhq/datalab/pipeline/report"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

var notebooksCmd = &cobra.Command{
	Use:   "notebooks",
	Short: "Go notebooks (GoNB) under notebooks/",
}

var notebooksRunFlags struct {
	dir, out, stableDir, reportsDir, toolsDir, runID string
	params                                           []string
	jobs                                             int
}

var notebooksRunCmd = &cobra.Command{
	Use:   "run [name…]",
	Short: "Execute notebooks headless and render them into reports/notebooks/",
	Long: `notebooks run executes each named notebook (notebooks/<name>.ipynb; all of them
without names) with jupyter nbconvert and the GoNB kernel, and writes
reports/notebooks/<name>.html plus a sidecar the report index lists.

  --param k=v   becomes DATALAB_NB_K=v inside the notebook (repeatable),
                e.g. --param sample=1000
  -j N          notebooks run at the same time, each in its own kernel
                (default: the number of CPUs); pages are the same either way

As the pipeline's notebooks stage (datalab.yaml) it also writes an
input-determined copy of each page into --stable-dir (build/notebooks, the
stage's outputs) and records the run id (DATALAB_RUN_ID) and git commit in the
sidecar; the report site index is rebuilt after the last notebook.

A failing cell stops the command with the notebook, the cell's number (as
Jupyter counts them, markdown included) and its error: the compiler message,
or a panic with its stack. Nothing is published for a failed notebook.

Needs jupyter-nbconvert, jupyter-client and the GoNB kernel (gonb, goimports
in --tools-dir): bash .ci/setup notebooks installs and builds them (make run
does it first). Without them it exits 127 at once, naming what is missing, so
datalab run does not retry it. Run it from the repository root.`,
	RunE: func(cmd *cobra.Command, args []string) error {
		params, err := parseParams(notebooksRunFlags.params)
		if err != nil {
			return err
		}
		paths, err := notebookPaths(notebooksRunFlags.dir, args)
		if err != nil {
			return err
		}
		r := notebook.Runner{Root: ".", OutDir: notebooksRunFlags.out, Params: params,
			StableDir: notebooksRunFlags.stableDir, ToolsDir: notebooksRunFlags.toolsDir, RunID: notebooksRunFlags.runID}
		gs := stagerun.GitStateOf(".")
		r.Commit, r.Dirty = gs.Commit, gs.Dirty
		// Notebooks run side by side (each in its own kernel and temporary
		// directory, writing its own files); a failure cancels the rest.
		// Results are printed in the order given.
		jobs := notebooksRunFlags.jobs
		if jobs < 1 {
			return fmt.Errorf("--jobs %d: want at least 1", jobs)
		}
		results := make([]notebook.Result, len(paths))
		g, ctx := errgroup.WithContext(cmd.Context())
		g.SetLimit(jobs)
		for i, p := range paths {
			g.Go(func() error {
				res, err := r.Run(ctx, p)
				if err != nil {
					return err
				}
				slog.Info("notebook rendered", "notebook", p, "html", res.HTML, "took", res.Duration.Round(100_000_000))
				results[i] = res
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		for _, res := range results {
			fmt.Fprintln(cmd.OutOrStdout(), res.HTML)
		}
		if notebooksRunFlags.reportsDir == "" {
			return nil
		}
		if err := report.BuildIndex(notebooksRunFlags.reportsDir); err != nil {
			return fmt.Errorf("rebuild the report site index: %w", err)
		}
		return nil
	},
}

var notebooksNewFlags struct{ dir string }

var notebooksNewCmd = &cobra.Command{
	Use:   "new NAME",
	Short: "Start a notebook: notebooks/NAME.ipynb from the datalab template",
	Long: `notebooks new writes notebooks/NAME.ipynb, a GoNB notebook to start from: a
title, its parameters (matches, sample) described, declared in the notebook's
metadata and read with nbview.Param and nbview.IntParam in a parameters cell,
and a first cell with the usual imports (fmt, nbview, ingest, gota, gonum/plot)
that loads build/parquet/matches.parquet (made by datalab run ingest-matches)
and shows a table and a plot.

NAME is kebab-case (lower-case letters and digits, words joined by hyphens),
e.g. goals-by-year; it names the file and the rendered page. An existing
notebook is never overwritten. Then edit it with datalab lab, and render it
with datalab notebooks run NAME.`,
	Args: cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		name := strings.TrimSuffix(args[0], ".ipynb")
		path, err := notebook.Create(notebooksNewFlags.dir, name)
		if err != nil {
			return err
		}
		slog.Info("notebook created", "notebook", path)
		run := "datalab notebooks run " + name
		if filepath.Clean(notebooksNewFlags.dir) != "notebooks" {
			run = "datalab notebooks run --dir " + notebooksNewFlags.dir + " " + name
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s\nnext:\n  datalab lab    # edit it in Jupyter (GoNB kernel)\n  %s    # render reports/notebooks/%s.html\n", path, run, name)
		return nil
	},
}

// notebookPaths resolves names to dir/<name>.ipynb, or lists every notebook
// in dir when no names are given.
func notebookPaths(dir string, names []string) ([]string, error) {
	if len(names) == 0 {
		paths, err := filepath.Glob(filepath.Join(dir, "*.ipynb"))
		if err != nil {
			return nil, err
		}
		if len(paths) == 0 {
			return nil, fmt.Errorf("no notebooks in %s", dir)
		}
		sort.Strings(paths)
		return paths, nil
	}
	var paths []string
	for _, n := range names {
		p := filepath.Join(dir, strings.TrimSuffix(n, ".ipynb")+".ipynb")
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("notebook %s: %w (names are files in %s without .ipynb)", n, err, dir)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func init() {
	f := notebooksRunCmd.Flags()
	f.StringVar(&notebooksRunFlags.dir, "dir", "notebooks", "directory holding the notebooks")
	f.StringVar(&notebooksRunFlags.out, "out", filepath.Join("reports", "notebooks"), "directory for the rendered HTML and sidecars")
	f.StringVar(&notebooksRunFlags.stableDir, "stable-dir", "", "also write each page (without sidecar) here, e.g. build/notebooks")
	f.StringVar(&notebooksRunFlags.reportsDir, "reports-dir", "reports", "report site whose index.html is rebuilt afterwards (empty: don't)")
	f.StringVar(&notebooksRunFlags.toolsDir, "tools-dir", envOr("DATALAB_TOOLS_DIR", ""), "directory with gonb and goimports (env DATALAB_TOOLS_DIR; default .bin)")
	f.StringVar(&notebooksRunFlags.runID, "run-id", os.Getenv("DATALAB_RUN_ID"), "run id for the sidecar (env DATALAB_RUN_ID, set by datalab run)")
	f.StringArrayVar(&notebooksRunFlags.params, "param", nil, "notebook parameter key=value, seen as DATALAB_NB_<KEY> (repeatable)")
	f.IntVarP(&notebooksRunFlags.jobs, "jobs", "j", runtime.NumCPU(), "notebooks run at the same time, each in its own kernel (default: the number of CPUs)")
	notebooksCmd.AddCommand(notebooksRunCmd)
	notebooksNewCmd.Flags().StringVar(&notebooksNewFlags.dir, "dir", "notebooks", "directory the notebook is written to")
	notebooksCmd.AddCommand(notebooksNewCmd)
	rootCmd.AddCommand(notebooksCmd)
}
