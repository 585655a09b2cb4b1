package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/rundiff"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// Exit codes of `datalab runs diff`: a regression the gate caught is not
// the same as a gate that could not be evaluated, and CI must tell them
// apart.
const (
	exitGateFailed = 1
	exitRunsError  = 2
)

// runsError is an error of `datalab runs` with its exit code.
type runsError struct {
	error
	code int
}

func (e runsError) ExitCode() int { return e.code }
func (e runsError) Unwrap() error { return e.error }

var runsFlags struct {
	dirs   []string
	json   bool
	md     bool
	limit  int
	all    bool
	failOn []string
}

var runsCmd = &cobra.Command{
	Use:   "runs",
	Short: "List, show and diff pipeline runs (run records under runs/ and reports/runs/)",
	Long: `Every datalab run writes runs/<run-id>/run.json: params (with --set
overrides), data set oids, git commit, per-stage status and keys, and the
metrics of the pipeline's metrics files. The report site publishes copies
under reports/runs/<run-id>/run.json. These commands read both.

A run is named by its id, a unique prefix of it, "latest", "latest~N" (N
runs before the newest), an experiment name (its newest run), "commit:SHA"
(the newest run started from that commit), or a path to a run.json file or
its directory (e.g. a base branch's record downloaded in CI).

See docs/experiments.md.`,
	Example: `  datalab runs list
  datalab runs show latest
  datalab runs diff latest~1 latest
  datalab runs diff main-baseline max_depth-12 --md`,
}

var runsListCmd = &cobra.Command{
	Use:   "list",
	Short: "List runs, newest first: status, experiment, overrides, duration, commit, stages, headline metrics",
	Long: `list prints one line per run, newest first: id, status, experiment,
overrides, duration, commit (+dirty when tracked files had uncommitted
changes), how many stages ran / came from the run cache / were skipped as
up to date, and the headline metrics (each use case's served model's
hold-out accuracy).`,
	Example: `  datalab runs list
  datalab runs list --limit 5 --json | jq '.runs[].id'
  datalab runs list --runs-dir /tmp/ci/runs`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		if runsFlags.limit < 0 {
			return fmt.Errorf("--limit %d: want 0 (all) or more", runsFlags.limit)
		}
		runs, err := loadRuns(cmd)
		if err != nil {
			return err
		}
		t := rundiff.List(runs, runsFlags.limit)
		if runsFlags.json {
			out, err := t.JSON()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		}
		_, err = cmd.OutOrStdout().Write(t.Text())
		return err
	},
}

var runsShowCmd = &cobra.Command{
	Use:   "show RUN",
	Short: "Show one run record readably: overrides, params, data, stages, logs, metrics",
	Long: `show prints a run record: when and from which commit it ran, its
overrides, every param (those an override set marked *), data set oids,
each stage's status, duration, attempts, key, why it ran and its log, and
the run's metrics. --json prints the record itself.`,
	Example: `  datalab runs show latest
  datalab runs show 20261207T1100 --json | jq .metrics`,
	Args: exactArgs(1, "give one run: an id (or unique prefix), latest, latest~N, an experiment name or commit:SHA"),
	RunE: func(cmd *cobra.Command, args []string) error {
		runs, err := loadRuns(cmd)
		if err != nil {
			return err
		}
		rec, err := rundiff.Find(runs, args[0])
		if err != nil {
			return err
		}
		if runsFlags.json {
			out, err := rundiff.RecordJSON(rec)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		}
		_, err = cmd.OutOrStdout().Write(rundiff.Show(rec))
		return err
	},
}

var runsDiffCmd = &cobra.Command{
	Use:   "diff BASE HEAD",
	Short: "Compare two runs: params, metrics (absolute and relative change), data, code, stage keys; gate CI with --fail-on",
	Long: `diff compares run BASE with run HEAD: the params that changed (--all: every
param, unchanged ones marked), every metric that changed with its absolute
(HEAD − BASE) and relative change, marked better or worse where the
direction is known (accuracy, AUC, F1 up is better; log loss, Brier, RPS
down is better), data sets whose oid changed, the commits (and dirty
flags), and the stages whose cache keys differ. --md writes Markdown for a
pull-request comment or a CI job summary, --json the diff as JSON.

--fail-on RULE (repeatable) makes diff a regression gate:

  METRIC OP NUMBER        the change HEAD − BASE        accuracy < -0.005
  METRIC OP NUMBER%       the relative change, percent  log_loss > 2%
  METRIC.value OP NUMBER  HEAD's value itself           accuracy.value < 0.55

OP is one of < <= > >=. A rule says when to fail: the gate fails when the
comparison holds. METRIC is a full metric key (datalab runs show lists a
run's); a "*" in it matches any run of characters, dots included, and
every metric it matches is checked. Every rule's result is printed, passed
ones too.

Exit codes:
  0  no rule failed (or no --fail-on)
  1  a --fail-on rule failed: the output names each with base, head, change
  2  the diff or a rule could not be evaluated: an unknown run, a malformed
     rule, a metric in neither run (or a glob matching none), a metric only
     one run has, a relative rule on a base of 0 — never a silent pass`,
	Example: `  datalab runs diff latest~1 latest
  datalab runs diff 20261207T1000 max_depth-12 --all
  datalab runs diff latest~1 latest --json | jq '.metrics[] | select(.verdict == "worse")'

  # CI: compare the branch's run with main's and fail on a regression
  datalab runs diff main-run HEAD-run --md >> "$GITHUB_STEP_SUMMARY"
  datalab runs diff commit:$BASE_SHA latest --md \
    --fail-on 'matches.served.holdout.accuracy < -0.005' \
    --fail-on 'matches.served.holdout.rps > 2%' \
    --fail-on 'flights.variants.*.holdout.accuracy < -0.01' >> "$GITHUB_STEP_SUMMARY"`,
	Args: exactArgs(2, "give two runs, BASE then HEAD: ids (or unique prefixes), latest, latest~N, experiment names, commit:SHA or run.json paths"),
	RunE: func(cmd *cobra.Command, args []string) error {
		if err := runsDiff(cmd, args); err != nil {
			var re runsError
			if errors.As(err, &re) {
				return err
			}
			return runsError{err, exitRunsError}
		}
		return nil
	},
}

