package sparkjob

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/flights/flightfeat"
	"github.com/datalabhq/datalab/flights/flightmodel"
	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/forest"
	"github.com/datalabhq/datalab/pipeline/sparkml"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// python is Debian's interpreter (ENVIRONMENT.md): the job is compiled and
// its argparse parser is run with it; pyspark is not needed for either.
const python = "/usr/bin/python3"

// flightsConfig reads params.flights of the repository's datalab.yaml, the
// Go trainer's configuration.
func flightsConfig(t *testing.T) flightmodel.Config {
	t.Helper()
	p, err := stagerun.Load(filepath.Join(testmirror.RepoRoot(), "datalab.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg flightmodel.Config
	if err := p.DecodeParam("flights", &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// goParam is one argument as the Go side defines it.
type goParam struct {
	Flag string
	// Type is the argparse type the Go field's kind needs.
	Type string
	// Default is the value Job.Args passes for a variant that sets nothing
	// (forest.DefaultParams through forest.Config.Params, and datalab.yaml's
	// split); "" means the Go side has no default (the job must require it).
	Default string
}

// excludedFields are the params.flights keys that are not arguments of a
// one-variant job: the list of variants (the job trains one), the variant
// the web app serves, a variant's prose, and the forest block (its fields
// are arguments).
var excludedFields = map[string]bool{"variants": true, "serve_variant": true, "description": true, "forest": true}

// jobOnlyFlags are arguments with no configuration field: where the model
// goes is the runner's business.
var jobOnlyFlags = []goParam{{Flag: "--output", Type: "str"}}

// goParams derives the Go side from the real types: every YAML key of
// flightmodel.Config, flightmodel.VariantConfig and forest.Config (minus
// excludedFields) as a flag, its type from the field's kind, its default
// from what Job.Args passes for cfg's split and an empty variant.
func goParams(t *testing.T, cfg flightmodel.Config) []goParam {
	t.Helper()
	var out []goParam
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if key == "forest" {
				walk(f.Type)
			}
			if key == "" || excludedFields[key] {
				continue
			}
			out = append(out, goParam{Flag: "--" + strings.ReplaceAll(key, "_", "-"), Type: argparseType(t, f.Type)})
		}
	}
	walk(reflect.TypeFor[flightmodel.Config]())
	walk(reflect.TypeFor[flightmodel.VariantConfig]())
	out = append(out, jobOnlyFlags...)

	args := NewJob(cfg, flightmodel.VariantConfig{}, "models").Args("", "")
	passed := map[string]string{}
	var order []string
	for i := 0; i+1 < len(args); i += 2 {
		passed[args[i]] = args[i+1]
		order = append(order, args[i])
	}
	var want []string
	for i, p := range out {
		v, ok := passed[p.Flag]
		if !ok {
			t.Fatalf("Job.Args does not pass %s (a field of the configuration)", p.Flag)
		}
		out[i].Default = v
		want = append(want, p.Flag)
	}
	if slices.Sort(order); !slices.Equal(order, slices.Sorted(slices.Values(want))) {
		t.Fatalf("Job.Args passes %v, the configuration has %v", order, want)
	}
	return out
}

func argparseType(t *testing.T, rt reflect.Type) string {
	switch rt.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint64:
		return "int"
	case reflect.Float64:
		return "float"
	case reflect.Bool:
		return "parse_bool"
	case reflect.String:
		return "str"
	case reflect.Slice:
		if rt.Elem().Kind() == reflect.String {
			return "str" // comma-separated
		}
	}
	t.Fatalf("no argparse type for a %s field: extend the job and this test", rt)
	return ""
}

// compareParams lists every disagreement between the job's arguments and
// the Go side's: a missing or extra flag, another type, another default, a
// default where Go has none or none where Go has one.
func compareParams(py []JobParam, gp []goParam) []string {
	var diffs []string
	byFlag := map[string]JobParam{}
	for _, p := range py {
		byFlag[p.Flag] = p
	}
	for _, g := range gp {
		p, ok := byFlag[g.Flag]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s: declared on the Go side, missing in %s", g.Flag, JobFileName))
			continue
		}
		delete(byFlag, g.Flag)
		if p.Type != g.Type {
			diffs = append(diffs, fmt.Sprintf("%s: type=%s in the job, Go needs %s", g.Flag, p.Type, g.Type))
			continue
		}
		if g.Default == "" {
			if !p.Required {
				diffs = append(diffs, fmt.Sprintf("%s: Go has no default, so the job must require it (has default=%v)", g.Flag, p.Default))
			}
			continue
		}
		if p.Required || p.Default == nil {
			diffs = append(diffs, fmt.Sprintf("%s: Go's default is %s, the job has none", g.Flag, g.Default))
			continue
		}
		want, err := p.parse(g.Default)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: Go default %q is not a %s: %v", g.Flag, g.Default, p.Type, err))
			continue
		}
		if got := p.Default; !sameValue(got, want) {
			diffs = append(diffs, fmt.Sprintf("%s: default %v (line %d), Go's is %v", g.Flag, got, p.Line, want))
		}
	}
	for f, p := range byFlag {
		diffs = append(diffs, fmt.Sprintf("%s (line %d): in the job, no Go field or job-only flag", f, p.Line))
	}
	slices.Sort(diffs)
	return diffs
}

