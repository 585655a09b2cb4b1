package rundiff

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// What a gate rule compares.
const (
	OnChange   = "change"   // HEAD − BASE
	OnRelative = "relative" // (HEAD − BASE) / |BASE|, written in percent
	OnValue    = "value"    // HEAD itself
)

// Rule is one regression-gate rule: the head run fails the gate when the
// rule's comparison holds. The grammar (docs/experiments.md):
//
//	rule    = metric [".value"] op number ["%"]
//	op      = "<" | "<=" | ">" | ">="
//	metric  = a metric key; "*" matches any run of characters (dots too)
//
// "M < -0.005" fails when HEAD − BASE of M is below −0.005; "M > 2%" fails
// when M grew by more than 2 % of BASE; "M.value < 0.55" fails when HEAD's M
// is below 0.55. A metric with "*" is a glob: every metric it matches is
// checked on its own.
type Rule struct {
	Metric    string  `json:"metric"`
	On        string  `json:"on"` // OnChange, OnRelative or OnValue
	Op        string  `json:"op"`
	Threshold float64 `json:"threshold"` // in percent for OnRelative
}

// numberRE is a plain decimal number: no hex, no NaN, no Inf, no '_'.
var numberRE = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

const ruleForm = `want METRIC OP NUMBER (change HEAD − BASE), METRIC OP NUMBER% (relative change) or METRIC.value OP NUMBER (HEAD's value), OP one of < <= > >=, e.g. 'matches.served.holdout.accuracy < -0.005'`

