package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/datalabhq/datalab/pipeline/evaluate"
)

// DefaultTolerance is how much worse than the current version a metric
// may be (absolute, in the metric's own units) before the gate refuses.
const DefaultTolerance = 0.005

// GateOptions configure the promotion gate.
type GateOptions struct {
	// Metrics are the metric keys compared; empty means every metric both
	// versions have.
	Metrics []string
	// Tolerance is the allowed regression (absolute); 0 means
	// DefaultTolerance, negative means none at all.
	Tolerance float64
}

// GateRow is one compared metric.
type GateRow struct {
	Key                  string
	Current, Candidate   float64
	Delta                float64 // candidate − current, signed so that > 0 is better
	HigherIsBetter, Fail bool
}

// GateResult is the gate's verdict and the diff it printed.
type GateResult struct {
	Pass    bool
	Summary string
	Rows    []GateRow
}

// Gate compares the candidate's recorded metrics with the current version's.
// It refuses when they were evaluated on different data (the figures are
// not comparable), when the candidate lacks a compared metric, or when any
// compared metric is worse by more than the tolerance.
func Gate(cur, cand Version, o GateOptions) GateResult {
	tol := o.Tolerance
	if tol == 0 {
		tol = DefaultTolerance
	} else if tol < 0 {
		tol = 0
	}
	if cur.EvalData == "" || cur.EvalData != cand.EvalData {
		return GateResult{Summary: fmt.Sprintf("not comparable: the current version %s was evaluated on %s, the candidate %s on %s; evaluate both on the same data",
			Short(cur.ID), orNone(cur.EvalData), Short(cand.ID), orNone(cand.EvalData))}
	}
	keys := o.Metrics
	if len(keys) == 0 {
		for _, m := range cur.Metrics {
			if _, ok := cand.Metric(m.Key); ok {
				keys = append(keys, m.Key)
			}
		}
	}
	if len(keys) == 0 {
		return GateResult{Summary: "not comparable: the two versions share no metric"}
	}
	res := GateResult{Pass: true}
	var failed []string
	for _, k := range keys {
		c, ok1 := cur.Metric(k)
		n, ok2 := cand.Metric(k)
		if !ok1 || !ok2 {
			res.Pass = false
			failed = append(failed, k+" (missing)")
			continue
		}
		d := n.Value - c.Value
		if !c.HigherIsBetter {
			d = -d
		}
		row := GateRow{Key: k, Current: c.Value, Candidate: n.Value, Delta: d, HigherIsBetter: c.HigherIsBetter}
		if math.IsNaN(d) || d < -tol {
			row.Fail = true
			res.Pass = false
			failed = append(failed, k)
		}
		res.Rows = append(res.Rows, row)
	}
	if res.Pass {
		res.Summary = fmt.Sprintf("passed: no metric worse by more than %g", tol)
	} else {
		slices.Sort(failed)
		res.Summary = fmt.Sprintf("refused: worse by more than %g on %s", tol, strings.Join(failed, ", "))
	}
	return res
}

func orNone(s string) string {
	if s == "" {
		return "(unrecorded data)"
	}
	return Short(s)
}

// Text is the verdict with the diff table, as the CLI prints it.
func (g GateResult) Text() string {
	var b strings.Builder
	b.WriteString("gate " + g.Summary)
	if len(g.Rows) > 0 {
		fmt.Fprintf(&b, "\n  %-22s %12s %12s %10s", "metric", "current", "candidate", "better by")
		for _, r := range g.Rows {
			mark := ""
			if r.Fail {
				mark = "  ✗ regression"
			}
			fmt.Fprintf(&b, "\n  %-22s %12.6g %12.6g %+10.4g%s", r.Key, r.Current, r.Candidate, r.Delta, mark)
		}
	}
	return b.String()
}

// Metrics converts an evaluation's headline metrics (evaluate.Result) to
// registry metrics, leaving out the undefined ones (an AUC with one class).
func Metrics(res *evaluate.Result) []Metric {
	var out []Metric
	for _, m := range res.Metrics() {
		if evaluate.Defined(m.Value) {
			out = append(out, Metric{Key: m.Key, Value: m.Value, HigherIsBetter: m.HigherIsBetter})
		}
	}
	return out
}

// EvalDataID names evaluation data by what decides its rows (data set
// oids, split parameters, row counts): versions evaluated on equal ids
// are comparable.
func EvalDataID(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%v\x00", p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SelectOids keeps the data oids of the named catalog data sets: keys
// "<set>/<file>" (stagerun.PointerOids) or paths ".../pointers/<set>/<file>"
// (run records' datasets), normalised to "<set>/<file>" → hex digest.
func SelectOids(oids map[string]string, sets ...string) map[string]string {
	out := map[string]string{}
	for k, v := range oids {
		rest := k
		if _, after, ok := strings.Cut(k, "pointers/"); ok {
			rest = after
		}
		set, _, _ := strings.Cut(rest, "/")
		if slices.Contains(sets, set) {
			// Both sources name the same file and digest alike.
			out[strings.TrimSuffix(rest, ".pointer")] = strings.TrimPrefix(v, "sha256:")
		}
	}
	return out
}
