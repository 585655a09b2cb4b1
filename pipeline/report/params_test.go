package report

import (
	"strings"
	"testing"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// lineageHTML renders only a lineage block.
func lineageHTML(t *testing.T, l Lineage) string {
	t.Helper()
	r := New("lineage")
	r.Lineage(l)
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	return string(r.blocks[0])
}

// The lineage block, golden: an override listed first and highlighted, the
// parameter it changed marked, a list of mappings as a nested table (name
// first), a flat list and a nested mapping in YAML flow syntax.
func TestLineageGolden(t *testing.T) {
	got := lineageHTML(t, Lineage{
		Commit:   "0123abc",
		RunID:    "20261207T120000Z-ab12cd",
		DataOids: map[string]string{"matches": "sha256:aaaa"},
		Params: map[string]any{
			"matches.forests.default.max_depth": 12,
			"matches.variants":                  []any{"seed", "elo"},
			"flights.variants": []any{
				map[string]any{"name": "bts", "features": []any{"DepDelay", "Distance"}, "forest": map[string]any{"num_trees": 20, "max_depth": 5}},
				map[string]any{"name": "f3m", "categorical": false, "forest": map[string]any{"num_trees": 20}},
			},
		},
		Overrides: map[string]any{"matches.forests.default.max_depth": 12},
	})
	want := `<dl class="lineage">
<dt>Commit</dt><dd>0123abc</dd>
<dt>Run</dt><dd>20261207T120000Z-ab12cd</dd>
<dt class="override">overrides</dt><dd class="override">matches.forests.default.max_depth = 12</dd>
<dt>data: matches</dt><dd>sha256:aaaa</dd>
<dt>param: flights.variants</dt><dd><table class="params">
<thead><tr><th scope="col">name</th><th scope="col">features</th><th scope="col">forest</th><th scope="col">categorical</th></tr></thead>
<tbody>
<tr><td>bts</td><td>[DepDelay, Distance]</td><td>{max_depth: 5, num_trees: 20}</td><td></td></tr>
<tr><td>f3m</td><td></td><td>{num_trees: 20}</td><td>false</td></tr>
</tbody>
</table></dd>
<dt class="override" title="set by an override">param: matches.forests.default.max_depth</dt><dd class="override">12</dd>
<dt>param: matches.variants</dt><dd>[seed, elo]</dd>
</dl>`
	if got != want {
		t.Errorf("lineage block:\n%s\nwant:\n%s", got, want)
	}
}

// The parameters of the real datalab.yaml, as the match and flight reports
// list them, render without Go's map[…] syntax; flights.variants becomes a
// table with one row per variant.
func TestLineageRealParams(t *testing.T) {
	p, err := stagerun.Load("../../datalab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := lineageHTML(t, Lineage{Params: p.FlatParams(), Overrides: map[string]any{"flights.split_seed": 7}})
	if strings.Contains(got, "map[") {
		t.Errorf("lineage prints Go map syntax:\n%s", got)
	}
	variants, ok := p.Param("flights.variants")
	if !ok {
		t.Fatal("datalab.yaml has no flights.variants")
	}
	n := len(variants.([]any))
	if rows := strings.Count(got, "<tr><td>"); rows != n {
		t.Errorf("flights.variants table has %d rows, want %d (one per variant)", rows, n)
	}
	for _, want := range []string{
		`<dd class="override">flights.split_seed = 7</dd>`,
		`<th scope="col">name</th><th scope="col">categorical</th>`,
		`<td>bts-continuous</td>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lineage lacks %s:\n%s", want, got)
		}
	}
}

func TestRelevantOverrides(t *testing.T) {
	params := map[string]any{"flights.variants": []any{}, "flights.split_seed": 2008}
	got := RelevantOverrides(map[string]any{
		"flights.variants.0.forest.max_depth": 7,
		"flights.split_seed":                  1,
		"matches.forests.default.max_depth":   12,
	}, params)
	if len(got) != 2 || got["flights.variants.0.forest.max_depth"] != 7 || got["flights.split_seed"] != 1 {
		t.Errorf("RelevantOverrides = %v", got)
	}
	if got := RelevantOverrides(map[string]any{"matches.test_year": 2021}, params); got != nil {
		t.Errorf("an unrelated override kept: %v", got)
	}
}
