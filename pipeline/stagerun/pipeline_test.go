package stagerun

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseOrdersByDependencies(t *testing.T) {
	p, err := Parse([]byte(`
params:
  train: {num_trees: 50, features: [a, b]}
stages:
  report:
    cmd: cat m/metrics.txt
    deps: [m/metrics.txt]
  train:
    cmd: train --trees ${params.train.num_trees} --features '${params.train.features}' > m/model
    deps: [f]
    outs: [m/model]
  evaluate:
    cmd: eval > m/metrics.txt
    deps: [m]
    outs: [m/metrics.txt]
  features:
    cmd: build > f/x
    deps: [./raw/]
    outs: [f]
`), "/repo")
	if err == nil {
		t.Fatal("overlapping outs m/model and m/metrics.txt accepted?")
	}
	_ = p
	p, err = Parse([]byte(`
params:
  train: {num_trees: 50, features: [a, b]}
stages:
  report:
    cmd: cat m/metrics.txt
    deps: [m/metrics.txt]
  train:
    cmd: train --trees ${params.train.num_trees} --features '${params.train.features}' > m/model
    deps: [f/x]
    outs: [m/model]
  evaluate:
    cmd: eval > m/metrics.txt
    deps: [m/model]
    outs: [m/metrics.txt]
  features:
    cmd: build > f/x
    deps: [./raw/]
    outs: [f]
`), "/repo")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Names(), []string{"features", "train", "evaluate", "report"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	train := p.Stage("train")
	if !slices.Equal(train.Params, []string{"train.num_trees", "train.features"}) {
		t.Errorf("params picked up from cmd: %v", train.Params)
	}
	if got := p.Command(train); got != `train --trees 50 --features '["a","b"]' > m/model` {
		t.Errorf("command = %s", got)
	}
	if !slices.Equal(p.Stage("features").Deps, []string{"raw"}) {
		t.Errorf("deps not cleaned: %v", p.Stage("features").Deps)
	}
	if !slices.Equal(train.Upstream, []string{"features"}) {
		t.Errorf("upstream = %v", train.Upstream)
	}
	if got := p.ParamKeys(); !slices.Equal(got, []string{"train.features", "train.num_trees"}) {
		t.Errorf("param keys = %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"cycle", `
stages:
  a: {cmd: x, deps: [c.out], outs: [a.out]}
  b: {cmd: x, deps: [a.out], outs: [b.out]}
  c: {cmd: x, deps: [b.out], outs: [c.out]}
`, "stages form a cycle: a → b → c → a"},
		{"duplicate outs", `
stages:
  a: {cmd: x, outs: [out/model]}
  b: {cmd: y, outs: [out]}
`, "stages a and b both produce \"out/model\""},
		{"self dependency", "stages:\n  a: {cmd: x, deps: [o], outs: [o]}\n", "stage a depends on its own output \"o\""},
		{"unknown field", "stages:\n  a: {cmd: x, dep: [o]}\n", `unknown field "dep"`},
		{"unknown param", "params: {a: 1}\nstages:\n  s: {cmd: 'x ${params.b}'}\n", `param "b" is not defined under params: (defined: a)`},
		{"unknown listed param", "params: {a: {b: 1}}\nstages:\n  s: {cmd: x, params: [a.c]}\n", `param "a.c" is not defined`},
		{"no cmd", "stages:\n  a: {outs: [x]}\n", "stage a: cmd is missing or empty"},
		{"escaping path", "stages:\n  a: {cmd: x, deps: [../secret]}\n", `path "../secret": want a path inside`},
		{"absolute path", "stages:\n  a: {cmd: x, outs: [/etc/passwd]}\n", `want a path inside`},
		{"bad retry delay", "stages:\n  a: {cmd: x, retry_delay: soon}\n", "retry_delay"},
		{"negative retries", "stages:\n  a: {cmd: x, retries: -1}\n", "want 0 or more"},
		{"unknown top-level", "stage:\n  a: {cmd: x}\n", `unknown top-level key "stage"`},
		{"duplicate stage", "stages:\n  a: {cmd: x}\n  a: {cmd: y}\n", `"a"`},
		{"not a mapping", "- a\n", "want a mapping"},
		{"dotted param key", "params: {a.b: 1}\nstages: {}\n", "dots separate levels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "/repo")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadExample(t *testing.T) {
	p, err := Load("testdata/example/datalab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(p.LockPath(), "testdata/example/datalab.lock") {
		t.Errorf("lock path %s", p.LockPath())
	}
	if _, err := Load("testdata/nope.yaml"); err == nil || !os.IsNotExist(errorsUnwrapAll(err)) {
		t.Errorf("missing file: %v", err)
	}
}

func errorsUnwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func FuzzParse(f *testing.F) {
	seed, _ := os.ReadFile("testdata/example/datalab.yaml")
	f.Add(seed)
	f.Add([]byte("stages:\n  a: {cmd: x, deps: [b], outs: [a]}\n  b: {cmd: y, deps: [a], outs: [b]}\n"))
	f.Add([]byte("params: {x: {y: [1, 2]}}\nstages:\n  s: {cmd: 'echo ${params.x.y}', outs: [o/p]}\n  t: {cmd: t, deps: [o]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "/repo")
		if err != nil {
			return
		}
		// Every stage comes after its upstream stages, and every param it
		// names resolves.
		pos := map[string]int{}
		for i, s := range p.Stages {
			pos[s.Name] = i
		}
		if len(pos) != len(p.Stages) {
			t.Fatalf("duplicate stage names in %v", p.Names())
		}
		for i, s := range p.Stages {
			for _, u := range s.Upstream {
				if j, ok := pos[u]; !ok || j >= i {
					t.Fatalf("stage %s at %d has upstream %s at %d", s.Name, i, u, j)
				}
			}
			for _, k := range s.Params {
				if _, ok := p.Param(k); !ok {
					t.Fatalf("stage %s: param %s does not resolve", s.Name, k)
				}
			}
			_ = p.Command(s)
		}
		if _, err := p.Select(p.Names()); err != nil {
			t.Fatal(err)
		}
	})
}

// The plan of the example pipeline before any run: every stage is new, and
// the ones downstream wait for their producers.
func ExamplePipeline_Plan() {
	p, err := Load("testdata/example/datalab.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := p.Plan(context.Background(), []string{"train"}, Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(plan)
	// Output:
	// run   ingest: new
	// run   features: upstream ingest will run
	// run   train: upstream features will run
}