// ParseRule parses a rule such as "matches.served.holdout.accuracy < -0.005".
// Spaces around the operator are optional.
func ParseRule(s string) (Rule, error) {
	bad := func(why string) (Rule, error) {
		return Rule{}, fmt.Errorf("gate rule %q: %s; %s", s, why, ruleForm)
	}
	i := strings.IndexAny(s, "<>")
	if i < 0 {
		if strings.Contains(s, "=") {
			return bad("= and == are not operators (a metric rarely stays exactly equal)")
		}
		return bad("no comparison operator")
	}
	op := s[i : i+1]
	rest := s[i+1:]
	if strings.HasPrefix(rest, "=") {
		op += "="
		rest = rest[1:]
	}
	metric := strings.TrimSpace(s[:i])
	num := strings.TrimSpace(rest)
	if metric == "" {
		return bad("no metric before " + op)
	}
	if strings.ContainsAny(metric, " \t\n\r<>=!%") {
		return bad(fmt.Sprintf("%q is not a metric key (no spaces or <>=!%% in it)", metric))
	}
	if strings.HasPrefix(metric, ".") || strings.HasSuffix(metric, ".") || strings.Contains(metric, "..") {
		return bad(fmt.Sprintf("%q has an empty segment between dots", metric))
	}
	r := Rule{Metric: metric, On: OnChange, Op: op}
	if m, ok := strings.CutSuffix(metric, ".value"); ok && m != "" {
		r.Metric, r.On = m, OnValue
	}
	if n, ok := strings.CutSuffix(num, "%"); ok {
		if r.On == OnValue {
			return bad(".value compares the head's value, so it takes a plain number, not a percentage")
		}
		r.On, num = OnRelative, strings.TrimSpace(n)
	}
	if num == "" {
		return bad("no number after " + op)
	}
	if !numberRE.MatchString(num) {
		return bad(fmt.Sprintf("%q is not a number", num))
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(v, 0) {
		return bad(fmt.Sprintf("%q is not a finite number", num))
	}
	r.Threshold = v
	return r, nil
}

// String writes the rule in canonical form; ParseRule reads it back.
func (r Rule) String() string {
	m := r.Metric
	if r.On == OnValue {
		m += ".value"
	}
	n := strconv.FormatFloat(r.Threshold, 'g', -1, 64)
	if r.On == OnRelative {
		n += "%"
	}
	return m + " " + r.Op + " " + n
}

// holds reports whether x OP threshold.
func (r Rule) holds(x float64) bool {
	switch r.Op {
	case "<":
		return x < r.Threshold
	case "<=":
		return x <= r.Threshold
	case ">":
		return x > r.Threshold
	case ">=":
		return x >= r.Threshold
	}
	return false
}

// RuleResult is the outcome of one rule on one metric. Err is set when the
// rule could not be evaluated (unknown metric, metric missing on one side,
// relative change of a zero base): an error, never a pass.
type RuleResult struct {
	Rule   string  `json:"rule"`
	Metric string  `json:"metric"`
	Base   float64 `json:"base"`
	Head   float64 `json:"head"`
	Abs    float64 `json:"abs"`
	Rel    float64 `json:"rel"`
	HasRel bool    `json:"has_rel"`
	Failed bool    `json:"failed"`
	Err    string  `json:"error,omitempty"`
}

// GateReport is the outcome of every rule, in rule order and, for a glob,
// metric order.
type GateReport struct {
	Results []RuleResult `json:"results"`
}

// Failed returns the results whose rule held (the head regressed).
func (g GateReport) Failed() []RuleResult {
	return g.filter(func(r RuleResult) bool { return r.Failed })
}

// Errors returns the results whose rule could not be evaluated.
func (g GateReport) Errors() []RuleResult {
	return g.filter(func(r RuleResult) bool { return r.Err != "" })
}

// Passed returns the results whose rule did not hold.
func (g GateReport) Passed() []RuleResult {
	return g.filter(func(r RuleResult) bool { return !r.Failed && r.Err == "" })
}

func (g GateReport) filter(keep func(RuleResult) bool) []RuleResult {
	var out []RuleResult
	for _, r := range g.Results {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// ErrGateFailed is wrapped by GateReport.Err when a rule held.
var ErrGateFailed = errors.New("gate failed")

// ErrGateRule is wrapped by GateReport.Err when a rule could not be
// evaluated; it wins over ErrGateFailed.
var ErrGateRule = errors.New("gate rule cannot be evaluated")

// Err is nil when every rule passed, an error wrapping ErrGateRule when a
// rule could not be evaluated, else one wrapping ErrGateFailed; the message
// names each rule concerned.
func (g GateReport) Err() error {
	if errs := g.Errors(); len(errs) > 0 {
		var lines []string
		for _, r := range errs {
			lines = append(lines, r.Rule+": "+r.Err)
		}
		return fmt.Errorf("%w: %s", ErrGateRule, strings.Join(lines, "; "))
	}
	if failed := g.Failed(); len(failed) > 0 {
		var lines []string
		for _, r := range failed {
			lines = append(lines, r.Line())
		}
		return fmt.Errorf("%w: %d of %d checks: %s", ErrGateFailed, len(failed), len(g.Results), strings.Join(lines, "; "))
	}
	return nil
}

// Line describes the result in one line with its numbers.
func (r RuleResult) Line() string {
	if r.Err != "" {
		return fmt.Sprintf("%s: %s", r.Rule, r.Err)
	}
	s := fmt.Sprintf("%s: %s base %s, head %s, change %s", r.Rule, r.Metric, FormatNumber(r.Base), FormatNumber(r.Head), FormatChange(r.Abs))
	if r.HasRel {
		s += " (" + FormatPercent(r.Rel) + ")"
	}
	return s
}

// Check evaluates the rules against the diff's metrics.
func (d Diff) Check(rules []Rule) GateReport {
	var g GateReport
	for _, rule := range rules {
		text := rule.String()
		keys := d.matchMetrics(rule.Metric)
		if len(keys) == 0 {
			what := "unknown metric " + rule.Metric + ": neither run has it"
			if strings.Contains(rule.Metric, "*") {
				what = "the glob " + rule.Metric + " matches no metric of either run"
			}
			if near := d.nearMetrics(rule.Metric); len(near) > 0 {
				what += "; did you mean " + strings.Join(near, ", ") + "?"
			} else {
				what += " (datalab runs show ID lists a run's metrics)"
			}
			g.Results = append(g.Results, RuleResult{Rule: text, Metric: rule.Metric, Err: what})
			continue
		}
		for _, k := range keys {
			m, _ := d.Metric(k)
			res := RuleResult{Rule: text, Metric: k, Base: m.Old, Head: m.New, Abs: m.Abs, Rel: m.Rel, HasRel: m.HasRel}
			switch {
			case !m.HasNew:
				res.Err = fmt.Sprintf("%s is missing in the head run %s (only the base run has it)", k, d.B.ID)
			case rule.On == OnValue:
				res.Failed = rule.holds(m.New)
			case !m.HasOld:
				res.Err = fmt.Sprintf("%s is missing in the base run %s (only the head run has it); gate its value with %s.value instead", k, d.A.ID, k)
			case rule.On == OnRelative && !m.HasRel:
				res.Err = fmt.Sprintf("the relative change of %s is undefined: its base value is 0; use an absolute rule", k)
			case rule.On == OnRelative:
				res.Failed = rule.holds(100 * m.Rel)
			default:
				res.Failed = rule.holds(m.Abs)
			}
			g.Results = append(g.Results, res)
		}
	}
	return g
}

// matchMetrics returns the metric keys of either run that the pattern
// names, sorted.
func (d Diff) matchMetrics(pattern string) []string {
	var keys []string
	for _, m := range d.Metrics {
		if MatchGlob(pattern, m.Key) {
			keys = append(keys, m.Key)
		}
	}
	return keys
}

// nearMetrics suggests up to 5 keys for a pattern that matched nothing:
// those ending like it (same last segment), else those starting like it.
func (d Diff) nearMetrics(pattern string) []string {
	if !strings.Contains(pattern, "*") {
		keys := make([]string, len(d.Metrics))
		for i, m := range d.Metrics {
			keys[i] = m.Key
		}
		if near := stagerun.ClosestKeys(pattern, keys, 5); len(near) > 0 {
			return near
		}
	}
	last := pattern[strings.LastIndexByte(pattern, '.')+1:]
	first, _, _ := strings.Cut(pattern, ".")
	var near []string
	for _, try := range []func(string) bool{
		func(k string) bool { return !strings.Contains(last, "*") && strings.HasSuffix(k, "."+last) },
		func(k string) bool { return !strings.Contains(first, "*") && strings.HasPrefix(k, first+".") },
	} {
		for _, m := range d.Metrics {
			if try(m.Key) && len(near) < 5 {
				near = append(near, m.Key)
			}
		}
		if len(near) > 0 {
			return near
		}
	}
	return nil
}

// MatchGlob reports whether key matches pattern, where "*" stands for any
// run of characters, dots included, and every other character for itself.
func MatchGlob(pattern, key string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == key
	}
	if !strings.HasPrefix(key, parts[0]) {
		return false
	}
	key = key[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(key, p)
		if i < 0 {
			return false
		}
		key = key[i+len(p):]
	}
	return len(key) >= len(last) && strings.HasSuffix(key, last)
}
