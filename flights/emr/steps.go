package emr

import (
	"debug/elf"
	_ "embed"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/emr/types"

	"github.com/datalabhq/datalab/flights/sparkjob"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// Objects the runner writes besides the data.
const (
	// BootstrapScriptName is the bootstrap action's script under scripts/.
	BootstrapScriptName = "bootstrap-datalab.sh"
	// BinaryName is the datalab binary under bin/.
	BinaryName = "datalab"
	// CommandRunner is EMR's jar that runs a command on the master node.
	CommandRunner = "command-runner.jar"
)

//go:embed bootstrap.sh
var bootstrapScript []byte

// ingestScript is the ingest step's command (command-runner.jar runs
// `bash -c SCRIPT datalab-ingest ARGS…`): $1 the data set, $2 the raw/ URI,
// $3 the parquet/ URI, then the raw directories to copy. It runs the same
// `datalab ingest` as a local run, on the master node, and puts the Parquet
// file and its quarantine where a local run's would map (parquet/<set>.*).
const ingestScript = `set -euo pipefail
dataset="$1" raw="$2" parquet="$3"
shift 3
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for dir in "$@"; do aws s3 cp --recursive --only-show-errors "$raw/$dir/" "$work/data/$dir/"; done
datalab ingest "$dataset" --data-dir "$work/data" --out "$work/$dataset.parquet"
aws s3 cp --only-show-errors "$work/$dataset.parquet" "$parquet/$dataset.parquet"
aws s3 cp --only-show-errors "$work/$dataset.quarantine.jsonl" "$parquet/$dataset.quarantine.jsonl"`

// Ingest makes the cluster ingest the variant's data set itself: the raw
// files are uploaded to raw/ and an ingest step runs datalab (installed on
// every node by a bootstrap action) on the master node.
type Ingest struct {
	// DataDir is the local directory `datalab data pull` filled (data/).
	DataDir string
	// Binary is a datalab executable for the cluster's nodes: linux, the
	// nodes' architecture (amd64 for DefaultInstanceTypes), best static
	// (CGO_ENABLED=0).
	Binary string
}

// upload is one object the runner puts in the bucket before the cluster
// starts: a local file or bytes.
type upload struct {
	key  string
	file string
	data []byte
}

// plan is what Submit does for a job.
type plan struct {
	uploads   []upload
	bootstrap []types.BootstrapActionConfig
	steps     []types.StepConfig
	// modelKey is the prefix the training step saves the model under.
	modelKey string
}

// makePlan lays out a job in the bucket: the PySpark job in scripts/, the
// data in parquet/ (uploaded, or produced by an ingest step from raw/), the
// model in models/flights/<variant>.
func makePlan(cfg Config, job sparkjob.Job, in *Ingest) (*plan, error) {
	b := cfg.Bucket
	p := &plan{modelKey: b.Key(ModelsPrefix, "flights", job.Variant.Name)}
	parquetName := filepath.Base(job.Variant.Data)
	if in == nil {
		p.uploads = append(p.uploads, upload{key: b.Key(ParquetPrefix, parquetName), file: job.Variant.Data})
	} else {
		ds, err := datasetOf(job.Variant.Data)
		if err != nil {
			return nil, err
		}
		raw, err := rawFiles(in.DataDir, ds)
		if err != nil {
			return nil, err
		}
		var dirs []string
		for _, rel := range raw {
			p.uploads = append(p.uploads, upload{key: b.Key(RawPrefix, rel), file: filepath.Join(in.DataDir, filepath.FromSlash(rel))})
			if dir, _, _ := strings.Cut(rel, "/"); !slices.Contains(dirs, dir) {
				dirs = append(dirs, dir)
			}
		}
		if err := checkNodeBinary(in.Binary, append(slices.Clone(cfg.MasterInstanceTypes), cfg.CoreInstanceTypes...)); err != nil {
			return nil, err
		}
		p.uploads = append(p.uploads,
			upload{key: b.Key(BinPrefix, BinaryName), file: in.Binary},
			upload{key: b.Key(ScriptsPrefix, BootstrapScriptName), data: bootstrapScript})
		p.bootstrap = []types.BootstrapActionConfig{{
			Name: aws.String("install datalab"),
			ScriptBootstrapAction: &types.ScriptBootstrapActionConfig{
				Path: aws.String(b.URI(ScriptsPrefix, BootstrapScriptName)),
				Args: []string{b.URI(BinPrefix, BinaryName)},
			},
		}}
		args := append([]string{"bash", "-c", ingestScript, "datalab-ingest", ds.Name, b.URI(RawPrefix), b.URI(ParquetPrefix)}, dirs...)
		p.steps = append(p.steps, step("datalab ingest "+ds.Name, args))
		parquetName = ds.Name + ".parquet"
	}
	p.uploads = append(p.uploads, upload{key: b.Key(ScriptsPrefix, sparkjob.JobFileName), data: sparkjob.JobSource()})
	train := append([]string{"spark-submit", "--deploy-mode", "cluster", b.URI(ScriptsPrefix, sparkjob.JobFileName)},
		job.Args(b.URI(ParquetPrefix, parquetName), "s3://"+b.Name+"/"+p.modelKey)...)
	p.steps = append(p.steps, step("datalab train flights "+job.Variant.Name+" (Spark)", train))
	return p, nil
}

// step runs args on the master node with command-runner.jar. A failed step
// cancels the later ones and leaves the cluster waiting, for the runner to
// report the failure and terminate it.
func step(name string, args []string) types.StepConfig {
	return types.StepConfig{
		Name:            aws.String(name),
		ActionOnFailure: types.ActionOnFailureCancelAndWait,
		HadoopJarStep:   &types.HadoopJarStepConfig{Jar: aws.String(CommandRunner), Args: args},
	}
}

// datasetOf is the ingest data set whose output a variant's data file is
// (build/parquet/<name>.parquet ← `datalab ingest <name>`).
func datasetOf(data string) (ingest.Dataset, error) {
	name := strings.TrimSuffix(filepath.Base(data), ".parquet")
	for _, d := range ingest.Datasets() {
		if d.Name == name && d.Flights {
			return d, nil
		}
	}
	return ingest.Dataset{}, fmt.Errorf("%s is not the output of a flight ingest (`datalab ingest <set>` writes build/parquet/<set>.parquet): ingest it locally and upload it instead (--emr-ingest=false)", data)
}

// rawFiles lists the files `datalab ingest` reads for ds under dataDir,
// slash-separated and relative to it: the data set's default inputs and,
// for flights, the distance table.
func rawFiles(dataDir string, ds ingest.Dataset) ([]string, error) {
	patterns := slices.Clone(ds.DefaultInputs)
	if ds.Flights {
		patterns = append(patterns, ingest.DefaultDistances)
	}
	var out []string
	for _, pat := range patterns {
		matches, err := filepath.Glob(filepath.Join(dataDir, filepath.FromSlash(pat)))
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("no %s under %s: run `datalab data pull %s distances` first", pat, dataDir, ds.PullSet)
		}
		for _, m := range matches {
			if st, err := os.Stat(m); err != nil || !st.Mode().IsRegular() {
				return nil, fmt.Errorf("%s: not a regular file (%v)", m, err)
			}
			rel, err := filepath.Rel(dataDir, m)
			if err != nil {
				return nil, err
			}
			out = append(out, path.Clean(filepath.ToSlash(rel)))
		}
	}
	return out, nil
}

