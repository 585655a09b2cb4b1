package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/flights/flightmodel"
	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/registry"
	"github.com/datalabhq/datalab/pipeline/rundiff"
	"github.com/datalabhq/datalab/pipeline/sparkml"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

var modelsFlags struct {
	registry      string
	json          bool
	variant       string
	dir           string
	metrics       string
	pipeline      string
	runID         string
	alias         string
	registerAlias string
	force         bool
	tolerance     float64
	gate          []string
	reason        string
	to            string
	runsDir       string
	trainedBy     string
}

var modelsCmd = &cobra.Command{
	Use:   "models",
	Short: "The model registry: register trained models, promote them past a gate, roll back, see the history",
	Long: `models keeps trained model directories as immutable versions and moves
aliases (champion, challenger, any name) between them (docs/registry.md).

The registry lives in --registry, $DATALAB_REGISTRY or .datalab/registry: a
directory, or an s3:// or gs:// URL (credentials as for datalab run --remote).
A version is the content hash of a model directory — the same files are the
same version whether datalab or Spark trained them — and records its
lineage (run id, commit, data oids, parameters) and its evaluation metrics.
Moving an alias is a compare-and-swap: of two concurrent promotions exactly
one wins; the other fails with a conflict and changes nothing.

A typical session after datalab run:

  datalab models register matches            # build/models/matches/<serve_variant>
  datalab models promote matches <version>   # gate: no metric worse than the champion's
  datalab serve --model registry:matches@champion
  datalab models rollback matches            # the champion before
  datalab models history matches`,
}

var modelsRegisterCmd = &cobra.Command{
	Use:   "register MODEL [--variant V] [--dir DIR]",
	Short: "Store a trained model directory as a version, with its lineage and metrics",
	Long: `register stores a model directory as a version of MODEL.

For the two use cases the defaults come from datalab.yaml:
  matches  build/models/matches/<variant>, metrics from build/matches/metrics.json
  flights  build/models/flights/<variant>, metrics from build/metrics/flights/metrics.json
where <variant> is --variant or params.<model>.serve_variant. A Spark-trained
model (datalab train flights --engine spark, or EMR) registers the same way
with --dir. The lineage comes from the newest successful run record in runs/
(--run-id picks another); without one, from git and the data pointer files
the pipeline's stages declare.

Registering the same files again prints the existing version. --alias also
points that alias at the new version when the alias has none yet (use
promote to move an alias that is set: it runs the gate).`,
	Args: exactArgs(1, "give the model name (matches, flights, …)"),
	RunE: runModelsRegister,
}

var modelsPromoteCmd = &cobra.Command{
	Use:   "promote MODEL VERSION [--alias champion]",
	Short: "Move an alias to a version if the gate passes (no metric worse than the current one's)",
	Long: `promote moves --alias (champion) of MODEL to VERSION — a full id, a unique
prefix of at least 6 hex digits, or @another-alias (promote @challenger).

The gate compares the candidate's recorded metrics with the current
version's and refuses when they were evaluated on different data, or when
any compared metric (--metric, repeatable; default all they share) is worse
by more than --tolerance (absolute). It prints the diff either way. --force
promotes anyway; the move records that it was forced and the gate's verdict.
Servers following the alias (datalab serve --model registry:MODEL@ALIAS)
switch to the new version within their poll interval, without a failed
request.`,
	Args: exactArgs(2, "give the model and the version (id, prefix or @alias)"),
	RunE: runModelsPromote,
}

var modelsRollbackCmd = &cobra.Command{
	Use:   "rollback MODEL [--alias champion] [--to VERSION]",
	Short: "Move an alias back to the version it had before its last move",
	Long: `rollback undoes the alias's last move: promotions push onto its history,
rollbacks pop, so two rollbacks go back two versions. --to names the version
instead. No gate: a rollback is the way out of a bad promotion.`,
	Args: exactArgs(1, "give the model name"),
	RunE: runModelsRollback,
}

var modelsListCmd = &cobra.Command{
	Use:   "list [MODEL]",
	Short: "List models, or a model's versions with their aliases and headline metrics",
	Args:  cobra.MaximumNArgs(1),
	RunE:  runModelsList,
}

var modelsShowCmd = &cobra.Command{
	Use:   "show MODEL VERSION",
	Short: "Show a version: lineage, metrics, aliases (VERSION: id, prefix or @alias)",
	Args:  exactArgs(2, "give the model and the version (id, prefix or @alias)"),
	RunE:  runModelsShow,
}

