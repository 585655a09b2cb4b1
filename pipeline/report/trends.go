package report

import (
	"fmt"
	"html/template"
	"maps"
	"slices"
	"time"

	"github.com/datalabhq/datalab/pipeline/evaluate"
)

// KindTrend is the history of one report kind's headline metrics, one
// MetricTrend per metric any of its runs reported.
type KindTrend struct {
	Kind    string
	Runs    int // runs with a report of this kind
	Metrics []MetricTrend
}

// MetricTrend is one headline metric over the runs of a kind, oldest
// first. Index is the run's position among the kind's runs (0 = oldest), so
// a run without the metric leaves a gap.
type MetricTrend struct {
	Key, Label string
	Points     []TrendPoint
}

// TrendPoint is one run's value of a metric.
type TrendPoint struct {
	Index int
	RunID string
	Time  *time.Time
	Value float64
	Href  string // the run's report, relative to the reports directory
	Note  string // experiment and overrides, for the tooltip
}

// trends builds the trend of every headline metric of every report kind
// that has at least two runs, kinds by name, metrics in evaluate's order
// (accuracy, …, AUC) and then the others by key.
func trends(runs []RunEntry) []KindTrend {
	byKind := kindRuns(runs)
	var out []KindTrend
	for _, kind := range slices.Sorted(maps.Keys(byKind)) {
		kr := byKind[kind]
		if len(kr) < 2 {
			continue
		}
		kt := KindTrend{Kind: kind, Runs: len(kr)}
		present := map[string]bool{}
		for _, r := range kr {
			for k := range r.Report(kind).Metrics {
				present[k] = true
			}
		}
		for _, key := range metricOrder(present) {
			mt := MetricTrend{Key: key, Label: metricLabel(key)}
			for i, r := range kr {
				e := r.Report(kind)
				v, ok := e.Metrics[key]
				if !ok || (isHeadlineKey(key) && !evaluate.Defined(v)) {
					continue
				}
				mt.Points = append(mt.Points, TrendPoint{Index: i, RunID: r.ID, Time: r.Time(), Value: v, Href: e.Href, Note: runNote(r)})
			}
			kt.Metrics = append(kt.Metrics, mt)
		}
		out = append(out, kt)
	}
	return out
}

// metricOrder lists keys: evaluate's headline metrics in their order, then
// the rest sorted.
func metricOrder(keys map[string]bool) []string {
	var out []string
	for _, m := range (&evaluate.Result{}).Metrics() {
		if keys[m.Key] {
			out = append(out, m.Key)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if !isHeadlineKey(k) {
			out = append(out, k)
		}
	}
	return out
}

func isHeadlineKey(key string) bool {
	for _, m := range (&evaluate.Result{}).Metrics() {
		if m.Key == key {
			return true
		}
	}
	return false
}

// metricLabel is evaluate's label of a headline metric, else the key.
func metricLabel(key string) string {
	for _, m := range (&evaluate.Result{}).Metrics() {
		if m.Key == key {
			return m.Label
		}
	}
	return key
}

// runNote says which experiment and overrides a run had, for tooltips.
func runNote(r RunEntry) string {
	if r.Record == nil {
		return ""
	}
	note := ""
	if r.Record.Experiment != "" {
		note = "experiment " + r.Record.Experiment
	}
	if ov := overridesText(r.Record.Overrides); ov != "" {
		if note != "" {
			note += "; "
		}
		note += ov
	}
	return note
}

// runTimeLabel is a short time for axis labels and tables.
func runTimeLabel(t *time.Time, layout string) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(layout)
}

// Chart draws the trend: one point per run (a link to that run's report,
// with the run, time and value as tooltip), runs oldest to newest from the
// left, labelled with their start times.
func (mt MetricTrend) Chart(kind string, runs int) template.HTML {
	lo, hi := 0.0, 0.0
	for i, p := range mt.Points {
		if i == 0 || p.Value < lo {
			lo = p.Value
		}
		if i == 0 || p.Value > hi {
			hi = p.Value
		}
	}
	ymin, ymax := paddedRange(lo, hi)
	pts := make([]chartPoint, len(mt.Points))
	for i, p := range mt.Points {
		title := fmt.Sprintf("%s = %s\nrun %s", mt.Label, formatMetric(p.Value), p.RunID)
		if p.Time != nil {
			title += "\n" + runTimeLabel(p.Time, time.RFC3339)
		}
		if p.Note != "" {
			title += "\n" + p.Note
		}
		pts[i] = chartPoint{X: float64(p.Index), Y: p.Value, Title: title, Href: p.Href}
	}
	return lineChart{
		Label: fmt.Sprintf("%s of %s over %d runs", mt.Label, kind, runs),
		Width: 240, Height: 130,
		XLabel: "runs, oldest → newest", YLabel: mt.Label,
		X:      axis{Min: -0.5, Max: float64(runs) - 0.5, Ticks: runTicks(mt.Points, runs)},
		Y:      axis{Min: ymin, Max: ymax},
		Series: []chartSeries{{Color: seriesColor(0), Line: true, Markers: true, Points: pts}},
	}.SVG()
}

// runTicks labels up to three runs along the x axis — the oldest, the
// newest and evenly spaced ones between — with their start time (or run id
// when the time is unknown).
func runTicks(points []TrendPoint, runs int) []tick {
	byIndex := map[int]TrendPoint{}
	for _, p := range points {
		byIndex[p.Index] = p
	}
	const maxLabels = 3 // more overlap at this width
	n := min(runs, maxLabels)
	var ticks []tick
	last := -1
	for k := range n {
		i := 0
		if n > 1 {
			i = k * (runs - 1) / (n - 1)
		}
		if i == last {
			continue
		}
		last = i
		label := fmt.Sprintf("#%d", i+1)
		if p, ok := byIndex[i]; ok {
			label = runTimeLabel(p.Time, "Jan 2 15:04")
			if label == "" {
				label = p.RunID
			}
		}
		ticks = append(ticks, tick{At: float64(i), Label: label})
	}
	return ticks
}
