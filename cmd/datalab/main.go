// Command datalab is the single entry point of the data lab: every pipeline
// stage (data, ingest, run, train, predict, serve, …) is a subcommand. It is a
// thin shell: flags and environment variables are parsed here and handed to
// the packages under pipeline/, matches/, flights/ and ops/, where the logic
// lives.
//
// One file per area; an area too big for one file has files prefixed by its
// name. Tests start with the name of the file they test (run_remote_test.go
// tests run.go); e2e_test.go, listen_test.go and stagecode_test.go cover
// the whole command.
//
//	main.go            the root command, logging, exit codes, and the helpers
//	                   the areas share (subcommandGroup, stageConfig,
//	                   publishReport)
//	run.go             run: the pipeline in datalab.yaml (run_dag.go: dag;
//	                   run_runs.go: runs; run_exp.go: exp; run_lab.go: lab;
//	                   run_notebooks.go: notebooks; run_watch.go: watch;
//	                   run_site.go: report index, report diff, report sync)
//	data.go            data pull, status, add (data_ingest.go: ingest)
//	matches.go         features, train, evaluate and report matches
//	                   (matches_app.go: serve and its dashboard, report usage)
//	flights.go         features, train, evaluate and report flights
//	                   (flights_app.go: serve-flights; flights_stream.go:
//	                   predictor, broker, the Kafka flags of the flight
//	                   commands;
//	                   flights_spark.go: spark, train flights --engine spark;
//	                   flights_model.go: predict, model inspect)
//	models.go          models: the registry (register, promote, rollback,
//	                   list, show, history) (models_monitor.go: monitor,
//	                   and serve's drift panel flags)
//	ops.go             image, healthcheck (ops_deploy.go: deploy;
//	                   ops_up.go: up)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/report"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// rootCmd is the `datalab` command; subcommands attach themselves in init()
// functions of their own files so that each stage's flags live beside it.
var rootCmd = &cobra.Command{
	Use:   "datalab",
	Short: "datalab — a reproducible data lab: data sets, pipeline, models and prediction services",
	Long: `datalab runs the whole lab from one binary.

Typical session:
  datalab data pull            # materialise the declared data sets (verifies sha256)
  datalab run                  # run the pipeline in datalab.yaml, skipping up-to-date stages
  datalab ingest matches       # one stage by hand

Configuration comes from flags, or from DATALAB_* environment variables
(e.g. DATALAB_MIRROR names a directory holding a mirror of the data sets).`,
	Version:       version,
	SilenceUsage:  true,
	SilenceErrors: true,
	PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
		return setupLogging(logLevel)
	},
}

var logLevel string

func init() {
	rootCmd.PersistentFlags().StringVar(&logLevel, "log-level", envOr("DATALAB_LOG_LEVEL", "info"),
		"log level: debug, info, warn or error (env DATALAB_LOG_LEVEL)")
}

// envOr returns the environment variable name if set and non-empty, else def.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func setupLogging(level string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})))
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "datalab:", err)
		var ec exitCoder
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

// subcommandGroup returns root's subcommand name, creating it when no other
// file has: `features`, `train`, `evaluate` and `report` are shared by the
// use cases (matches, flights), each adding its own subcommand.
func subcommandGroup(name, short string) *cobra.Command {
	for _, c := range rootCmd.Commands() {
		if c.Name() == name {
			return c
		}
	}
	c := &cobra.Command{Use: name, Short: short}
	rootCmd.AddCommand(c)
	return c
}

// stageConfig reads params.<key> of the pipeline file into a use case's
// typed configuration and validates it.
func stageConfig[C interface{ Validate() error }](pipelinePath, key string) (C, error) {
	var cfg C
	p, err := stagerun.LoadEnv(pipelinePath)
	if err != nil {
		return cfg, err
	}
	if err := p.DecodeParam(key, &cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// exitCoder lets a subcommand choose the process exit code (e.g. ingest exits
// 2 when the bad-row ratio is exceeded).
type exitCoder interface{ ExitCode() int }

// publishReport is what `datalab report <use case>` does for every use
// case: publish the report (report.UseCaseReport: the input-determined copy,
// the run's report with lineage, the site index) and say where it went.
func publishReport(out io.Writer, u report.UseCaseReport) error {
	pub, err := u.Publish()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s and %s; index %s\n", pub.RunPath, pub.StablePath, pub.IndexPath)
	return nil
}
