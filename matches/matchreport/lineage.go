package matchreport

import (
	"github.com/datalabhq/datalab/pipeline/report"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// MatchParams returns the params.matches leaves of a pipeline, by dotted key.
func MatchParams(p *stagerun.Pipeline) map[string]any {
	return report.UseCaseParams(p, "matches")
}
