package stagerun

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const overridePipeline = `# A pipeline to override.
params:
  # The forest.
  forest:
    max_depth: 8      # deeper overfits
    ratio: 0.5
    name: "plain"
    tags: [a, b]
    opts: {x: 1}
    enabled: true
  variants:
    - name: v1
      forest: {max_depth: 5}
    - name: v2
      forest:
        max_depth: 6

  list:
    - 1
    - 2
  # after the list

stages:
  train:
    cmd: echo ${params.forest.max_depth} > out.txt
    params: [forest.ratio]
    outs: [out.txt]
`

func TestParseSet(t *testing.T) {
	tests := []struct {
		arg     string
		key     string
		want    any
		wantErr string
	}{
		{arg: "a.b=12", key: "a.b", want: 12},
		{arg: "a.b=1.5", key: "a.b", want: 1.5},
		{arg: "a.b=[form3, elo]", key: "a.b", want: []any{"form3", "elo"}},
		{arg: "a.b={x: 1}", key: "a.b", want: map[string]any{"x": 1}},
		{arg: "a.b=true", key: "a.b", want: true},
		{arg: "a.b=hello world", key: "a.b", want: "hello world"},
		{arg: `a.b="12"`, key: "a.b", want: "12"},
		{arg: "a.0.b=x=y", key: "a.0.b", want: "x=y"},
		{arg: "noequals", wantErr: "want key.path=value"},
		{arg: "=3", wantErr: "want key.path=value"},
		{arg: "a..b=3", wantErr: "want key.path=value"},
		{arg: "a.b=[1, 2", wantErr: "not valid YAML"},
	}
	for _, tc := range tests {
		t.Run(tc.arg, func(t *testing.T) {
			got, err := ParseSet([]string{tc.arg})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if canonical(got[tc.key]) != canonical(tc.want) || kindOf(got[tc.key]) != kindOf(tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
	if _, err := ParseSet([]string{"a=1", "a=2"}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate key: err %v", err)
	}
}

func TestOverride(t *testing.T) {
	tests := []struct {
		name    string
		set     map[string]any
		key     string
		want    string // canonical value at key after
		wantErr []string
	}{
		{name: "int", set: map[string]any{"forest.max_depth": 12}, key: "forest.max_depth", want: "12"},
		{name: "int for float", set: map[string]any{"forest.ratio": 1}, key: "forest.ratio", want: "1"},
		{name: "list", set: map[string]any{"forest.tags": []any{"c"}}, key: "forest.tags", want: `["c"]`},
		{name: "mapping", set: map[string]any{"forest.opts": map[string]any{"x": 2}}, key: "forest.opts", want: `{"x":2}`},
		{name: "list index", set: map[string]any{"variants.1.forest.max_depth": 9}, key: "variants", want: `[{"forest":{"max_depth":5},"name":"v1"},{"forest":{"max_depth":9},"name":"v2"}]`},
		{name: "unknown key suggests", set: map[string]any{"forest.max_dept": 3}, wantErr: []string{"no such parameter", "forest.max_depth"}},
		{name: "unknown far key", set: map[string]any{"zzzzzzzzzzzzzzzzzzzzzzz": 3}, wantErr: []string{"no such parameter", "see `params:`"}},
		{name: "index out of range", set: map[string]any{"variants.2.name": "x"}, wantErr: []string{"no such parameter", "variants.1.name"}},
		{name: "float for int", set: map[string]any{"forest.max_depth": 1.5}, wantErr: []string{"the file has an int", "gives a float"}},
		{name: "string for int", set: map[string]any{"forest.max_depth": "deep"}, wantErr: []string{"an int", "a string"}},
		{name: "scalar for list", set: map[string]any{"forest.tags": "a"}, wantErr: []string{"a list"}},
		{name: "list for mapping", set: map[string]any{"forest.opts": []any{1}}, wantErr: []string{"a mapping"}},
		{name: "into a scalar", set: map[string]any{"forest.max_depth.x": 1}, wantErr: []string{"no such parameter"}},
		{name: "mapping dropping a used key", set: map[string]any{"forest": map[string]any{"max_depth": 3}}, wantErr: []string{"forest.ratio"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writePipeline(t, overridePipeline)
			before := canonical(p.Params)
			err := p.Override(tc.set)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				if canonical(p.Params) != before || p.Overrides != nil {
					t.Error("a failed Override changed the pipeline")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v, _ := p.Param(tc.key)
			if got := canonical(v); got != tc.want {
				t.Fatalf("%s = %s, want %s", tc.key, got, tc.want)
			}
			if len(p.Overrides) != len(tc.set) {
				t.Fatalf("Overrides %v, want %v", p.Overrides, tc.set)
			}
		})
	}
}

func TestOverrideChangesCommandAndKey(t *testing.T) {
	p := writePipeline(t, overridePipeline)
	h := newHasher(p.Root)
	before, err := p.state(p.Stage("train"), h)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Override(map[string]any{"forest.max_depth": 3}); err != nil {
		t.Fatal(err)
	}
	after, _ := p.state(p.Stage("train"), h)
	if after.key == before.key || !strings.Contains(after.cmd, "echo 3 ") {
		t.Fatalf("key unchanged or command %q not substituted", after.cmd)
	}
}

func TestLoadEnvRoundTrip(t *testing.T) {
	p := writePipeline(t, overridePipeline)
	ov, err := ParseSet([]string{"forest.max_depth=12", "forest.ratio=0.25", "forest.tags=[x, y]", "variants.0.name=first", "forest.enabled=false"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Override(ov); err != nil {
		t.Fatal(err)
	}
	js, err := OverridesJSON(p.Overrides)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(SetEnv, js)
	q, err := LoadEnv(p.Path)
	if err != nil {
		t.Fatal(err)
	}
	if canonical(q.Params) != canonical(p.Params) {
		t.Fatalf("params after the round trip differ:\n%s\n%s", canonical(q.Params), canonical(p.Params))
	}
	if canonical(q.Overrides) != canonical(p.Overrides) {
		t.Fatalf("overrides %v, want %v", q.Overrides, p.Overrides)
	}
	if v, _ := q.Param("forest.max_depth"); kindOf(v) != "int" {
		t.Fatalf("max_depth decoded as %T", v)
	}

	for _, bad := range []struct{ env, want string }{
		{"{not json", "DATALAB_SET"},
		{`{"forest.nope": 1}`, "forest.name"},
		{`[1]`, "JSON object"},
	} {
		t.Setenv(SetEnv, bad.env)
		if _, err := LoadEnv(p.Path); err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), SetEnv) {
			t.Errorf("DATALAB_SET=%s: err %v, want it to name %s and %q", bad.env, err, SetEnv, bad.want)
		}
	}
}

func TestSaveOverridesKeepsComments(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "datalab.yaml")
	if err := os.WriteFile(path, []byte(overridePipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		set  string
		from string
		to   string
	}{
		{"forest.max_depth=12", "    max_depth: 8      # deeper overfits\n", "    max_depth: 12      # deeper overfits\n"},
		{"forest.name=two words", `    name: "plain"` + "\n", `    name: "two words"` + "\n"},
		{"forest.tags=[c, 'd e']", "    tags: [a, b]\n", "    tags: [c, \"d e\"]\n"},
		{"variants.0.forest.max_depth=7", "      forest: {max_depth: 5}\n", "      forest: {max_depth: 7}\n"},
		{"variants.1.forest.max_depth=9", "        max_depth: 6\n", "        max_depth: 9\n"},
		{"list=[3]", "  list:\n    - 1\n    - 2\n", "  list: [3]\n"},
		{"forest.ratio=1", "    ratio: 0.5\n", "    ratio: 1.0\n"},
	}
	want := overridePipeline
	for _, tc := range tests {
		ov, err := ParseSet([]string{tc.set})
		if err != nil {
			t.Fatal(err)
		}
		if err := SaveOverrides(path, ov); err != nil {
			t.Fatalf("%s: %v", tc.set, err)
		}
		if !strings.Contains(want, tc.from) {
			t.Fatalf("test bug: %q not in the file", tc.from)
		}
		want = strings.Replace(want, tc.from, tc.to, 1)
		got, _ := os.ReadFile(path)
		if string(got) != want {
			t.Fatalf("after --set %s the file is\n%s\nwant\n%s", tc.set, got, want)
		}
	}
	if err := SaveOverrides(path, map[string]any{"forest.nope": 1}); err == nil {
		t.Fatal("unknown key saved")
	}
}

func TestRunWithOverrides(t *testing.T) {
	p := writePipeline(t, `params:
  a: 1
  b: 2
stages:
  sa:
    cmd: echo ${params.a} > a.txt
    outs: [a.txt]
  sb:
    cmd: printf '%s' "$DATALAB_SET" > set.json && echo ${params.b} > b.txt
    outs: [b.txt, set.json]
`)
	opts := testOptions()
	wantRan(t, mustRun(t, p, nil, opts), "sa", "sb")
	if err := p.Override(map[string]any{"b": 5}); err != nil {
		t.Fatal(err)
	}
	opts.Experiment = "exp-1"
	rec := mustRun(t, p, nil, opts)
	wantRan(t, rec, "sb")
	if rec.Overrides["b"] != 5 || rec.Params["b"] != 5 || rec.Experiment != "exp-1" {
		t.Fatalf("record overrides %v params %v experiment %q", rec.Overrides, rec.Params, rec.Experiment)
	}
	var env map[string]any
	data, _ := os.ReadFile(filepath.Join(p.Root, "set.json"))
	if err := json.Unmarshal(data, &env); err != nil || env["b"] != float64(5) {
		t.Fatalf("stage saw DATALAB_SET=%s (%v)", data, err)
	}
	raw, _ := os.ReadFile(filepath.Join(p.Root, "runs", rec.ID, "run.json"))
	if !strings.Contains(string(raw), `"overrides": {`) || !strings.Contains(string(raw), `"experiment": "exp-1"`) {
		t.Fatalf("run.json lacks overrides or experiment:\n%s", raw)
	}
	// An inherited DATALAB_SET never reaches a run without overrides.
	t.Setenv(SetEnv, `{"b": 7}`)
	q := mustLoad(t, p.Path)
	mustRun(t, q, nil, testOptions())
	data, _ = os.ReadFile(filepath.Join(p.Root, "set.json"))
	if len(data) != 0 {
		t.Fatalf("stage saw an inherited DATALAB_SET=%s", data)
	}
}

// TestParamIndexes reads list items by the same keys an override names.
func TestParamIndexes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "datalab.yaml")
	if err := os.WriteFile(path, []byte(overridePipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{"variants.1.forest.max_depth": 6, "variants.0.name": "v1", "list.1": 2, "forest.ratio": 0.5} {
		if got, ok := p.Param(key); !ok || got != want {
			t.Errorf("Param(%q) = %v, %v; want %v", key, got, ok, want)
		}
	}
	for _, key := range []string{"variants.2.name", "variants.01.name", "variants.-1.name", "list.x", "forest.ratio.x"} {
		if v, ok := p.Param(key); ok {
			t.Errorf("Param(%q) = %v, want not found", key, v)
		}
	}
}
