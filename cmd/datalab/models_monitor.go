package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/flights/flightmodel"
	"github.com/datalabhq/datalab/flights/flightmonitor"
	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/matches/matchapp"
	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/matches/matchmonitor"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/pipeline/drift"
	"github.com/datalabhq/datalab/pipeline/monitor"
	"github.com/datalabhq/datalab/pipeline/registry"
	"github.com/datalabhq/datalab/pipeline/sqldb"
)

// monitorOptions are `datalab monitor`'s settings.
type monitorOptions struct {
	window                         time.Duration
	until                          string
	version, registry, modelCache  string
	model, referenceData, out      string
	db, store, pipeline, variant   string
	psiWarn, psiAlert, unseenAlert float64
	minRows, bins                  int
}

var monitorOpts monitorOptions

var monitorCmd = &cobra.Command{
	Use:   "monitor matches|flights",
	Short: "Compare the features of served requests with the serving version's training data (drift: PSI, unseen categories, predicted classes)",
	Long: `monitor reads the requests a model served in a time window — the match
app's prediction log (--db, as datalab serve takes it) or the flight store
(--store, as serve-flights and the predictor take it) — and compares their
features with the training data of the version that served them
(docs/monitoring.md): the population stability index (PSI) of every
feature, the share of categories the training data never has (teams,
carriers, airports, routes) and the PSI of the predicted classes.

The version judged is the one that answered most requests of the window,
or --version (a registry id, prefix or @alias). A registry version is
fetched from the registry, and its lineage's data oids are checked against
the local pointer files: monitor refuses when the local data is not what
the version was trained on (--reference-data compares with other data
anyway). A version the registry does not hold (a model served from a
directory) is judged as the local model --model, which must carry that
version; the report says so.

It writes monitor-<model>.html (a report page, no JavaScript) and
monitor-<model>.json into --out and prints both paths.

Exit status, for cron and CI: 0 when nothing drifted (verdict ok, warn, or
too few rows to judge), 1 when a feature or the predicted classes drifted
past the thresholds, 2 when the monitor could not run.`,
	Example: `  datalab monitor matches --window 24h
  datalab monitor flights --store postgres://… --version @champion --psi-alert 0.2
  datalab monitor matches --window 168h --out /var/www/monitor || notify "match model drifted"`,
	Args:      exactArgs(1, "give the use case: matches or flights"),
	ValidArgs: []string{matchmonitor.Model, flightmonitor.Model},
	RunE: func(cmd *cobra.Command, args []string) error {
		err := runMonitor(cmd, args[0], monitorOpts)
		var drifted monitorDrift
		if err != nil && !errors.As(err, &drifted) {
			return monitorError{err}
		}
		return err
	},
}

// monitorDrift is the drift verdict as an error: exit status 1 with the
// alerts (monitor.ExitDrift).
type monitorDrift struct{ summary string }

func (e monitorDrift) Error() string { return e.summary }
func (monitorDrift) ExitCode() int   { return monitor.ExitDrift }

// monitorError is a monitor that could not run: exit status 2
// (monitor.ExitError), so a cron job tells it from drift.
type monitorError struct{ err error }

func (e monitorError) Error() string { return e.err.Error() }
func (e monitorError) Unwrap() error { return e.err }
func (monitorError) ExitCode() int   { return monitor.ExitError }