// sameValue compares a parsed Python literal with a Go value of the
// declared type (an int literal is a valid float default).
func sameValue(py, want any) bool {
	if w, ok := want.(float64); ok {
		if n, ok := py.(int64); ok {
			return float64(n) == w
		}
	}
	return py == want
}

func TestJobParamsMatchGo(t *testing.T) {
	py, err := ParseJobParams(JobSource())
	if err != nil {
		t.Fatal(err)
	}
	gp := goParams(t, flightsConfig(t))
	if d := compareParams(py, gp); len(d) > 0 {
		t.Fatalf("%s and the Go trainer's configuration disagree:\n  %s", JobFileName, strings.Join(d, "\n  "))
	}
	// The Go side as derived above, spelled out once so a reader sees
	// what is being compared (and that the derivation is not vacuous).
	defaults := map[string]string{}
	for _, g := range gp {
		defaults[g.Flag] = g.Default
	}
	d := forest.DefaultParams()
	for flag, want := range map[string]string{"--num-trees": strconv.Itoa(d.NumTrees), "--max-bins": strconv.Itoa(d.MaxBins),
		"--seed": strconv.FormatInt(forest.SparkDefaultSeed, 10), "--impurity": "gini", "--feature-subset": "auto", "--data": "", "--output": ""} {
		if defaults[flag] != want {
			t.Errorf("Go default of %s = %q, want %q", flag, defaults[flag], want)
		}
	}
	if len(gp) != 14 {
		t.Errorf("%d Go params, want 14 (2 split + 4 variant + 7 forest + output)", len(gp))
	}
}

// TestJobParamsMismatchFails proves the comparison fails on each kind of
// drift, on modified copies of the real job text.
func TestJobParamsMismatchFails(t *testing.T) {
	src := string(JobSource())
	gp := goParams(t, flightsConfig(t))
	for _, c := range []struct {
		name, old, new, want string
	}{
		{"renamed flag", `"--num-trees", type=int`, `"--n-trees", type=int`, "--n-trees"},
		{"changed default", `"--max-bins", type=int, default=32`, `"--max-bins", type=int, default=4657`, "--max-bins: default 4657"},
		{"changed seed", `default=207336481`, `default=1`, "--seed: default 1"},
		{"changed split", `"--split-seed", type=int, default=2008`, `"--split-seed", type=int, default=2009`, "--split-seed: default 2009"},
		{"changed type", `"--max-depth", type=int`, `"--max-depth", type=float`, "--max-depth: type=float"},
		{"default on a required", `"--data", type=str, required=True`, `"--data", type=str, default="x"`, "--data: Go has no default"},
		{"dropped", `    p.add_argument("--impurity", type=str, default="gini", help="impurity: gini or entropy")` + "\n", "", "--impurity: declared on the Go side, missing"},
		{"extra", `    # where the model goes`, `    p.add_argument("--max-memory-mb", type=int, default=256)`, "--max-memory-mb (line"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(src, c.old) {
				t.Fatalf("the job no longer contains %q: update this case", c.old)
			}
			py, err := ParseJobParams([]byte(strings.Replace(src, c.old, c.new, 1)))
			if err != nil {
				t.Fatal(err)
			}
			d := compareParams(py, gp)
			if !slices.ContainsFunc(d, func(s string) bool { return strings.Contains(s, c.want) }) {
				t.Errorf("differences %q, want one containing %q", d, c.want)
			}
		})
	}
	// And on the Go side: a changed default there is a difference too.
	changed := slices.Clone(gp)
	for i := range changed {
		if changed[i].Flag == "--num-trees" {
			changed[i].Default = "50"
		}
	}
	py, _ := ParseJobParams(JobSource())
	if d := compareParams(py, changed); len(d) != 1 || !strings.Contains(d[0], "--num-trees: default 20") {
		t.Errorf("Go default numTrees 50: differences %q", d)
	}
}

