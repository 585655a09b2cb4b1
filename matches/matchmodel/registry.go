package matchmodel

import (
	"fmt"

	"github.com/datalabhq/datalab/pipeline/evaluate"
)

// DataSets are the catalog data sets a match model is trained from (the
// match table, martj42's results for the World Cup teams' check, the 2022
// groups): the lineage the registry records.
var DataSets = []string{"matches", "martj42", "worldcup2022"}

// EvalDataSets are the catalog data sets the evaluation reads (the match
// table and martj42's results).
var EvalDataSets = []string{"matches", "martj42"}

// RegistryRecord is what the model registry records about a variant from
// metrics.json: its test-year result, and what identifies the test data
// (schema, test year, rows and outcome counts, the class set) — to which
// the caller adds the oids of EvalDataSets — so the promotion gate
// compares only variants scored on the same matches.
func (ev *Evaluation) RegistryRecord(variant string) (*evaluate.Result, []any, error) {
	for _, v := range ev.Variants {
		if v.Name != variant {
			continue
		}
		if v.Holdout == nil {
			return nil, nil, fmt.Errorf("metrics for variant %s have no test-year result", variant)
		}
		return v.Holdout, []any{"matches", ev.Schema, ev.TestYear, ev.TestRows, ev.HoldoutClassCounts, v.Holdout.Classes}, nil
	}
	return nil, nil, fmt.Errorf("metrics.json has no variant %q (evaluate it first: datalab run, or datalab evaluate matches)", variant)
}
