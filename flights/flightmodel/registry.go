package flightmodel

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/datalabhq/datalab/pipeline/evaluate"
)

// RegistryRecord is what the model registry records about a variant from
// metrics.json: its held-out result, what identifies the held-out rows (the
// data set, the split's fraction and seed, row and class counts) and the
// catalog data sets they come from (whose oids the caller adds), so the
// promotion gate compares only models scored on the same rows —
// Go-trained or Spark-trained alike.
func (ev *Evaluation) RegistryRecord(variant string) (*evaluate.Result, []any, []string, error) {
	for _, v := range ev.Variants {
		if v.Name != variant {
			continue
		}
		if v.Holdout == nil {
			return nil, nil, nil, fmt.Errorf("metrics for variant %s have no held-out result", variant)
		}
		data := strings.TrimSuffix(filepath.Base(v.Data), ".parquet")
		parts := []any{"flights", ev.Schema, data, ev.TestFraction, ev.SplitSeed, v.TestRows, v.TestClassCounts, ev.Classes}
		return v.Holdout, parts, []string{data, "distances"}, nil
	}
	return nil, nil, nil, fmt.Errorf("metrics.json has no variant %q (evaluate it first: datalab run, or datalab evaluate flights)", variant)
}