// TestJobConstantsMatchGo checks the job's constants against the Go
// pipeline: column names, label splits, the stages' handleInvalid and order
// type as flightfeat builds them, and the forest parameters the Go trainer
// leaves at Spark's defaults.
func TestJobConstantsMatchGo(t *testing.T) {
	c, err := ParseJobConstants(JobSource())
	if err != nil {
		t.Fatal(err)
	}
	st, err := flightfeat.FitStages(smallTable(), []int{0, 1, 2, 3}, flightfeat.SeedFeatures)
	if err != nil {
		t.Fatal(err)
	}
	si := st.Indexers[flightfeat.ColCarrier]
	va := st.List[len(st.List)-1].(*sparkml.VectorAssembler)
	d := forest.DefaultParams()
	strs := func(ss []string) []any {
		out := make([]any, len(ss))
		for i, s := range ss {
			out[i] = s
		}
		return out
	}
	splits := make([]any, len(flightfeat.DelaySplits))
	for i, s := range flightfeat.DelaySplits {
		splits[i] = s
	}
	want := map[string]any{
		"ARR_DELAY_COL":                flightfeat.ColArrDelay,
		"LABEL_COL":                    flightfeat.LabelCol,
		"FEATURES_COL":                 flightfeat.FeaturesCol,
		"INDEX_SUFFIX":                 flightfeat.IndexSuffix,
		"STRING_COLUMNS":               strs(flightfeat.StringColumns),
		"DELAY_SPLITS":                 splits,
		"LABEL_HANDLE_INVALID":         flightfeat.LabelBucketizer().HandleInvalid,
		"INDEXER_HANDLE_INVALID":       si.HandleInvalid,
		"INDEXER_ORDER_TYPE":           si.StringOrderType,
		"ASSEMBLER_HANDLE_INVALID":     va.HandleInvalid,
		"SUBSAMPLING_RATE":             d.SubsamplingRate,
		"BOOTSTRAP":                    d.Bootstrap,
		"MIN_INFO_GAIN":                d.MinInfoGain,
		"MIN_WEIGHT_FRACTION_PER_NODE": d.MinWeightFractionPerNode,
	}
	for k, w := range want {
		if !reflect.DeepEqual(c[k], w) {
			t.Errorf("%s = %#v in %s, the Go pipeline has %#v", k, c[k], JobFileName, w)
		}
	}
	if len(c) != len(want) {
		t.Errorf("%s has %d constants, this test checks %d: check the new ones against Go", JobFileName, len(c), len(want))
	}
}

