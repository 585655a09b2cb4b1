package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/datalabhq/datalab/matches/matchapp"
	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/pipeline/registry"
	"github.com/datalabhq/datalab/pipeline/serve"
)

// DefaultPredictionLog is the SQLite file the prediction log uses when no
// --db / DATALAB_DB is given.
const DefaultPredictionLog = "build/predictions.sqlite"

// DefaultLogFlushInterval is how long served predictions gather before the
// writer stores them in one transaction: the dashboard lags by at most this
// much, and a busy server writes a few large transactions a second instead
// of hundreds of small ones (bench/matchapp, docs/performance.md).
const DefaultLogFlushInterval = 100 * time.Millisecond

// defaultMatchAddr is where serve (and up) listen unless told otherwise:
// loopback, so a laptop's app is not open to its network.
const defaultMatchAddr = "127.0.0.1:8080"

// registerTrustedOrigins adds --trusted-origins (env DATALAB_TRUSTED_ORIGINS)
// to an app command: origins besides the app's own whose browser POSTs
// are accepted (serve's cross-origin check refuses the rest).
func registerTrustedOrigins(cmd *cobra.Command, dst *[]string) {
	var def []string
	for _, o := range strings.Split(os.Getenv("DATALAB_TRUSTED_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			def = append(def, o)
		}
	}
	cmd.Flags().StringSliceVar(dst, "trusted-origins", def, "origins (scheme://host[:port]) besides the app's own whose browser form and API posts are accepted, e.g. a front end on another host name; other cross-site posts get 403 (env DATALAB_TRUSTED_ORIGINS, comma-separated)")
}

// serveOptions are `datalab serve`'s settings.
type serveOptions struct {
	model, db, addr, pipeline string
	// models are --registry, --registry-poll and --model-cache, which
	// also holds the copies of models given by blob URL.
	models          registryFlags
	logBuffer       int
	logFlush        time.Duration
	trustedOrigins  []string
	shutdownTimeout time.Duration
	// dashboardToken and dashboardAddr: see serveDashboardFlags.
	dashboardToken, dashboardAddr string
}

var serveOpts serveOptions

