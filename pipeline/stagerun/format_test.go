package stagerun

import (
	"testing"
	"time"
)

// TestFormatParam: the cases report lineage and rundiff each tested for
// their own formatter, now one.
func TestFormatParam(t *testing.T) {
	type formatCase struct {
		in   any
		want string
	}
	cases := []formatCase{
		{nil, "null"},
		{12, "12"},
		{0.01, "0.01"},
		{true, "true"},
		{"sqrt", "sqrt"},
		{"form3", "form3"},
		{"a, b", `"a, b"`},
		{"", `""`},
		{"12", `"12"`},
		{"yes", `"yes"`},
		{[]any{"seed", "elo"}, "[seed, elo]"},
		{[]string{"rank", "points"}, "[rank, points]"},
		{[]string{"a b", "12", "", "x,y"}, `[a b, "12", "", "x,y"]`},
		{map[string]any{"num_trees": 20, "max_depth": 5}, "{max_depth: 5, num_trees: 20}"},
		{map[string]any{"b": 1, "a": []any{"x"}}, "{a: [x], b: 1}"},
		{map[string]any{"v": []any{map[string]any{"b": 1, "a": "x: y"}}}, `{v: [{a: "x: y", b: 1}]}`},
		{map[int]string{2: "b", 1: "a"}, "{1: a, 2: b}"},
		{map[string]int{"z": 1}, "{z: 1}"},
		{[]any{map[string]any{"name": "bts", "categorical": true, "features": []any{"DepDelay", "Distance"}, "forest": map[string]any{"num_trees": 20, "max_depth": 5, "max_bins": 4657}}},
			"[{categorical: true, features: [DepDelay, Distance], forest: {max_bins: 4657, max_depth: 5, num_trees: 20}, name: bts}]"},
		{struct {
			A int    `json:"a"`
			B string `json:"b"`
		}{1, "x"}, "{a: 1, b: x}"},
		{time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC), "2026-12-07T13:00:00Z"},
	}
	for _, c := range cases {
		if got := FormatParam(c.in); got != c.want {
			t.Errorf("FormatParam(%#v) = %s, want %s", c.in, got, c.want)
		}
	}
}
