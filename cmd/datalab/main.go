// Command datalab is the single entry point of the data lab: every pipeline
// stage (data, ingest, run, train, predict, serve, …) is a subcommand. It is a
// thin shell: flags and environment variables are parsed here and handed to
// the packages under pipeline/, where the logic lives.
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
