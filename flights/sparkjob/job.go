package sparkjob

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"

	"github.com/datalabhq/datalab/flights/flightmodel"
)

// JobFileName is the PySpark job's file name, wherever it is written or
// uploaded.
const JobFileName = "train_flights.py"

//go:embed train_flights.py
var jobSource []byte

// JobSource returns the PySpark job (train_flights.py) shipped with this
// binary.
func JobSource() []byte { return append([]byte(nil), jobSource...) }

// Job is one flight variant trained on Spark.
type Job struct {
	// Variant is the params.flights variant: data, features, categorical,
	// forest.
	Variant flightmodel.VariantConfig
	// TestFraction and SplitSeed are params.flights' split; the job passes
	// them to Spark's randomSplit (which is not Go's PCG permutation).
	TestFraction float64
	SplitSeed    uint64
	// ModelDir is the local directory the trained PipelineModel ends up in
	// (replaced only once the new model loads).
	ModelDir string
}

// NewJob returns the job of variant v of cfg, with its model going to
// modelsDir/<variant>.
func NewJob(cfg flightmodel.Config, v flightmodel.VariantConfig, modelsDir string) Job {
	return Job{Variant: v, TestFraction: cfg.TestFraction, SplitSeed: cfg.SplitSeed, ModelDir: flightmodel.ModelDir(modelsDir, v.Name)}
}

// Args returns the job's command-line arguments with the data read from
// data and the model saved to output (paths or s3:// URIs, as the runner
// sees them). Every field of the variant's configuration is passed, the
// forest's with Spark's defaults filled in (forest.Config.Params), so
// the job's own defaults never decide anything. The flag of a field is its
// YAML key in params.flights with "_" written "-".
func (j Job) Args(data, output string) []string {
	p := j.Variant.Forest.Params()
	return []string{
		"--test-fraction", strconv.FormatFloat(j.TestFraction, 'g', -1, 64),
		"--split-seed", strconv.FormatUint(j.SplitSeed, 10),
		"--name", j.Variant.Name,
		"--data", data,
		"--features", strings.Join(j.Variant.Features, ","),
		"--categorical", strconv.FormatBool(j.Variant.Categorical),
		"--num-trees", strconv.Itoa(p.NumTrees),
		"--max-depth", strconv.Itoa(p.MaxDepth),
		"--max-bins", strconv.Itoa(p.MaxBins),
		"--min-instances-per-node", strconv.Itoa(p.MinInstancesPerNode),
		"--feature-subset", p.FeatureSubsetStrategy,
		"--impurity", p.Impurity,
		"--seed", strconv.FormatInt(p.Seed, 10),
		"--output", output,
	}
}

// Validate checks the job before anything is submitted: the variant has a
// name, data and features, a model directory is set, and every argument
// Args passes is one the embedded PySpark job declares, with a value of
// the declared type, and every argument the job requires is passed.
func (j Job) Validate() error {
	switch {
	case j.Variant.Name == "":
		return fmt.Errorf("spark job: the variant has no name")
	case j.Variant.Data == "" || len(j.Variant.Features) == 0:
		return fmt.Errorf("spark job %s: the variant needs data and features", j.Variant.Name)
	case j.ModelDir == "":
		return fmt.Errorf("spark job %s: no model directory", j.Variant.Name)
	case !(j.TestFraction > 0 && j.TestFraction < 1):
		return fmt.Errorf("spark job %s: test fraction %v, want a value in (0, 1)", j.Variant.Name, j.TestFraction)
	}
	params, err := ParseJobParams(jobSource)
	if err != nil {
		return fmt.Errorf("embedded %s: %w", JobFileName, err)
	}
	return checkArgs(params, j.Args("data", "output"))
}

// checkArgs checks "--flag value" pairs against the job's declared params.
func checkArgs(params []JobParam, args []string) error {
	declared := map[string]JobParam{}
	for _, p := range params {
		declared[p.Flag] = p
	}
	given := map[string]bool{}
	for i := 0; i+1 < len(args); i += 2 {
		flag, val := args[i], args[i+1]
		p, ok := declared[flag]
		if !ok {
			return fmt.Errorf("%s does not declare %s: the job and the Go side disagree (see TestJobParamsMatchGo)", JobFileName, flag)
		}
		if _, err := p.parse(val); err != nil {
			return fmt.Errorf("%s %q: %w", flag, val, err)
		}
		given[flag] = true
	}
	for _, p := range params {
		if p.Required && !given[p.Flag] {
			return fmt.Errorf("%s requires %s, which the Go side does not pass", JobFileName, p.Flag)
		}
	}
	return nil
}

// parse converts a command-line value as the param's argparse type would.
func (p JobParam) parse(s string) (any, error) {
	switch p.Type {
	case "int":
		return strconv.ParseInt(s, 10, 64)
	case "float":
		return strconv.ParseFloat(s, 64)
	case "parse_bool":
		return strconv.ParseBool(s)
	}
	return s, nil
}