var modelsHistoryCmd = &cobra.Command{
	Use:   "history MODEL",
	Short: "Every registration, alias move and server switch of a model, oldest first",
	Long: `history lists, in time order, the versions registered, every move of every
alias (who, forced or not, the gate's verdict) and what servers following an
alias recorded when they switched versions: which version served from when.
The prediction logs carry the version of each answer as well.`,
	Args: exactArgs(1, "give the model name"),
	RunE: runModelsHistory,
}

func openRegistry(cmd *cobra.Command) (*registry.Registry, error) {
	return registry.Open(cmd.Context(), modelsFlags.registry)
}

func runModelsRegister(cmd *cobra.Command, args []string) error {
	model := args[0]
	if err := registry.CheckName("model", model); err != nil {
		return err
	}
	v := registry.Version{Model: model, Variant: modelsFlags.variant}
	dir := modelsFlags.dir
	var (
		res         *evaluate.Result
		evalPart    []any
		sets        []string // data sets of the evaluation
		lineageSets []string // data sets of the model; nil: all
	)
	switch model {
	case "matches":
		cfg, err := matchesConfig(modelsFlags.pipeline)
		if err != nil {
			return err
		}
		if v.Variant == "" {
			v.Variant = cfg.ServeVariant
		}
		if dir == "" {
			dir = filepath.Join(matchmodel.DefaultModelsDir, v.Variant)
		}
		ev, err := matchmodel.ReadEvaluation(orDefault(modelsFlags.metrics, matchmodel.DefaultMetrics))
		if err != nil {
			return fmt.Errorf("%w (register needs the evaluation: datalab run, or --metrics)", err)
		}
		if res, evalPart, err = ev.RegistryRecord(v.Variant); err != nil {
			return err
		}
		sets, lineageSets = matchmodel.EvalDataSets, matchmodel.DataSets
	case "flights":
		cfg, err := flightsConfig(modelsFlags.pipeline)
		if err != nil {
			return err
		}
		if v.Variant == "" {
			v.Variant = cfg.ServeVariant
		}
		if dir == "" {
			dir = flightmodel.ModelDir(flightmodel.DefaultModelsDir, v.Variant)
		}
		ev, err := flightmodel.ReadEvaluation(orDefault(modelsFlags.metrics, flightmodel.DefaultMetrics))
		if err != nil {
			return fmt.Errorf("%w (register needs the evaluation: datalab run, or --metrics)", err)
		}
		if res, evalPart, sets, err = ev.RegistryRecord(v.Variant); err != nil {
			return err
		}
		lineageSets = sets
	default:
		if dir == "" {
			return fmt.Errorf("model %s is not a use case of this pipeline: give --dir (it is registered without metrics, so promotions past it need --force)", model)
		}
	}
	lin, err := registerLineage(model, lineageSets)
	if err != nil {
		return err
	}
	if lineageSets != nil {
		lin.DataOids = registry.SelectOids(lin.DataOids, lineageSets...)
	}
	v.Lineage = lin
	if res != nil {
		v.Metrics = registry.Metrics(res)
		v.EvalData = registry.EvalDataID(append(evalPart, registry.SelectOids(lin.DataOids, sets...))...)
	}
	v.Source = dir
	v.Format, v.TrainedBy = describeModelDir(dir)
	if modelsFlags.trainedBy != "" {
		v.TrainedBy = modelsFlags.trainedBy
	}

	reg, err := openRegistry(cmd)
	if err != nil {
		return err
	}
	defer reg.Close()
	got, created, err := reg.Register(cmd.Context(), dir, v)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if created {
		fmt.Fprintf(out, "registered %s version %s (%s, %d files, %s) in %s\n", model, got.ID, dir, got.Files, humanBytes(got.Bytes), reg)
	} else {
		fmt.Fprintf(out, "%s version %s is already registered (%s, %s)\n", model, got.ID, got.Source, got.Registered.Format(time.RFC3339))
	}
	if alias := modelsFlags.registerAlias; alias != "" {
		a, err := reg.Alias(cmd.Context(), model, alias)
		if err != nil {
			return err
		}
		switch a.Version {
		case "":
			mv, _, err := reg.Promote(cmd.Context(), model, alias, got.ID, registry.PromoteOptions{By: whoami(), Reason: "register --alias"})
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s@%s → %s (move %d)\n", model, alias, registry.Short(mv.To), mv.Seq)
		case got.ID:
		default:
			fmt.Fprintf(out, "%s@%s stays at %s; move it with: datalab models promote %s %s --alias %s\n",
				model, alias, registry.Short(a.Version), model, registry.Short(got.ID), alias)
		}
	}
	return nil
}

