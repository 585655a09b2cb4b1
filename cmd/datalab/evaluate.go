package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/matchmodel"
	"github.com/datalabhq/datalab/pipeline/matchwinner"
)

var evaluateMatchesCmd = &cobra.Command{
	Use:   "matches",
	Short: "Score the match-winner variants and baselines on the test year and the 2022 World Cup",
	Long: `evaluate matches loads every variant's model directory (as the web app does),
scores the matches of params.matches.test_year and the 64 real World Cup 2022
matches (martj42 results, features as of 2022-11-20), computes the baselines
("better FIFA rank wins", majority class) and writes build/matches/metrics.json.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		cfg, err := matchesConfig(matchesPaths.pipeline)
		if err != nil {
			return err
		}
		d, err := matchmodel.LoadData(matchesPaths.matches, matchesPaths.lookup, cfg.TestYear)
		if err != nil {
			return err
		}
		ev, err := matchmodel.EvaluateStage(cmd.Context(), cfg, d, matchesPaths.results, matchesPaths.models, matchesPaths.metrics)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(w, "model\tclasses\tacc %d\tbal.acc %d\tlog loss %d\tAUC %d\tacc WC64\tbal.acc WC64\t\n", ev.TestYear, ev.TestYear, ev.TestYear, ev.TestYear)
		for _, v := range ev.Variants {
			fmt.Fprintf(w, "%s\t%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t\n", v.Name, matchmodel.ClassSet(classesOf(v.Holdout.Classes)),
				v.Holdout.Accuracy, v.Holdout.BalancedAccuracy, v.Holdout.LogLoss, v.Holdout.AUC, v.WorldCup.Accuracy, v.WorldCup.BalancedAccuracy)
		}
		for _, set := range []string{"binary", "three-way"} {
			for _, b := range ev.Baselines[set] {
				fmt.Fprintf(w, "%s\t%s\t%.4f\t%.4f\t-\t-\t%.4f\t%.4f\t\n", b.Name, set, b.Holdout.Accuracy, b.Holdout.BalancedAccuracy, b.WorldCup.Accuracy, b.WorldCup.BalancedAccuracy)
			}
		}
		return w.Flush()
	},
}

// classesOf counts classes for ClassSet from a Result's class names.
func classesOf(names []string) []matchwinner.Outcome {
	out := make([]matchwinner.Outcome, len(names))
	for i, n := range names {
		out[i] = matchwinner.Outcome(n)
	}
	return out
}

func init() {
	addMatchesPathFlags(evaluateMatchesCmd, "pipeline", "matches", "lookup", "results", "models", "metrics")
	subcommandGroup("evaluate", "Evaluate trained models").AddCommand(evaluateMatchesCmd)
}
