package rundiff

import (
	"maps"
	"slices"
	"strings"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// headlineCount is how many headline metrics a run list row or a diff's
// summary shows.
const headlineCount = 3

// HeadlineKeys picks up to n metric keys that summarise a run: for each
// use case (the first segment of the metric keys, sorted), the served
// model's hold-out accuracy — "<case>.served.holdout.accuracy", else
// "<case>.variants.<V>.holdout.accuracy" where V is the run's
// "<case>.serve_variant" param. A run with neither falls back to its keys
// ending in ".accuracy", then to its first keys.
func HeadlineKeys(rec *stagerun.RunRecord, n int) []string {
	if n <= 0 || len(rec.Metrics) == 0 {
		return nil
	}
	keys := slices.Sorted(maps.Keys(rec.Metrics))
	var cases []string
	for _, k := range keys {
		c, _, _ := strings.Cut(k, ".")
		if !slices.Contains(cases, c) {
			cases = append(cases, c)
		}
	}
	var out []string
	for _, c := range cases {
		candidates := []string{c + ".served.holdout.accuracy"}
		if v, ok := rec.Params[c+".serve_variant"].(string); ok {
			candidates = append(candidates, c+".variants."+v+".holdout.accuracy")
		}
		for _, k := range candidates {
			if _, ok := rec.Metrics[k]; ok {
				out = append(out, k)
				break
			}
		}
	}
	if len(out) == 0 {
		for _, k := range keys {
			if strings.HasSuffix(k, ".accuracy") {
				out = append(out, k)
			}
		}
	}
	if len(out) == 0 {
		out = keys
	}
	return out[:min(n, len(out))]
}

// headlineOfBoth is the head's headline metrics, then the base's not among
// them, at most headlineCount.
func headlineOfBoth(a, b *stagerun.RunRecord) []string {
	out := HeadlineKeys(b, headlineCount)
	for _, k := range HeadlineKeys(a, headlineCount) {
		if len(out) < headlineCount && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