// registerLineage is the lineage of what is being registered: the run
// record (--run-id, or the newest successful run), else git and the data
// pointer files the pipeline's stages declare — of the data sets sets when
// not nil (the same data, so the same oids, as a run records).
func registerLineage(model string, sets []string) (registry.Lineage, error) {
	recs, err := rundiff.LoadDirs([]string{modelsFlags.runsDir}, true)
	if err != nil {
		return registry.Lineage{}, err
	}
	var rec *stagerun.RunRecord
	for _, r := range recs {
		if modelsFlags.runID != "" && r.ID == modelsFlags.runID || modelsFlags.runID == "" && r.Status == "ok" && (rec == nil || r.Start.After(rec.Start)) {
			rec = r
		}
	}
	if modelsFlags.runID != "" && rec == nil {
		return registry.Lineage{}, fmt.Errorf("no run record %s in %s (datalab runs list)", modelsFlags.runID, modelsFlags.runsDir)
	}
	if rec != nil {
		params := map[string]any{}
		for k, v := range rec.Params {
			if strings.HasPrefix(k, model+".") {
				params[k] = v
			}
		}
		return registry.Lineage{RunID: rec.ID, Commit: rec.Git.Commit, Dirty: rec.Git.Dirty, DataOids: rec.Datasets, Params: params}, nil
	}
	// The pointer files the pipeline's stages declare: what a run records.
	p, err := stagerun.LoadEnv(modelsFlags.pipeline)
	if err != nil {
		return registry.Lineage{}, err
	}
	var pointers []string
	for _, st := range p.Stages {
		for _, d := range st.Deps {
			rest, ok := strings.CutPrefix(d, "data/pointers/")
			set, _, _ := strings.Cut(rest, "/")
			path := filepath.Join(p.Root, d)
			if ok && strings.HasSuffix(d, ".pointer") && (sets == nil || slices.Contains(sets, set)) && !slices.Contains(pointers, path) {
				pointers = append(pointers, path)
			}
		}
	}
	oids, err := stagerun.PointerOids(pointers)
	if err != nil {
		return registry.Lineage{}, err
	}
	gs := stagerun.GitStateOf(filepath.Dir(modelsFlags.pipeline))
	return registry.Lineage{Commit: gs.Commit, Dirty: gs.Dirty, DataOids: oids}, nil
}

// describeModelDir names the format of a model directory from its Spark
// metadata (a match model keeps its Spark PipelineModel in spark/, a flight
// model is one) and, when the files say so, what trained it: a match model
// (its manifest.json) is always datalab's. A Spark-format flight model may
// come from datalab or from Spark; --trained-by records which.
func describeModelDir(dir string) (format, trainedBy string) {
	for _, d := range []string{dir, filepath.Join(dir, matchmodel.SparkDir)} {
		md, err := sparkml.ReadMetadata(d)
		if err != nil {
			continue
		}
		format = "spark-mllib " + md.Class + " (Spark " + md.SparkVersion + " format)"
		if _, err := os.Stat(filepath.Join(dir, matchmodel.ManifestFile)); err == nil {
			return "datalab match model, " + format, "datalab"
		}
		return format, ""
	}
	return "directory", ""
}

func runModelsPromote(cmd *cobra.Command, args []string) error {
	reg, err := openRegistry(cmd)
	if err != nil {
		return err
	}
	defer reg.Close()
	model := args[0]
	tol := modelsFlags.tolerance
	if tol == 0 {
		tol = -1 // --tolerance 0: no regression at all (GateOptions' 0 is the default)
	}
	mv, gate, err := reg.Promote(cmd.Context(), model, modelsFlags.alias, args[1], registry.PromoteOptions{
		Gate:  registry.GateOptions{Metrics: modelsFlags.gate, Tolerance: tol},
		Force: modelsFlags.force, By: whoami(), Reason: modelsFlags.reason,
	})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintln(out, gate.Text())
	forced := ""
	if mv.Forced {
		forced = " (forced past the gate)"
	}
	from := registry.Short(mv.From)
	if from == "" {
		from = "(none)"
	}
	fmt.Fprintf(out, "%s@%s: %s → %s%s, move %d\n", model, modelsFlags.alias, from, registry.Short(mv.To), forced, mv.Seq)
	return nil
}

