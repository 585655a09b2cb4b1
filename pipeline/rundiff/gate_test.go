package rundiff

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseRule(t *testing.T) {
	valid := []struct {
		in   string
		want Rule
	}{
		{"matches.served.holdout.accuracy < -0.005", Rule{"matches.served.holdout.accuracy", OnChange, "<", -0.005}},
		{"matches.served.holdout.accuracy<-0.005", Rule{"matches.served.holdout.accuracy", OnChange, "<", -0.005}},
		{"  x.log_loss >= +.02 ", Rule{"x.log_loss", OnChange, ">=", 0.02}},
		{"x.log_loss > 2%", Rule{"x.log_loss", OnRelative, ">", 2}},
		{"x.accuracy <= -1.5 %", Rule{"x.accuracy", OnRelative, "<=", -1.5}},
		{"matches.served.holdout.accuracy.value < 0.55", Rule{"matches.served.holdout.accuracy", OnValue, "<", 0.55}},
		{"flights.variants.*.holdout.accuracy < -1e-2", Rule{"flights.variants.*.holdout.accuracy", OnChange, "<", -0.01}},
		{"value < 1", Rule{"value", OnChange, "<", 1}},
		{"*.auc.value <= 0.5", Rule{"*.auc", OnValue, "<=", 0.5}},
	}
	for _, tt := range valid {
		got, err := ParseRule(tt.in)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseRule(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		back, err := ParseRule(got.String())
		if err != nil || back != got {
			t.Errorf("ParseRule(%q.String() = %q) = %+v, %v", tt.in, got.String(), back, err)
		}
	}
	malformed := []struct{ in, why string }{
		{"", "no comparison operator"},
		{"accuracy", "no comparison operator"},
		{"accuracy = 0.5", "not operators"},
		{"accuracy == 0.5", "not operators"},
		{"< 0.5", "no metric"},
		{"accuracy <", "no number"},
		{"accuracy < %", "no number"},
		{"accuracy < abc", "not a number"},
		{"accuracy < NaN", "not a number"},
		{"accuracy < Inf", "not a number"},
		{"accuracy < 0x10", "not a number"},
		{"accuracy < 1e999", "not a finite number"},
		{"accuracy < 0.5 < 1", "not a number"},
		{"accuracy <> 0.5", "not a number"},
		{"acc uracy < 0.5", "not a metric key"},
		{"accuracy.value < 5%", "not a percentage"},
		{"matches..accuracy < 0", "empty segment"},
		{".accuracy < 0", "empty segment"},
		{"accuracy => 0", "not a metric key"},
		{"accuracy =< 0", "not a metric key"},
		{"accuracy ! 0", "no comparison operator"},
	}
	for _, tt := range malformed {
		_, err := ParseRule(tt.in)
		if err == nil {
			t.Errorf("ParseRule(%q) accepted a malformed rule", tt.in)
			continue
		}
		if !strings.Contains(err.Error(), tt.why) || !strings.Contains(err.Error(), "want METRIC OP NUMBER") {
			t.Errorf("ParseRule(%q) = %v; want it to say %q and the form", tt.in, err, tt.why)
		}
	}
}

// FuzzParseRule: ParseRule never panics, and what it accepts it writes back
// in a form it reads as the same rule.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"matches.served.holdout.accuracy < -0.005", "x.log_loss > 2%", "a.value<=1", "*.auc >= .5", "a <", "= 1", "a < 1e308", "a.value < 5%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			if !strings.Contains(err.Error(), "gate rule") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if r.Metric == "" || math.IsNaN(r.Threshold) || math.IsInf(r.Threshold, 0) {
			t.Fatalf("accepted %q as %+v", s, r)
		}
		back, err := ParseRule(r.String())
		if err != nil {
			t.Fatalf("ParseRule(%q) = %+v, but its String %q does not parse: %v", s, r, r.String(), err)
		}
		if back != r {
			t.Fatalf("round trip of %q: %+v → %q → %+v", s, r, r.String(), back)
		}
	})
}

func mustRules(t *testing.T, specs ...string) []Rule {
	t.Helper()
	var rules []Rule
	for _, s := range specs {
		r, err := ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, r)
	}
	return rules
}

// A misspelt metric is answered with the keys closest to it, not with the
// first keys sharing its prefix: real run records hold hundreds of metrics,
// and dozens of baseline keys sort before matches.served.
func TestUnknownMetricSuggestsClosest(t *testing.T) {
	base, head := baseRecord(), headRecord()
	for i, name := range []string{"Elo-ordered-logit", "better-FIFA-rank-wins", "majority-class"} {
		for _, m := range []string{"accuracy", "auc", "log_loss"} {
			k := "matches.baselines.binary." + name + ".holdout." + m
			base.Metrics[k], head.Metrics[k] = float64(i), float64(i)
		}
	}
	g := Compare(base, head, Options{}).Check(mustRules(t, "matches.served.holdout.acuracy < 0"))
	err := g.Err()
	if err == nil || !strings.Contains(err.Error(), "did you mean matches.served.holdout.accuracy") {
		t.Fatalf("want the closest key suggested first, got: %v", err)
	}
}