// writeJob writes src to a temporary train_flights.py.
func writeJob(t *testing.T, src []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), JobFileName)
	if err := os.WriteFile(p, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runPython runs Debian's python3 with code and args, returning stdout.
func runPython(t *testing.T, code string, args ...string) ([]byte, error) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s is needed to compile the PySpark job (Debian's python3): %v", python, err)
	}
	cmd := exec.Command(python, append([]string{"-c", code}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%w: %s", err, stderr.String())
	}
	return out, nil
}

const pyCompile = `import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)`

// TestJobCompiles byte-compiles the shipped job (no pyspark needed), and a
// broken copy to show the check fails.
func TestJobCompiles(t *testing.T) {
	if _, err := runPython(t, pyCompile, writeJob(t, JobSource()), filepath.Join(t.TempDir(), "job.pyc")); err != nil {
		t.Fatalf("%s does not compile: %v", JobFileName, err)
	}
	broken := strings.Replace(string(JobSource()), "def train(args):", "def train(args)", 1)
	if _, err := runPython(t, pyCompile, writeJob(t, []byte(broken)), filepath.Join(t.TempDir(), "job.pyc")); err == nil {
		t.Fatal("a job with a syntax error compiled")
	}
}

// pyArgparse loads the job as a module (its pyspark imports are inside
// train()) and prints its parser's arguments and, given argv, what
// parse_args makes of it.
const pyArgparse = `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("train_flights", sys.argv[1])
job = importlib.util.module_from_spec(spec)
spec.loader.exec_module(job)
parser = job.build_parser()
params = [{"flag": a.option_strings[0], "type": a.type.__name__, "default": a.default, "required": a.required}
          for a in parser._actions if a.option_strings[0] != "-h"]
parsed = vars(parser.parse_args(sys.argv[2:])) if len(sys.argv) > 2 else None
print(json.dumps({"params": params, "parsed": parsed}))
`

// TestArgparseAgreesWithParser runs the job's real argparse parser: its
// arguments are the ones ParseJobParams reads, and it accepts the argv
// Job.Args builds for every variant of datalab.yaml with the values Go
// meant.
func TestArgparseAgreesWithParser(t *testing.T) {
	job := writeJob(t, JobSource())
	cfg := flightsConfig(t)
	ours, err := ParseJobParams(JobSource())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range cfg.Variants {
		t.Run(v.Name, func(t *testing.T) {
			j := NewJob(cfg, v, "build/models/flights-spark")
			argv := j.Args("s3://bucket/parquet/x.parquet", "s3://bucket/models/flights/"+v.Name)
			out, err := runPython(t, pyArgparse, append([]string{job}, argv...)...)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Params []struct {
					Flag, Type string
					Default    any
					Required   bool
				}
				Parsed map[string]any
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if len(got.Params) != len(ours) {
				t.Fatalf("argparse has %d arguments, ParseJobParams read %d", len(got.Params), len(ours))
			}
			for i, p := range got.Params {
				o := ours[i]
				def := o.Default
				if n, ok := def.(int64); ok {
					def = float64(n) // JSON numbers
				}
				if p.Flag != o.Flag || p.Type != o.Type || p.Required != o.Required || !reflect.DeepEqual(p.Default, def) {
					t.Errorf("argparse %+v, ParseJobParams %+v", p, o)
				}
			}
			fp := v.Forest.Params()
			want := map[string]any{
				"name": v.Name, "data": "s3://bucket/parquet/x.parquet", "features": strings.Join(v.Features, ","),
				"categorical": v.Categorical, "num_trees": float64(fp.NumTrees), "max_depth": float64(fp.MaxDepth),
				"max_bins": float64(fp.MaxBins), "min_instances_per_node": float64(fp.MinInstancesPerNode),
				"feature_subset": fp.FeatureSubsetStrategy, "impurity": fp.Impurity, "seed": float64(fp.Seed),
				"test_fraction": cfg.TestFraction, "split_seed": float64(cfg.SplitSeed), "output": "s3://bucket/models/flights/" + v.Name,
			}
			if !reflect.DeepEqual(got.Parsed, want) {
				t.Errorf("argparse parsed %v\nwant %v", got.Parsed, want)
			}
			if v.Name == "bts" && (got.Parsed["max_bins"] != 4657.0 || got.Parsed["categorical"] != true) {
				t.Errorf("bts: parsed %v, want maxBins 4657 and categorical", got.Parsed)
			}
		})
	}
}

func TestParseJobParamsErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`p.add_argument("--a", type=int, default=1`, "closing parenthesis"},
		{`p.add_argument("--a", type=int, action="store_true")`, "keyword action"},
		{`p.add_argument("-a", type=int)`, `want a "--flag"`},
		{`p.add_argument("--a", default=1)`, "no type="},
		{`p.add_argument("--a", type=list)`, "type=list"},
		{`p.add_argument("--a", type=int, default=f(1))`, "not a literal"},
		{`p.add_argument("--a", type=int, required=True, default=1)`, "both required and a default"},
		{"p.add_argument(\"--a\", type=int)\np.add_argument(\"--a\", type=str)", "already declared on line 1"},
		{`x = 1`, "no add_argument"},
	} {
		if _, err := ParseJobParams([]byte(c.src)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.src, err, c.want)
		}
	}
	ps, err := ParseJobParams([]byte(`p.add_argument('--x-y', type=float, default=-1.5e-3, help="a, (b) \"c\"",)  # note`))
	if err != nil || len(ps) != 1 || ps[0].Default != -1.5e-3 || ps[0].Type != "float" {
		t.Errorf("got %+v, %v", ps, err)
	}
	c, err := ParseJobConstants([]byte("A = [float(\"-inf\"), 1, 'x']\nB = None\n  C = 1\nd = 2\n"))
	if err != nil || !reflect.DeepEqual(c, map[string]any{"A": []any{math.Inf(-1), int64(1), "x"}, "B": nil}) {
		t.Errorf("constants %#v, %v", c, err)
	}
}

func FuzzParseJobParams(f *testing.F) {
	f.Add(JobSource())
	f.Add([]byte(`p.add_argument("--a", type=str, default='it\'s', help="x")`))
	f.Add([]byte(`p.add_argument("--a", type=float, default=[1, 2.5, float("inf")])`))
	f.Fuzz(func(t *testing.T, src []byte) {
		ps, err := ParseJobParams(src)
		if err != nil {
			return
		}
		for _, p := range ps {
			if !flagName.MatchString(p.Flag) || !argTypes[p.Type] || p.Line < 1 || (p.Required && p.Default != nil) {
				t.Fatalf("accepted %+v", p)
			}
		}
		if _, err := ParseJobConstants(src); err != nil {
			return
		}
	})
}
