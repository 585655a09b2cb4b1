package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// TestUpServesWhatThePipelineTrains is issue 12 finding 14: after `make
// run`, `datalab up` must serve the flight model the pipeline trained
// (build/models/flights/<params.flights.serve_variant>), not a Spark
// fixture `make run` never pulls; the fixtures stay reachable with --model.
func TestUpServesWhatThePipelineTrains(t *testing.T) {
	if def := upCmd.Flags().Lookup("model").DefValue; def != "" {
		t.Errorf("up --model defaults to %q, want empty (the trained serve_variant)", def)
	}
	pipelineFile := filepath.Join(testmirror.RepoRoot(), "datalab.yaml")
	got, err := upFlightModel("", pipelineFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("build", "models", "flights", "bts"); got != want {
		t.Errorf("up serves %s, want %s", got, want)
	}
	if got, _ := upFlightModel("data/spark-flight-delay-3.3.3", pipelineFile); got != "data/spark-flight-delay-3.3.3" {
		t.Errorf("--model data/spark-flight-delay-3.3.3 gave %s", got)
	}
}

// TestUpRunsOnlyWhatTheServicesNeed: up brings only the served models up to
// date (their training and upstream stages), never the notebooks, reports
// or evaluations, so a missing notebook kernel cannot keep the apps down.
func TestUpRunsOnlyWhatTheServicesNeed(t *testing.T) {
	p, err := stagerun.Load(filepath.Join(testmirror.RepoRoot(), "datalab.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		models  []string
		targets []string
	}{
		{"both apps", []string{"build/models/matches/form3", "build/models/flights/bts"}, []string{"train-matches", "train-flights"}},
		{"a flight model no stage makes", []string{"build/models/matches/form3", "data/spark-flight-delay-3.3.3"}, []string{"train-matches"}},
		{"nothing the pipeline makes", []string{"data/spark-flight-delay-3.3.3"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var models []string
			for _, m := range tc.models {
				models = append(models, filepath.Join(p.Root, m))
			}
			targets := upTargets(p, models)
			if !slices.Equal(targets, tc.targets) {
				t.Fatalf("targets = %v, want %v", targets, tc.targets)
			}
			if len(targets) == 0 {
				return
			}
			sel, err := p.Select(targets)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range sel {
				if s.Name == "notebooks" || s.Name == "report-matches" || s.Name == "report-flights" || s.Name == "evaluate-flights" {
					t.Errorf("up would run %s", s.Name)
				}
			}
		})
	}
}