func runModelsRollback(cmd *cobra.Command, args []string) error {
	reg, err := openRegistry(cmd)
	if err != nil {
		return err
	}
	defer reg.Close()
	mv, err := reg.Rollback(cmd.Context(), args[0], modelsFlags.alias, modelsFlags.to, registry.PromoteOptions{By: whoami(), Reason: modelsFlags.reason})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s@%s: rolled back %s → %s, move %d\n", args[0], modelsFlags.alias, registry.Short(mv.From), registry.Short(mv.To), mv.Seq)
	return nil
}

func runModelsList(cmd *cobra.Command, args []string) error {
	reg, err := openRegistry(cmd)
	if err != nil {
		return err
	}
	defer reg.Close()
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	if len(args) == 0 {
		models, err := reg.Models(ctx)
		if err != nil {
			return err
		}
		if modelsFlags.json {
			return writeJSON(out, models)
		}
		if len(models) == 0 {
			fmt.Fprintf(out, "no models in %s yet: datalab models register matches\n", reg)
		}
		for _, m := range models {
			fmt.Fprintln(out, m)
		}
		return nil
	}
	vs, err := reg.Versions(ctx, args[0])
	if err != nil {
		return err
	}
	as, err := reg.Aliases(ctx, args[0])
	if err != nil {
		return err
	}
	if modelsFlags.json {
		return writeJSON(out, map[string]any{"versions": vs, "aliases": as})
	}
	if len(vs) == 0 {
		return fmt.Errorf("%s has no versions in %s: datalab models register %s: %w", args[0], reg, args[0], registry.ErrNotFound)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VERSION\tREGISTERED\tVARIANT\tTRAINED BY\tRUN\tACCURACY\tLOG LOSS\tALIASES")
	for _, v := range vs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", registry.Short(v.ID), v.Registered.Local().Format("2006-01-02 15:04"), dash(v.Variant),
			dash(v.TrainedBy), dash(v.Lineage.RunID), metricText(v, "accuracy"), metricText(v, "log_loss"), dash(strings.Join(registry.AliasesOf(as, v.ID), ",")))
	}
	return w.Flush()
}

func runModelsShow(cmd *cobra.Command, args []string) error {
	reg, err := openRegistry(cmd)
	if err != nil {
		return err
	}
	defer reg.Close()
	v, err := reg.Version(cmd.Context(), args[0], args[1])
	if err != nil {
		return err
	}
	as, err := reg.Aliases(cmd.Context(), args[0])
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if modelsFlags.json {
		return writeJSON(out, v)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "version\t%s\n", v.ID)
	fmt.Fprintf(w, "model\t%s\n", v.Model)
	fmt.Fprintf(w, "aliases\t%s\n", dash(strings.Join(registry.AliasesOf(as, v.ID), ", ")))
	fmt.Fprintf(w, "registered\t%s\n", v.Registered.Format(time.RFC3339))
	fmt.Fprintf(w, "source\t%s\n", dash(v.Source))
	fmt.Fprintf(w, "variant\t%s\n", dash(v.Variant))
	fmt.Fprintf(w, "format\t%s\n", dash(v.Format))
	fmt.Fprintf(w, "trained by\t%s\n", dash(v.TrainedBy))
	fmt.Fprintf(w, "files\t%d (%s)\n", v.Files, humanBytes(v.Bytes))
	fmt.Fprintf(w, "run\t%s\n", dash(v.Lineage.RunID))
	commit := v.Lineage.Commit
	if v.Lineage.Dirty {
		commit += " (uncommitted changes)"
	}
	fmt.Fprintf(w, "commit\t%s\n", dash(commit))
	fmt.Fprintf(w, "evaluation data\t%s\n", dash(registry.Short(v.EvalData)))
	for _, k := range slices.Sorted(maps.Keys(v.Lineage.DataOids)) {
		fmt.Fprintf(w, "data %s\t%s\n", k, v.Lineage.DataOids[k])
	}
	for _, k := range slices.Sorted(maps.Keys(v.Lineage.Params)) {
		fmt.Fprintf(w, "param %s\t%s\n", k, stagerun.FormatParam(v.Lineage.Params[k]))
	}
	for _, m := range v.Metrics {
		fmt.Fprintf(w, "metric %s\t%.6g\n", m.Key, m.Value)
	}
	return w.Flush()
}

// historyRow is one line of `datalab models history`.
type historyRow struct {
	Time  time.Time `json:"time"`
	Event string    `json:"event"`
	Text  string    `json:"text"`
}