var serveCmd = &cobra.Command{
	Use:   "serve",
	Short: "Serve the World Cup match-winner web app, JSON API and usage dashboard",
	Long: `serve loads a trained match model, opens the prediction log and serves:

  /                             the form (two teams → predicted outcome and probabilities)
  POST /api/v1/matches/predict  {"home":"Argentina","away":"France","neutral":true}
  /dashboard                    usage dashboard from the prediction log (for the
                                operator: --dashboard-addr moves it to its own
                                listener, --dashboard-token requires a token)
  /healthz, /metrics            liveness and Prometheus metrics

The model is a local directory or a blob URL (file:///…, s3://bucket?prefix=…),
by default build/models/matches/<params.matches.serve_variant of datalab.yaml>,
or a model registry reference: registry:matches@champion follows the alias —
when it moves (datalab models promote / rollback) the new version is loaded
in the background and swapped in without a failed request — and
registry:matches@<version id> serves one version. Every answer and logged
prediction carries the version serving it (model_version, X-Model-Version).
The prediction log is a SQLite file path, postgres://… or mysql://user:pass@tcp(host:3306)/db;
give passwords through DATALAB_DB rather than the command line. On SIGTERM or
Ctrl-C the server stops accepting requests, finishes those in flight and
writes the buffered log entries before exiting.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		o := serveOpts
		o.db = predictionLogDSN(o.db)
		if o.dashboardToken == "" {
			o.dashboardToken = os.Getenv("DATALAB_DASHBOARD_TOKEN")
		}
		if os.Getenv("GOGC") == "" {
			// The live heap is small (the model and its lookup, tens of MB)
			// while every request allocates: GC at 4× the live heap instead
			// of 2× buys ~20% throughput (bench/matchapp) for a few hundred
			// MB at most. GOGC (and GOMEMLIMIT) still override.
			debug.SetGCPercent(400)
		}
		return runServe(cmd.Context(), o, loadMatchModel, slog.Default(), nil)
	},
}

func init() {
	f := serveCmd.Flags()
	f.StringVar(&serveOpts.model, "model", envOr("DATALAB_MODEL", ""), "model directory, blob URL, or registry:matches@<alias or version> (env DATALAB_MODEL; default from --pipeline's serve_variant)")
	serveOpts.models.register(f)
	// The default is resolved at run time, not shown in --help: DATALAB_DB may
	// hold a password.
	f.StringVar(&serveOpts.db, "db", "", "prediction log: SQLite file, postgres://… or mysql://… (env DATALAB_DB; default "+DefaultPredictionLog+")")
	f.StringVar(&serveOpts.addr, "addr", envOr("DATALAB_ADDR", defaultMatchAddr), "listen address (env DATALAB_ADDR); loopback by default, :8080 listens on every interface (containers)")
	registerTrustedOrigins(serveCmd, &serveOpts.trustedOrigins)
	f.StringVar(&serveOpts.pipeline, "pipeline", "datalab.yaml", "pipeline file naming the served variant when --model is not given")
	f.IntVar(&serveOpts.logBuffer, "log-buffer", 10_000, "predictions buffered in memory while the log database is slow or down (beyond: a request waits up to 1 s for room while writes succeed, else the oldest is dropped)")
	f.DurationVar(&serveOpts.logFlush, "log-flush-interval", DefaultLogFlushInterval, "how long predictions gather in memory before they are written to the log in one transaction (0: each write as soon as it arrives)")
	f.DurationVar(&serveOpts.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long shutdown waits for requests and log writes")
	serveDashboardFlags(f, &serveOpts)
	rootCmd.AddCommand(serveCmd)
}

func defaultModelCache() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "datalab", "models")
	}
	return filepath.Join(os.TempDir(), "datalab-models")
}

// predictionLogDSN is the --db flag, else DATALAB_DB, else the default file.
func predictionLogDSN(flag string) string {
	if flag != "" {
		return flag
	}
	return envOr("DATALAB_DB", DefaultPredictionLog)
}

// loadMatchModel adapts matchmodel.Load to matchapp.Loader.
func loadMatchModel(dir string) (matchwinner.Predictor, error) { return matchmodel.Load(dir) }

// runServe serves until ctx is cancelled, loading the model with load.
// ready, when not nil, receives the listening address once the server
// accepts connections.
func runServe(ctx context.Context, o serveOptions, load matchapp.Loader, log *slog.Logger, ready chan<- string) error {
	if o.model == "" {
		cfg, err := matchesConfig(o.pipeline)
		if err != nil {
			return fmt.Errorf("no --model given and the served variant is unknown: %w", err)
		}
		o.model = filepath.Join(matchmodel.DefaultModelsDir, cfg.ServeVariant)
	}
	if o.db == DefaultPredictionLog { // build/ may not exist yet on a fresh clone
		if err := os.MkdirAll(filepath.Dir(o.db), 0o755); err != nil {
			return err
		}
	}
	pl, err := predlog.Open(ctx, o.db)
	if err != nil {
		return err
	}
	defer pl.Close()
	log.Info("prediction log open", "db", pl.String(), "dialect", pl.Dialect(), "schema_version", predlog.SchemaVersion())

	metrics := serve.NewRegistry()
	models, stopModels, err := openMatchModels(ctx, o, load, metrics, log)
	if err != nil {
		return err
	}
	defer stopModels()

	w := predlog.NewWriter(pl, predlog.WriterOptions{Capacity: o.logBuffer, FlushInterval: o.logFlush, Logger: log})
	drift, stopDrift := serveDriftPanel(ctx, pl, func() (string, matchwinner.Predictor) {
		cur, release := models.Snapshot()
		defer release()
		return cur.Version, cur.Model
	}, log)
	defer stopDrift()
	app, err := matchapp.New(matchapp.Config{Models: models, Recorder: w, Usage: pl, Metrics: metrics, Logger: log, TrustedOrigins: o.trustedOrigins,
		DashboardToken: o.dashboardToken, DashboardOff: o.dashboardAddr != "", Drift: drift})
	if err != nil {
		return err
	}
	stopDashboard, err := serveDashboard(ctx, o, app, log)
	if err != nil {
		return err
	}
	defer stopDashboard()
	// Serve returns once ctx ends and the requests in flight are answered
	// (or the shutdown timeout passes); then the log writer drains.
	serveErr := serve.Serve(ctx, serve.ServerConfig{Addr: o.addr, Handler: app, Logger: log,
		ShutdownTimeout: o.shutdownTimeout, Ready: func(a string) {
			log.Info("serving", "addr", a)
			if ready != nil {
				ready <- a
			}
		}})
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	closeErr := w.Close(sctx)
	s := w.Stats()
	log.Info("prediction log flushed", "written", s.Written, "dropped", s.Dropped, "failures", s.Failures, "pending", s.Pending)
	if serveErr != nil {
		return serveErr
	}
	return closeErr
}

// openMatchModels loads what o.model names, with its metrics
// (serve.ModelMetrics) on metrics: a registry reference
// (registry:<model>@<alias or version>) is followed by a registry.Follower
// (followModel), anything else is loaded once (a directory or blob URL,
// copied into --model-cache). stop ends the following.
func openMatchModels(ctx context.Context, o serveOptions, load matchapp.Loader, metrics *prometheus.Registry, log *slog.Logger) (_ matchapp.ModelSource, stop func(), err error) {
	start := time.Now()
	name, target, isRef, err := registry.ParseRef(o.model)
	if err != nil {
		return nil, nil, err
	}
	if !isRef {
		pred, err := matchapp.LoadModel(ctx, o.model, o.models.cache, load)
		if err != nil {
			return nil, nil, err
		}
		took := time.Since(start)
		serve.NewModelMetrics(metrics, "matches", "").OnSwap("", pred.Version(), took)
		log.Info("model loaded", "model", o.model, "version", pred.Version(), "teams", len(pred.Teams()), "took", took.Round(time.Millisecond))
		return matchapp.FixedModel(pred, time.Now()), func() {}, nil
	}
	f, stop, err := followModel(ctx, o.models, "matches", name, target, load, metrics, log)
	if err != nil {
		return nil, nil, err
	}
	cur := f.Current()
	log.Info("model loaded", "model", o.model, "version", cur.Version, "alias", f.Alias(),
		"teams", len(cur.Model.Teams()), "took", time.Since(start).Round(time.Millisecond))
	return f, stop, nil
}

// dashboardOff is the --dashboard-addr value that serves no dashboard.
const dashboardOff = "off"

// serveDashboardFlags adds `datalab serve`'s dashboard exposure flags.
func serveDashboardFlags(f *pflag.FlagSet, o *serveOptions) {
	// The token's default is read at run time, not shown in --help: it is
	// a secret.
	f.StringVar(&o.dashboardToken, "dashboard-token", "",
		"require this token for /dashboard, as 'Authorization: Bearer <token>' or ?token=<token> (env DATALAB_DASHBOARD_TOKEN; prefer the env: a flag shows in ps)")
	f.StringVar(&o.dashboardAddr, "dashboard-addr", envOr("DATALAB_DASHBOARD_ADDR", ""),
		"serve /dashboard only on this address, e.g. 127.0.0.1:8081, instead of on --addr; 'off' serves no dashboard (env DATALAB_DASHBOARD_ADDR)")
}

// serveDashboard starts the dashboard's own listener when o.dashboardAddr
// names one, failing at once if the address is taken. The returned stop
// shuts it down and waits for it.
func serveDashboard(ctx context.Context, o serveOptions, app *matchapp.App, log *slog.Logger) (stop func(), err error) {
	if o.dashboardAddr == "" || o.dashboardAddr == dashboardOff {
		if o.dashboardAddr == dashboardOff {
			log.Info("dashboard not served (--dashboard-addr off)")
		}
		return func() {}, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- serve.Serve(ctx, serve.ServerConfig{Addr: o.dashboardAddr, Handler: app.DashboardHandler(), Logger: log,
			ShutdownTimeout: o.shutdownTimeout, Ready: func(addr string) { ready <- addr }})
	}()
	select {
	case addr := <-ready:
		log.Info("dashboard serving", "addr", addr, "token", o.dashboardToken != "")
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("dashboard (--dashboard-addr): %w", err)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			log.Warn("dashboard listener", "err", err)
		}
	}, nil
}

var usageOpts struct{ db, out string }

var reportUsageCmd = &cobra.Command{
	Use:   "usage",
	Short: "Write the match app's usage dashboard as a static HTML file",
	Long: `usage reads the prediction log (the database datalab serve writes to) and
writes the same page as /dashboard — most requested teams and match-ups,
requests by hour and by day, predicted-outcome mix, latest predictions — as
one self-contained HTML file (inline SVG, no script). The file is replaced
atomically.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		l, err := predlog.Open(cmd.Context(), predictionLogDSN(usageOpts.db))
		if err != nil {
			return err
		}
		defer l.Close()
		d, err := matchapp.LoadDashboard(cmd.Context(), l)
		if err != nil {
			return fmt.Errorf("read usage from %s: %w", l, err)
		}
		if err := os.MkdirAll(filepath.Dir(usageOpts.out), 0o755); err != nil {
			return err
		}
		if err := d.WriteFile(usageOpts.out); err != nil {
			return fmt.Errorf("write %s: %w", usageOpts.out, err)
		}
		slog.Info("usage report written", "db", l.String(), "predictions", d.Total)
		fmt.Fprintln(cmd.OutOrStdout(), usageOpts.out)
		return nil
	},
}

func init() {
	f := reportUsageCmd.Flags()
	f.StringVar(&usageOpts.db, "db", "", "prediction log: SQLite file, postgres://… or mysql://… (env DATALAB_DB; default "+DefaultPredictionLog+")")
	f.StringVar(&usageOpts.out, "out", "build/reports/usage.html", "HTML file to write")
	subcommandGroup("report", "Write reports").AddCommand(reportUsageCmd)
}
