package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/flights/flightmodel"
	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// What `datalab up` serves and which pipeline stages it runs for that: the
// models the pipeline trains (not a Spark fixture `make run` never pulls),
// and only the stages producing them — never the notebooks or reports, so a
// missing notebook kernel cannot keep the apps down.

// trainedFlightModelByDefault makes up's --model default to the flight model
// the pipeline trains (resolved at run time by upFlightModel) instead of the
// Spark 3.3.3 fixture the separate flight commands default to; the fixtures
// stay available with --model or DATALAB_FLIGHT_MODEL.
func trainedFlightModelByDefault(cmd *cobra.Command, model *string) {
	fl := cmd.Flags().Lookup("model")
	fl.DefValue = ""
	fl.Usage = "flight model directory, Spark format (env DATALAB_FLIGHT_MODEL; default build/models/flights/<params.flights.serve_variant>, the model the pipeline trains; " +
		"a Spark fixture after `datalab data pull spark-flight-delay-3.3.3`: --model data/spark-flight-delay-3.3.3)"
	*model = os.Getenv("DATALAB_FLIGHT_MODEL")
}

// upFlightModel is the flight model up serves: flag when given, else
// build/models/flights/<params.flights.serve_variant> of the pipeline file.
func upFlightModel(flag, pipelineFile string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	cfg, err := flightsConfig(pipelineFile)
	if err != nil {
		return "", fmt.Errorf("no --model given and the served flight variant is unknown: %w", err)
	}
	if cfg.ServeVariant == "" {
		return "", fmt.Errorf("no --model given and %s sets no params.flights.serve_variant", pipelineFile)
	}
	return filepath.Join(flightmodel.DefaultModelsDir, cfg.ServeVariant), nil
}

// upMatchModel is the match model up's match app serves (as `datalab
// serve` resolves it): build/models/matches/<params.matches.serve_variant>.
func upMatchModel(pipelineFile string) (string, error) {
	cfg, err := matchesConfig(pipelineFile)
	if err != nil {
		return "", err
	}
	return filepath.Join(matchmodel.DefaultModelsDir, cfg.ServeVariant), nil
}

// upTargets names the stages of p producing the given model directories
// (absolute, or relative to the working directory), in execution order. A
// model no stage produces — a Spark fixture, a directory elsewhere — adds
// none, so serving only such models runs no stage at all.
func upTargets(p *stagerun.Pipeline, models []string) []string {
	want := map[string]bool{}
	for _, m := range models {
		abs, err := filepath.Abs(m)
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(p.Root, abs)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		names, err := p.Producers([]string{rel})
		if err != nil {
			continue
		}
		for _, n := range names {
			want[n] = true
		}
	}
	var targets []string
	for _, n := range p.Names() {
		if want[n] {
			targets = append(targets, n)
		}
	}
	return slices.Clip(targets)
}