func runsDiff(cmd *cobra.Command, args []string) error {
	if runsFlags.json && runsFlags.md {
		return errors.New("--json and --md: choose one output format")
	}
	var rules []rundiff.Rule
	for _, s := range runsFlags.failOn {
		r, err := rundiff.ParseRule(s)
		if err != nil {
			return err
		}
		rules = append(rules, r)
	}
	runs, err := loadRuns(cmd)
	if err != nil {
		return err
	}
	var pair [2]*stagerun.RunRecord
	for i, ref := range args {
		if pair[i], err = rundiff.Find(runs, ref); err != nil {
			return fmt.Errorf("%s run: %w", []string{"base", "head"}[i], err)
		}
	}
	d := rundiff.Compare(pair[0], pair[1], rundiff.Options{All: runsFlags.all})
	gate := d.Check(rules)
	out := cmd.OutOrStdout()
	switch {
	case runsFlags.json:
		data, err := d.JSON()
		if len(rules) > 0 {
			data, err = d.JSONWithGate(gate)
		}
		if err != nil {
			return err
		}
		out.Write(data)
	case runsFlags.md:
		out.Write(d.Markdown())
		if len(rules) > 0 {
			out.Write(gate.Markdown())
		}
	default:
		out.Write(d.Text())
		if len(rules) > 0 {
			fmt.Fprintln(out)
			out.Write(gate.Text())
		}
	}
	if err := gate.Err(); err != nil {
		code := exitGateFailed
		if errors.Is(err, rundiff.ErrGateRule) {
			code = exitRunsError
		}
		return runsError{err, code}
	}
	return nil
}

// loadRuns reads the run records of --runs-dir, or by default of runs/
// (or $DATALAB_RUNS_DIR) and reports/runs/ in the current directory,
// where a missing directory just has no runs.
func loadRuns(cmd *cobra.Command) ([]*stagerun.RunRecord, error) {
	if cmd.Flags().Changed("runs-dir") {
		return rundiff.LoadDirs(runsFlags.dirs, false)
	}
	return rundiff.LoadDirs(defaultRunsDirs(), true)
}

func defaultRunsDirs() []string {
	return []string{envOr("DATALAB_RUNS_DIR", "runs"), filepath.Join("reports", "runs")}
}

// exactArgs is cobra.ExactArgs with an error that says what to give; a
// usage error exits 2, like a gate that cannot be evaluated.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return runsError{fmt.Errorf("%s: got %d argument(s); %s", cmd.CommandPath(), len(args), what), exitRunsError}
		}
		return nil
	}
}

func init() {
	for _, c := range []*cobra.Command{runsListCmd, runsShowCmd, runsDiffCmd} {
		c.Flags().StringArrayVar(&runsFlags.dirs, "runs-dir", defaultRunsDirs(), "directory of run records <dir>/<run-id>/run.json (repeatable; default runs/ — or $DATALAB_RUNS_DIR — then the published reports/runs/)")
		c.Flags().BoolVar(&runsFlags.json, "json", false, "print JSON")
		runsCmd.AddCommand(c)
	}
	runsListCmd.Flags().IntVar(&runsFlags.limit, "limit", 0, "list at most this many runs, newest first (0: all)")
	runsDiffCmd.Flags().BoolVar(&runsFlags.md, "md", false, "print Markdown for a pull-request comment or $GITHUB_STEP_SUMMARY")
	runsDiffCmd.Flags().BoolVar(&runsFlags.all, "all", false, "list every param, unchanged ones marked")
	runsDiffCmd.Flags().StringArrayVar(&runsFlags.failOn, "fail-on", nil, "gate rule, repeatable: 'METRIC < -0.005' (change), 'METRIC > 2%' (relative), 'METRIC.value < 0.55' (head's value); exit 1 when one holds")
	runsDiffCmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return runsError{fmt.Errorf("%w (datalab runs diff --help)", err), exitRunsError}
	})
	rootCmd.AddCommand(runsCmd)
}
