package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/matches/matchapp"
	"github.com/datalabhq/datalab/matches/predlog"
)

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