func runMonitor(cmd *cobra.Command, model string, o monitorOptions) error {
	ctx := cmd.Context()
	until := time.Now()
	if o.until != "" {
		t, err := time.Parse(time.RFC3339, o.until)
		if err != nil {
			return fmt.Errorf("--until %q: want an RFC 3339 time such as 2026-12-07T10:00:00Z", o.until)
		}
		until = t
	}
	if o.window <= 0 {
		return fmt.Errorf("--window %s: want a positive duration such as 24h", o.window)
	}
	c := monitor.Config{
		Model: model, CacheDir: o.modelCache, LocalModel: o.model, ReferenceData: o.referenceData, Root: filepath.Dir(o.pipeline),
		Window: monitor.Last(o.window, until), Version: o.version,
		Drift: drift.Options{Bins: o.bins, PSIWarn: o.psiWarn, PSIAlert: o.psiAlert, UnseenAlert: o.unseenAlert, MinRows: o.minRows},
	}
	reg, err := openMonitorRegistry(cmd.Context(), o)
	if err != nil {
		return err
	}
	if reg != nil {
		defer reg.Close()
		c.Registry = reg
	}
	var rep *monitor.Report
	switch model {
	case matchmonitor.Model:
		rep, err = monitorMatches(ctx, c, o)
	case flightmonitor.Model:
		rep, err = monitorFlights(ctx, c, o)
	default:
		return fmt.Errorf("unknown use case %q: monitor matches or monitor flights", model)
	}
	if err != nil {
		return err
	}
	out := o.out
	if out == "" {
		out = filepath.Join("build", "monitor", model)
	}
	page, data, err := rep.Write(out)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintln(w, rep.Result.Summary())
	for _, line := range rep.Result.Alerts() {
		fmt.Fprintln(w, "  alert:", line)
	}
	for _, line := range rep.Result.Warnings() {
		fmt.Fprintln(w, "  warning:", line)
	}
	fmt.Fprintf(w, "wrote %s and %s\n", page, data)
	if monitor.ExitCode(rep.Result) == monitor.ExitDrift {
		return monitorDrift{fmt.Sprintf("%s %s drifted (%s)", model, registry.Short(rep.Target.Version), page)}
	}
	return nil
}

// openMonitorRegistry opens --registry, or returns nil when there is none
// to read: a local directory that does not exist (opening would create
// it), or one that cannot be opened while --version does not need it
// (only local models can then be judged).
func openMonitorRegistry(ctx context.Context, o monitorOptions) (*registry.Registry, error) {
	if _, err := os.Stat(o.registry); o.version == "" && !strings.Contains(o.registry, "://") && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	reg, err := registry.Open(ctx, o.registry)
	if err != nil && o.version == "" {
		slog.Warn("no model registry: only local models can be judged", "registry", o.registry, "err", err)
		return nil, nil
	}
	return reg, err
}

func monitorMatches(ctx context.Context, c monitor.Config, o monitorOptions) (*monitor.Report, error) {
	if c.LocalModel == "" {
		cfg, err := matchesConfig(o.pipeline)
		if err != nil {
			return nil, fmt.Errorf("no --model given and the served variant is unknown: %w", err)
		}
		c.LocalModel = filepath.Join(matchmodel.DefaultModelsDir, cfg.ServeVariant)
	}
	dsn := predictionLogDSN(o.db)
	if err := existingSQLite(dsn, "prediction log (--db / DATALAB_DB)", "datalab serve"); err != nil {
		return nil, err
	}
	l, err := predlog.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	return monitor.Run(ctx, &matchmonitor.Source{Log: l}, c)
}

func monitorFlights(ctx context.Context, c monitor.Config, o monitorOptions) (*monitor.Report, error) {
	cfg, err := flightsConfig(o.pipeline)
	if err != nil {
		return nil, err
	}
	if c.LocalModel == "" {
		variant := o.variant
		if variant == "" {
			variant = cfg.ServeVariant
		}
		c.LocalModel = flightmodel.ModelDir(flightmodel.DefaultModelsDir, variant)
	}
	dsn := (&flightOptions{store: o.store}).storeDSN()
	if err := existingSQLite(dsn, "flight store (--store / DATALAB_FLIGHT_STORE)", "datalab predictor"); err != nil {
		return nil, err
	}
	// No background cleanup: the monitor only reads.
	st, err := openFlightStore(ctx, dsn, flightstore.Policy{CleanupEvery: -1})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return monitor.Run(ctx, &flightmonitor.Source{Store: st, Config: cfg, Variant: o.variant}, c)
}

// serveDrift are `datalab serve`'s drift panel flags (registered on
// serveCmd below, beside the monitor they share their logic with).
var serveDrift struct {
	window, every time.Duration
	features      string
}

