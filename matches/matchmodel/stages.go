package matchmodel

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/datalabhq/datalab/matches/matchfeat"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// Default paths of the match stages, relative to the repository root.
const (
	DefaultMatches   = "build/parquet/matches.parquet"
	DefaultResults   = "build/parquet/martj42.parquet"
	DefaultGroups    = "data/worldcup2022/2022_world_cup_groups.csv"
	DefaultLookup    = "build/matches/lookup.json"
	DefaultFeatures  = "build/matches/features.parquet"
	DefaultModelsDir = "build/models/matches"
	DefaultMetrics   = "build/matches/metrics.json"
)

// FeaturesStage is `datalab features matches`: it builds the lookup from the
// ingested matches and writes it with the feature table of every match.
func FeaturesStage(matchesPath, lookupPath, featuresPath string) (*matchfeat.Lookup, int, error) {
	matches, err := ingest.ReadMatches(matchesPath)
	if err != nil {
		return nil, 0, err
	}
	lk, err := matchfeat.BuildLookup(matches)
	if err != nil {
		return nil, 0, err
	}
	rows, err := matchfeat.TrainingRows(lk, matches)
	if err != nil {
		return nil, 0, err
	}
	if err := matchfeat.WriteLookup(lookupPath, lk); err != nil {
		return nil, 0, err
	}
	if err := matchfeat.WriteFeatures(featuresPath, rows); err != nil {
		return nil, 0, err
	}
	return lk, len(rows), nil
}

// LoadData reads the ingested matches and the lookup and splits them.
func LoadData(matchesPath, lookupPath string, testYear int) (*Data, error) {
	matches, err := ingest.ReadMatches(matchesPath)
	if err != nil {
		return nil, err
	}
	lk, err := matchfeat.ReadLookup(lookupPath)
	if err != nil {
		return nil, err
	}
	if lk.Matches != len(matches) {
		return nil, fmt.Errorf("%s was built from %d matches, %s has %d: rerun `datalab features matches`", lookupPath, lk.Matches, matchesPath, len(matches))
	}
	return NewData(matches, lk, testYear)
}

// TrainStage is `datalab train matches`: it trains every variant of cfg (or
// only the named ones) and saves each to modelsDir/<variant>.
func TrainStage(ctx context.Context, cfg Config, d *Data, groupsPath, modelsDir string, only []string) ([]*Manifest, error) {
	wcTeams, err := ReadWorldCupTeams(groupsPath, d.Lookup)
	if err != nil {
		return nil, err
	}
	names := cfg.Variants
	if len(only) > 0 {
		names = only
	} else if !slices.Contains(names, cfg.ServeVariant) {
		names = append(slices.Clone(names), cfg.ServeVariant)
	}
	var out []*Manifest
	for _, name := range names {
		fc, err := cfg.Forest(name)
		if err != nil {
			return nil, err
		}
		var rule *DecisionRule
		var val *Validation
		if cfg.ValidationYear > 0 {
			if rule, val, err = ValidateVariant(ctx, d, name, fc, cfg.ValidationYear, cfg.MaxDrawMargin); err != nil {
				return nil, fmt.Errorf("variant %s: %w", name, err)
			}
			slog.Info("validated match model", "variant", name, "year", val.Year, "accuracy", val.Metrics["accuracy"], "rps", val.Metrics["rps"],
				"draw_margin", rule.DrawMarginOrZero(), "draws_predicted", val.DrawsPredicted, "draws_actual", val.DrawsActual)
		}
		t, err := Train(ctx, d, name, fc)
		if err != nil {
			return nil, err
		}
		t.Decision, t.Validation = rule, val
		m, err := Save(filepath.Join(modelsDir, name), t, d.Lookup, wcTeams)
		if err != nil {
			return nil, fmt.Errorf("save variant %s: %w", name, err)
		}
		slog.Info("trained match model", "variant", name, "rows", t.TrainRows, "nodes", t.Model.NumNodes(), "version", m.Version)
		out = append(out, m)
	}
	return out, nil
}

// EvaluateStage is `datalab evaluate matches`: it loads each variant's saved
// model, scores it on the test year and the World Cup, and writes the
// evaluation to metricsPath.
func EvaluateStage(ctx context.Context, cfg Config, d *Data, resultsPath, modelsDir, metricsPath string) (*Evaluation, error) {
	results, err := ingest.ReadResults(resultsPath)
	if err != nil {
		return nil, err
	}
	wc, err := WorldCupMatches(results, d.Lookup)
	if err != nil {
		return nil, err
	}
	var models []*Model
	names := cfg.Variants
	if !slices.Contains(names, cfg.ServeVariant) {
		names = append(slices.Clone(names), cfg.ServeVariant)
	}
	for _, name := range names {
		m, err := Load(filepath.Join(modelsDir, name))
		if err != nil {
			return nil, err
		}
		models = append(models, m)
	}
	ev, err := Evaluate(ctx, models, d, wc)
	if err != nil {
		return nil, err
	}
	if ev.Served, err = ServedEvaluation(ev, cfg.ServeVariant); err != nil {
		return nil, err
	}
	if err := evaluate.WriteJSON(metricsPath, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// ReadEvaluation reads metrics.json written by EvaluateStage.
func ReadEvaluation(path string) (*Evaluation, error) {
	var ev Evaluation
	if err := readJSON(path, &ev); err != nil {
		return nil, fmt.Errorf("%w (run `datalab evaluate matches` first)", err)
	}
	if ev.Schema != EvaluationSchema {
		return nil, fmt.Errorf("%s: schema %q, want %q", path, ev.Schema, EvaluationSchema)
	}
	return &ev, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
