package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/matches/matchwinner"
)

var evaluateMatchesCmd = &cobra.Command{
	Use:   "matches",
	Short: "Score the match-winner variants and baselines on the test year and the 2022 World Cup",
	Long: `evaluate matches loads every variant's model directory (as the web app does),
scores the matches of params.matches.test_year and the 64 real World Cup 2022
matches (martj42 results, features as of 2022-11-20), computes the baselines
("better FIFA rank wins", an Elo ordered logit fitted on the training years,
majority class) and writes build/matches/metrics.json, with a "served" block
for params.matches.serve_variant: its metrics as three-way and as home win vs
not, and its checks against the rank rule and the Elo logit. RPS is the ranked
probability score (lower is better).`,
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
		fmt.Fprintf(w, "model\tclasses\tacc %d\tbal.acc %d\tlog loss %d\tRPS %d\tAUC %d\tacc WC64\tRPS WC64\t\n", ev.TestYear, ev.TestYear, ev.TestYear, ev.TestYear, ev.TestYear)
		for _, v := range ev.Variants {
			fmt.Fprintf(w, "%s\t%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t\n", v.Name, matchmodel.ClassSet(classesOf(v.Holdout.Classes)),
				v.Holdout.Accuracy, v.Holdout.BalancedAccuracy, v.Holdout.LogLoss, v.Holdout.RPS, v.Holdout.AUC, v.WorldCup.Accuracy, v.WorldCup.RPS)
		}
		for _, set := range []string{"binary", "three-way"} {
			for _, b := range ev.Baselines[set] {
				// Rules without probabilities are scored as one-hot
				// forecasts: their log loss and AUC say nothing.
				ll, auc := "-", "-"
				if b.Name == matchmodel.EloLogitName {
					ll, auc = fmt.Sprintf("%.4f", b.Holdout.LogLoss), fmt.Sprintf("%.4f", b.Holdout.AUC)
				}
				fmt.Fprintf(w, "%s\t%s\t%.4f\t%.4f\t%s\t%.4f\t%s\t%.4f\t%.4f\t\n", b.Name, set, b.Holdout.Accuracy, b.Holdout.BalancedAccuracy, ll, b.Holdout.RPS, auc, b.WorldCup.Accuracy, b.WorldCup.RPS)
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if sv := ev.Served; sv != nil {
			failed := 0
			for _, c := range sv.Checks {
				if !c.Pass {
					failed++
					fmt.Fprintf(cmd.OutOrStdout(), "served %s misses the target: %s %s %s %.4f vs %s %.4f\n", sv.Variant, c.Set, c.Classes, c.Metric, c.Served, c.Baseline, c.Value)
				}
			}
			if failed == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "served %s beats %s on the %d hold-out and does not lose on the World Cup (%d checks)\n",
					sv.Variant, strings.Join(matchmodel.ServedBaselines, " and "), ev.TestYear, len(sv.Checks))
			}
		}
		return nil
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