// serveDriftPanel starts the dashboard's drift panel of `datalab serve`:
// matchmonitor.Watch judging the version current returns (the one serving
// now) over the last --drift-window, every --drift-every in the
// background. It returns nil (and a no-op stop) when --drift-every is 0.
// stop ends the panel's loop and waits for it.
func serveDriftPanel(ctx context.Context, l *predlog.Log, current func() (string, matchwinner.Predictor), log *slog.Logger) (*matchapp.DriftPanel, func()) {
	if serveDrift.every <= 0 {
		return nil, func() {}
	}
	w := &matchmonitor.Watch{Source: &matchmonitor.Source{Log: l, Features: serveDrift.features}, Window: serveDrift.window}
	panel := matchapp.NewDriftPanel(func(ctx context.Context) (*monitor.Report, error) {
		version, p := current()
		return w.Check(ctx, version, p)
	}, serveDrift.every, log)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		panel.Run(ctx)
	}()
	return panel, func() { cancel(); <-done }
}

// existingSQLite refuses a SQLite DSN whose file does not exist, rather
// than let the store create an empty database to monitor: what names the
// store, writer the command that writes it.
func existingSQLite(dsn, what, writer string) error {
	d, err := sqldb.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if p := d.Path(); p != "" {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %s does not exist: nothing to monitor (%s writes it; give the one it writes)", what, p, writer)
		}
	}
	return nil
}

func init() {
	sf := serveCmd.Flags()
	sf.DurationVar(&serveDrift.every, "drift-every", matchapp.DefaultDriftEvery, "how often the dashboard's drift panel is computed in the background (0: no panel); docs/monitoring.md")
	sf.DurationVar(&serveDrift.window, "drift-window", 24*time.Hour, "the drift panel judges the requests of this last window")
	sf.StringVar(&serveDrift.features, "drift-reference", matchmodel.DefaultFeatures, "the drift panel's reference data: the features table the served model was trained from")
}

func init() {
	f := monitorCmd.Flags()
	o := &monitorOpts
	f.DurationVar(&o.window, "window", 24*time.Hour, "how far back from --until the requests are read")
	f.StringVar(&o.until, "until", "", "end of the window, RFC 3339 (default now)")
	f.StringVar(&o.version, "version", "", "version to judge: a registry id, prefix or @alias (default the version that served most requests of the window)")
	f.StringVar(&o.registry, "registry", registry.Location(), "registry location: a directory, s3://bucket/prefix or gs://bucket/prefix ($"+registry.EnvLocation+")")
	f.StringVar(&o.modelCache, "model-cache", envOr("DATALAB_MODEL_CACHE", defaultModelCache()), "where registry versions are fetched to (env DATALAB_MODEL_CACHE)")
	f.StringVar(&o.model, "model", "", "local model directory for versions the registry does not hold (default build/models/<use case>/<serve_variant>)")
	f.StringVar(&o.referenceData, "reference-data", "", "reference data to read instead of the default (matches: "+matchmodel.DefaultFeatures+"; flights: the variant's ingested Parquet file), not checked against the version's lineage")
	f.StringVar(&o.out, "out", "", "directory of the page and the JSON (default build/monitor/<use case>)")
	f.StringVar(&o.db, "db", "", "matches: prediction log, SQLite file, postgres://… or mysql://… (env DATALAB_DB; default "+DefaultPredictionLog+")")
	f.StringVar(&o.store, "store", "", "flights: prediction store, SQLite path, postgres://…, mysql://… or mongodb://… (env DATALAB_FLIGHT_STORE; default "+defaultFlightStore+")")
	f.StringVar(&o.pipeline, "pipeline", "datalab.yaml", "pipeline file (params.<use case>: serve variant, flight variants and split); its directory holds data/pointers")
	f.StringVar(&o.variant, "variant", "", "flights: the variant of a local model (default params.flights.serve_variant; a registry version names its own)")
	d := drift.DefaultOptions
	f.Float64Var(&o.psiWarn, "psi-warn", d.PSIWarn, "PSI at which a feature warns")
	f.Float64Var(&o.psiAlert, "psi-alert", d.PSIAlert, "PSI at which a feature drifts (exit status 1)")
	f.Float64Var(&o.unseenAlert, "unseen-alert", d.UnseenAlert, "share of requests with a category the training data never has at which a categorical feature drifts")
	f.IntVar(&o.minRows, "min-rows", d.MinRows, "requests (and reference rows) needed for a verdict; fewer: too few rows, exit status 0")
	f.IntVar(&o.bins, "bins", d.Bins, "quantile bins of a numeric feature")
	rootCmd.AddCommand(monitorCmd)
}
