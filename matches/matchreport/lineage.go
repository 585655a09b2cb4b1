package matchreport

import (
	"sort"
	"strings"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// MatchParams returns the params.matches leaves of a pipeline, by dotted key.
func MatchParams(p *stagerun.Pipeline) map[string]any {
	out := map[string]any{}
	flat := p.FlatParams()
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, "matches.") {
			out[k] = flat[k]
		}
	}
	return out
}
