package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

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

// matchesConfig reads params.matches from the pipeline file.
func matchesConfig(pipelinePath string) (matchmodel.Config, error) {
	return stageConfig[matchmodel.Config](pipelinePath, "matches")
}

var matchesPaths struct {
	pipeline, matches, results, groups, lookup, features, models, metrics string
}

// addMatchesPathFlags adds the input/output flags the match stages share.
func addMatchesPathFlags(c *cobra.Command, which ...string) {
	f := c.Flags()
	for _, w := range which {
		switch w {
		case "pipeline":
			f.StringVar(&matchesPaths.pipeline, "pipeline", "datalab.yaml", "pipeline file whose params.matches configure the stage")
		case "matches":
			f.StringVar(&matchesPaths.matches, "matches", matchmodel.DefaultMatches, "ingested matches (datalab ingest matches)")
		case "results":
			f.StringVar(&matchesPaths.results, "results", matchmodel.DefaultResults, "ingested martj42 results (datalab ingest martj42)")
		case "groups":
			f.StringVar(&matchesPaths.groups, "groups", matchmodel.DefaultGroups, "World Cup 2022 groups CSV (datalab data pull worldcup2022)")
		case "lookup":
			f.StringVar(&matchesPaths.lookup, "lookup", matchmodel.DefaultLookup, "per-team lookup (datalab features matches)")
		case "features":
			f.StringVar(&matchesPaths.features, "features", matchmodel.DefaultFeatures, "feature table Parquet")
		case "models":
			f.StringVar(&matchesPaths.models, "models", matchmodel.DefaultModelsDir, "directory of the model directories, one per variant")
		case "metrics":
			f.StringVar(&matchesPaths.metrics, "metrics", matchmodel.DefaultMetrics, "evaluation JSON")
		}
	}
}

var featuresMatchesCmd = &cobra.Command{
	Use:   "matches",
	Short: "Build the per-team lookup and the feature table of every match",
	Long: `features matches reads build/parquet/matches.parquet and writes
  build/matches/lookup.json      per-team timeline (rank, points, EA squad, Elo, form) and head-to-head
  build/matches/features.parquet every match with all features as of its date, and its result
Features of a match use only results strictly before its date (docs/matches.md).`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		lk, n, err := matchmodel.FeaturesStage(matchesPaths.matches, matchesPaths.lookup, matchesPaths.features)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "matches %d (%s … %s), teams %d, pairs %d\n", n, lk.FirstDate, lk.LastDate, len(lk.Teams), len(lk.H2H))
		return nil
	},
}

var trainMatchesVariants []string

var trainMatchesCmd = &cobra.Command{
	Use:   "matches [--variant v …]",
	Short: "Train the match-winner variants (params.matches in datalab.yaml)",
	Long: `train matches trains each variant of params.matches.variants (or those named by
--variant) on the matches before params.matches.test_year and writes
build/models/matches/<variant>/: spark/ (Spark PipelineModel), lookup.json,
manifest.json. Training is deterministic: the same inputs give the same bytes.`,
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
		ms, err := matchmodel.TrainStage(cmd.Context(), cfg, d, matchesPaths.groups, matchesPaths.models, trainMatchesVariants)
		if err != nil {
			return err
		}
		for _, m := range ms {
			fmt.Fprintf(cmd.OutOrStdout(), "%-6s %d rows, %d features, version %s\n", m.Variant.Name, m.TrainRows, len(m.Columns), m.Version)
		}
		return nil
	},
}

func init() {
	addMatchesPathFlags(featuresMatchesCmd, "matches", "lookup", "features")
	subcommandGroup("features", "Build use-case features from ingested data").AddCommand(featuresMatchesCmd)

	addMatchesPathFlags(trainMatchesCmd, "pipeline", "matches", "lookup", "groups", "models")
	trainMatchesCmd.Flags().StringSliceVar(&trainMatchesVariants, "variant", nil, "train only these variants (repeatable)")
	subcommandGroup("train", "Train models").AddCommand(trainMatchesCmd)
}