func runModelsHistory(cmd *cobra.Command, args []string) error {
	reg, err := openRegistry(cmd)
	if err != nil {
		return err
	}
	defer reg.Close()
	ctx, model := cmd.Context(), args[0]
	vs, err := reg.Versions(ctx, model)
	if err != nil {
		return err
	}
	as, err := reg.Aliases(ctx, model)
	if err != nil {
		return err
	}
	ss, err := reg.Servings(ctx, model)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return fmt.Errorf("%s has no versions in %s: %w", model, reg, registry.ErrNotFound)
	}
	var rows []historyRow
	for _, v := range vs {
		rows = append(rows, historyRow{v.Registered, "register", fmt.Sprintf("%s registered (%s, run %s)", registry.Short(v.ID), dash(v.Variant), dash(v.Lineage.RunID))})
	}
	for _, a := range as {
		for _, m := range a.Moves {
			text := fmt.Sprintf("@%s %s → %s", a.Name, dash(registry.Short(m.From)), registry.Short(m.To))
			if m.Forced {
				text += " FORCED past the gate"
			}
			if m.By != "" {
				text += " by " + m.By
			}
			if m.Reason != "" {
				text += ": " + m.Reason
			}
			rows = append(rows, historyRow{m.Time, m.Action, text})
		}
	}
	for _, s := range ss {
		text := fmt.Sprintf("%s began serving %s", s.Instance, registry.Short(s.Version))
		if s.Alias != "" {
			text += " (@" + s.Alias + ")"
		}
		rows = append(rows, historyRow{s.Since, "serve", text})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Time.Before(rows[j].Time) })
	out := cmd.OutOrStdout()
	if modelsFlags.json {
		return writeJSON(out, rows)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\n", r.Time.Local().Format("2006-01-02 15:04:05.000"), r.Event, r.Text)
	}
	return w.Flush()
}

func metricText(v registry.Version, key string) string {
	if m, ok := v.Metric(key); ok {
		return fmt.Sprintf("%.4f", m.Value)
	}
	return "-"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// whoami names the person or job moving an alias, for the history.
func whoami() string {
	if u := os.Getenv("GITHUB_ACTOR"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		h, _ := os.Hostname()
		return u.Username + "@" + h
	}
	return ""
}

func init() {
	pf := modelsCmd.PersistentFlags()
	pf.StringVar(&modelsFlags.registry, "registry", registry.Location(), "registry location: a directory, s3://bucket/prefix or gs://bucket/prefix ($"+registry.EnvLocation+")")
	pf.BoolVar(&modelsFlags.json, "json", false, "print JSON")
	for _, c := range []*cobra.Command{modelsPromoteCmd, modelsRollbackCmd} {
		c.Flags().StringVar(&modelsFlags.alias, "alias", registry.DefaultAlias, "alias to move")
		c.Flags().StringVar(&modelsFlags.reason, "reason", "", "why, recorded in the history")
	}
	f := modelsRegisterCmd.Flags()
	f.StringVar(&modelsFlags.registerAlias, "alias", "", "also point this alias at the version if the alias is not set yet")
	f.StringVar(&modelsFlags.variant, "variant", "", "use case variant (default params.<model>.serve_variant)")
	f.StringVar(&modelsFlags.dir, "dir", "", "model directory (default the variant's under build/models/<model>/)")
	f.StringVar(&modelsFlags.metrics, "metrics", "", "evaluation JSON (default the use case's metrics.json)")
	f.StringVar(&modelsFlags.pipeline, "pipeline", "datalab.yaml", "pipeline file (params.<model>)")
	f.StringVar(&modelsFlags.trainedBy, "trained-by", "", `what trained the model, for the record ("datalab", "spark 3.5.3 on EMR", …); match models are datalab's`)
	f.StringVar(&modelsFlags.runID, "run-id", "", "run whose record gives the lineage (default the newest successful run)")
	f.StringVar(&modelsFlags.runsDir, "runs-dir", envOr("DATALAB_RUNS_DIR", "runs"), "directory of run records")
	modelsPromoteCmd.Flags().BoolVar(&modelsFlags.force, "force", false, "promote even if the gate refuses (recorded)")
	modelsPromoteCmd.Flags().Float64Var(&modelsFlags.tolerance, "tolerance", registry.DefaultTolerance, "allowed regression of each compared metric (absolute)")
	modelsPromoteCmd.Flags().StringArrayVar(&modelsFlags.gate, "metric", nil, "metric the gate compares (repeatable; default every metric both have)")
	modelsRollbackCmd.Flags().StringVar(&modelsFlags.to, "to", "", "version to roll back to (default the one before the last move)")
	modelsCmd.AddCommand(modelsRegisterCmd, modelsPromoteCmd, modelsRollbackCmd, modelsListCmd, modelsShowCmd, modelsHistoryCmd)
	rootCmd.AddCommand(modelsCmd)
}