// buildAdvice says how to get a binary the nodes run.
const buildAdvice = "build one with `CGO_ENABLED=0 GOOS=linux GOARCH=%s go build -o datalab-linux-%s ./cmd/datalab` and pass it (--datalab-binary), or ingest locally and upload the Parquet file (--emr-ingest=false)"

// checkNodeBinary checks, before any cluster is paid for, that the datalab
// binary for the ingest step is a Linux executable for the architecture of
// the instance types (Graviton types — m6g, c7gn, r6gd… — are arm64, the
// rest amd64). A dynamically linked one is accepted with a warning: it
// needs a C library on the nodes (Amazon Linux 2023 on EMR 7) at least as
// new as the one it was built against.
func checkNodeBinary(file string, instanceTypes []string) error {
	arch := "amd64"
	if len(instanceTypes) > 0 {
		arch = instanceArch(instanceTypes[0])
	}
	for _, it := range instanceTypes {
		if instanceArch(it) != arch {
			return fmt.Errorf("instance types %v mix amd64 and arm64: the ingest step's one binary cannot run on both", instanceTypes)
		}
	}
	if file == "" {
		return fmt.Errorf("the ingest step runs datalab on the cluster's nodes and needs a linux/%s binary: "+buildAdvice, arch, arch, arch)
	}
	f, err := elf.Open(file)
	if err != nil {
		return fmt.Errorf("datalab binary %s is not a Linux executable (%v): "+buildAdvice, file, err, arch, arch)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != want || (f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN) {
		return fmt.Errorf("datalab binary %s is a %v %v file, the nodes (%v) need linux/%s: "+buildAdvice, file, f.Machine, f.Type, instanceTypes, arch, arch, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			slog.Warn("the datalab binary for the EMR nodes is dynamically linked; if the ingest step fails to start it, build it with CGO_ENABLED=0", "binary", file)
			break
		}
	}
	return nil
}

// graviton matches the arm64 instance families: a 'g' among the letters
// after the generation digit (m6g, m7gd, c7gn; not g4dn or m6i).
var graviton = regexp.MustCompile(`^[a-z]+[0-9]+[a-z]*g[a-z]*\.`)

func instanceArch(instanceType string) string {
	if graviton.MatchString(instanceType) {
		return "arm64"
	}
	return "amd64"
}