func TestCheck(t *testing.T) {
	d := Compare(baseRecord(), headRecord(), Options{})
	// accuracy 0.5312 → 0.5469 (+0.0157, +2.96%); log loss 0.9871 → 1.0123
	// (+0.0252, +2.55%); bts accuracy 0.8123 → 0.8101 (−0.0022, −0.27%).
	tests := []struct {
		rule      string
		failed    []string // metrics the rule fails on
		passed    int
		errSubstr string
	}{
		{"matches.served.holdout.accuracy < -0.005", nil, 1, ""},
		{"matches.served.holdout.accuracy > 0.01", []string{"matches.served.holdout.accuracy"}, 0, ""},
		{"matches.served.holdout.log_loss > 2%", []string{"matches.served.holdout.log_loss"}, 0, ""},
		{"matches.served.holdout.log_loss > 3%", nil, 1, ""},
		{"matches.served.holdout.accuracy.value < 0.55", []string{"matches.served.holdout.accuracy"}, 0, ""},
		{"matches.served.holdout.accuracy.value < 0.5", nil, 1, ""},
		{"*.holdout.accuracy < -0.002", []string{"flights.variants.bts.holdout.accuracy"}, 2, ""},
		{"flights.variants.bts.holdout.accuracy <= -0.22%", []string{"flights.variants.bts.holdout.accuracy"}, 0, ""},
		{"matches.served.holdout.acuracy < 0", nil, 0, "unknown metric matches.served.holdout.acuracy: neither run has it; did you mean matches.served.holdout.accuracy"},
		{"nothing.* < 0", nil, 0, "the glob nothing.* matches no metric"},
		{"flights.variants.flights3m.holdout.auc < 0", nil, 0, "missing in the head run"},
		{"flights.variants.bts.holdout.rows < 0", nil, 0, "missing in the base run"},
		{"flights.variants.bts.holdout.rows.value < 100", nil, 1, ""},
		{"matches.served.holdout.n > 0%", nil, 1, ""},
	}
	for _, tt := range tests {
		g := d.Check(mustRules(t, tt.rule))
		var failed []string
		for _, r := range g.Failed() {
			failed = append(failed, r.Metric)
		}
		if strings.Join(failed, ",") != strings.Join(tt.failed, ",") || len(g.Passed()) != tt.passed {
			t.Errorf("%s: failed %v passed %d, want %v and %d:\n%s", tt.rule, failed, len(g.Passed()), tt.failed, tt.passed, g.Text())
		}
		err := g.Err()
		switch {
		case tt.errSubstr != "":
			if !errors.Is(err, ErrGateRule) || !strings.Contains(err.Error(), tt.errSubstr) {
				t.Errorf("%s: Err() = %v, want a rule error saying %q", tt.rule, err, tt.errSubstr)
			}
		case len(tt.failed) > 0:
			if !errors.Is(err, ErrGateFailed) || !strings.Contains(err.Error(), tt.failed[0]) {
				t.Errorf("%s: Err() = %v, want a failed gate naming %s", tt.rule, err, tt.failed[0])
			}
		default:
			if err != nil {
				t.Errorf("%s: Err() = %v, want nil", tt.rule, err)
			}
		}
	}
	// A relative rule on a zero base is an error, not a pass.
	z := Diff{Metrics: CompareMetrics(map[string]float64{"c": 0}, map[string]float64{"c": 3})}
	if err := z.Check(mustRules(t, "c > 50%")).Err(); !errors.Is(err, ErrGateRule) || !strings.Contains(err.Error(), "base value is 0") {
		t.Errorf("relative change of a zero base: %v", err)
	}
	// Errors win over failures: CI must see a broken gate as broken.
	g := d.Check(mustRules(t, "matches.served.holdout.accuracy > 0", "no.such < 0"))
	if err := g.Err(); !errors.Is(err, ErrGateRule) || errors.Is(err, ErrGateFailed) {
		t.Errorf("a failed rule and an unknown metric: %v", err)
	}
	// The failure names its numbers.
	line := d.Check(mustRules(t, "matches.served.holdout.accuracy > 0.01")).Failed()[0].Line()
	for _, want := range []string{"matches.served.holdout.accuracy > 0.01", "base 0.5312", "head 0.5469", "change +0.0157", "+2.96%"} {
		if !strings.Contains(line, want) {
			t.Errorf("failure line %q lacks %q", line, want)
		}
	}
}

func TestMatchGlob(t *testing.T) {
	for _, tt := range []struct {
		pattern, key string
		want         bool
	}{
		{"a.b", "a.b", true}, {"a.b", "a.bc", false},
		{"*", "anything.at.all", true},
		{"a.*.acc", "a.x.y.acc", true}, {"a.*.acc", "a.acc", false},
		{"*.acc", "x.acc", true}, {"*.acc", "x.acc.n", false},
		{"a*b*c", "abc", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "acb", false},
		{"a*a", "a", false}, {"a*a", "aa", true},
	} {
		if got := MatchGlob(tt.pattern, tt.key); got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.pattern, tt.key, got, tt.want)
		}
	}
}
