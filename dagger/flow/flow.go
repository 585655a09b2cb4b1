// Package flow builds the container graphs behind the datalab Dagger module
// (dagger/main.go). Every function is the same shape: the Go image pinned in
// images.go, module and build cache volumes, the repository mounted at /src,
// the datalab CLI built from that source, and the commands a local run uses —
// `datalab run <stage…>`, `datalab notebooks run`, `make test`; SparkTrain
// then runs its one command in the Spark image (spark.go). What a stage
// does and what it depends on is datalab.yaml's and the CLI's business; nothing
// here knows more than stage names.
//
// flow uses the dagger.io/dagger SDK client types, not the module's generated
// ones, so that its graphs can be built and checked against a fake engine
// session in tests (flow_test.go); the module passes objects in and out by ID.
package flow

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"dagger.io/dagger"
)

// Paths and cache volume names inside every container.
const (
	SrcPath    = "/src"                   // the repository (the function's --src)
	MirrorPath = "/mirror"                // the optional data mirror (--mirror), as DATALAB_MIRROR
	CLIPath    = "/usr/local/bin/datalab" // on PATH, so datalab.yaml's commands find it

	GoModCachePath   = "/go/pkg/mod"           // GOMODCACHE of the golang image
	GoBuildCachePath = "/root/.cache/go-build" // GOCACHE for root
	GoModCache       = "datalab-go-mod"        // cache volume names, shared by all functions
	GoBuildCache     = "datalab-go-build"
)

// Stage names from datalab.yaml that the per-stage functions run; `datalab
// run` adds each one's upstream stages and skips what is up to date.
// TestStageListsCoverPipeline fails when datalab.yaml gains a stage of a kind
// these lists miss, or loses one they name.
var (
	IngestStages   = []string{"ingest-matches", "ingest-martj42", "ingest-bts2008", "ingest-bts2017", "ingest-flights3m"}
	TrainStages    = []string{"train-matches", "train-flights"}
	EvaluateStages = []string{"evaluate-matches", "evaluate-flights"}
	ReportStages   = []string{"report-matches", "report-flights"}
	NotebookStages = []string{"notebooks"}
)

// Lab builds the containers of one source tree.
type Lab struct {
	client  *dagger.Client
	src     *dagger.Directory
	mirror  *dagger.Directory
	goImage string
}

// Option configures a Lab.
type Option func(*Lab)

// WithMirror mounts dir at /mirror and names it in DATALAB_MIRROR, so
// `datalab data pull` (which every ingest stage runs) reads the data sets
// from it before trying their origin URLs. A nil dir is no mirror.
func WithMirror(dir *dagger.Directory) Option {
	return func(l *Lab) { l.mirror = dir }
}

// WithGoImage builds and runs every function in ref instead of GoImage: a
// registry mirror's copy of it, where the pinned digest cannot be pulled
// (docs/dagger.md: the real engine here pulls it from a loopback registry).
// Empty is GoImage.
func WithGoImage(ref string) Option {
	return func(l *Lab) {
		if ref != "" {
			l.goImage = ref
		}
	}
}

// New returns a Lab over the repository src.
func New(client *dagger.Client, src *dagger.Directory, opts ...Option) *Lab {
	l := &Lab{client: client, src: src, goImage: GoImage}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Go is the base of every function: GoImage (or WithGoImage's) with the
// module and build caches, the repository at /src as the working
// directory, and the mirror if any.
func (l *Lab) Go() *dagger.Container {
	ctr := l.client.Container().From(l.goImage).
		WithMountedCache(GoModCachePath, l.client.CacheVolume(GoModCache)).
		WithMountedCache(GoBuildCachePath, l.client.CacheVolume(GoBuildCache)).
		WithEnvVariable("GOTOOLCHAIN", "local").
		WithMountedDirectory(SrcPath, l.src).
		WithWorkdir(SrcPath)
	if l.mirror != nil {
		ctr = ctr.WithMountedDirectory(MirrorPath, l.mirror).
			WithEnvVariable("DATALAB_MIRROR", MirrorPath)
	}
	return ctr
}

// buildCLI builds the datalab CLI from /src onto PATH, as `make build` does.
var buildCLI = []string{"go", "build", "-o", CLIPath, "./cmd/datalab"}

// CLI is Go with the datalab CLI built.
func (l *Lab) CLI() *dagger.Container {
	return l.Go().WithExec(buildCLI)
}

// NotebookCLI is CLI with the notebook kernel `datalab run`'s notebooks stage
// needs (`bash .ci/setup notebooks`: Debian's jupyter-nbconvert and
// jupyter-client, GoNB built from tools/ into .bin).
func (l *Lab) NotebookCLI() *dagger.Container {
	return l.Go().WithExec([]string{"bash", ".ci/setup", "notebooks"}).WithExec(buildCLI)
}

// Test runs the repository's whole test suite (`make test`, the README's
// test command: .ci/setup, go vet, go test, the race runs, the fuzz
// targets) and returns its output. Not `bash .ci/run`, which adds `make
// test-dagger`: that starts a Dagger engine of its own, and this already
// runs in one.
//
// The command runs with all root capabilities (like `docker run
// --privileged`): ops/image's tests unpack the built images with umoci
// and run them with runc, which creates namespaces and mounts — what a
// container's default capabilities do not allow (TestRealEngineRootCapabilities
// shows both on the real engine). Only this command gets them, and it runs
// the repository's own tests.
func (l *Lab) Test(ctx context.Context) (string, error) {
	out, err := l.Go().WithExec([]string{"make", "test"},
		dagger.ContainerWithExecOpts{InsecureRootCapabilities: true}).Stdout(ctx)
	if err != nil {
		return "", failed("test", err)
	}
	return out, nil
}

// Ingest runs the ingest stages and returns build/ (the typed Parquet files
// and their quarantines are under build/parquet).
func (l *Lab) Ingest(ctx context.Context) (*dagger.Directory, error) {
	return l.stages(ctx, "ingest", l.CLI(), IngestStages, "build")
}

// Train runs the training stages (and what they need) and returns
// build/models.
func (l *Lab) Train(ctx context.Context) (*dagger.Directory, error) {
	return l.stages(ctx, "train", l.CLI(), TrainStages, "build/models")
}

// Evaluate runs the evaluation stages and returns build/, which holds the
// metrics files beside the models they describe.
func (l *Lab) Evaluate(ctx context.Context) (*dagger.Directory, error) {
	return l.stages(ctx, "evaluate", l.CLI(), EvaluateStages, "build")
}

// Report runs the report stages and returns the report site, reports/.
// With h.Remote the run fetches unchanged stages' outs from the bucket
// and merges the site's history kept there (History); h.Dir is for
// Run only.
func (l *Lab) Report(ctx context.Context, h History) (*dagger.Directory, error) {
	if err := h.check("report"); err != nil {
		return nil, err
	}
	if h.Dir != nil {
		return nil, fmt.Errorf("report: a history directory is for the run function; give report a bucket (--remote) or nothing")
	}
	ctr, remote := h.withRemote(l.CLI())
	return l.stages(ctx, "report", ctr, append(slices.Clone(ReportStages), remote...), "reports")
}

// Notebooks runs the notebooks stage (and the stages whose outputs the
// notebooks read) and returns reports/notebooks: the rendered pages with
// their sidecars, which the site index lists.
func (l *Lab) Notebooks(ctx context.Context) (*dagger.Directory, error) {
	return l.stages(ctx, "notebooks", l.NotebookCLI(), NotebookStages, "reports/notebooks")
}

// Run runs every stage of datalab.yaml — the notebooks and reports
// included, each of which rebuilds the site index — with the parameter
// overrides set (key.path=value, `datalab run --set`), and returns a
// directory holding the report site (reports/), the models (models/) and
// the run records with their lineage (runs/).
//
// The site keeps its history (History): with h.Remote, `datalab run
// --remote` fetches unchanged stages and earlier runs' reports from the
// bucket and pushes this run's; without one, h.Dir (or an empty directory)
// is mounted at HistoryPath, its runs are merged into reports/ before the
// run (`datalab report sync --remote /history --pull-only`), this run's are
// added after it, and the result also holds history/ for the next call.
func (l *Lab) Run(ctx context.Context, h History, set []string) (*dagger.Directory, error) {
	if err := h.check("run"); err != nil {
		return nil, err
	}
	overrides, err := setArgs("run", set)
	if err != nil {
		return nil, err
	}
	ctr, remote := h.withRemote(l.NotebookCLI())
	runCmd := append(append([]string{"datalab", "run"}, remote...), overrides...)
	cmds := [][]string{runCmd}
	outs := []struct{ name, from string }{{"reports", "reports"}, {"models", "build/models"}, {"runs", "runs"}}
	if h.Remote == "" {
		dir := h.Dir
		if dir == nil {
			dir = l.client.Directory()
		}
		ctr = ctr.WithMountedDirectory(HistoryPath, dir)
		sync := []string{"datalab", "report", "sync", "--remote", HistoryPath}
		cmds = [][]string{append(slices.Clone(sync), "--pull-only"), runCmd, sync}
		outs = append(outs, struct{ name, from string }{"history", HistoryPath})
	}
	ctr, err = run(ctx, "run", ctr, cmds...)
	if err != nil {
		return nil, err
	}
	out := l.client.Directory()
	for _, p := range outs {
		dir, err := output(ctx, "run", ctr, p.from)
		if err != nil {
			return nil, err
		}
		out = out.WithDirectory(p.name, dir)
	}
	return out, nil
}

// stages runs `datalab run <names…>` in ctr and returns the directory out of
// /src.
func (l *Lab) stages(ctx context.Context, what string, ctr *dagger.Container, names []string, out string) (*dagger.Directory, error) {
	ctr, err := run(ctx, what, ctr, append([]string{"datalab", "run"}, names...))
	if err != nil {
		return nil, err
	}
	return output(ctx, what, ctr, out)
}

// run adds the commands to ctr and runs them now, so that a failing command
// is reported by the function that ran it, with its exit code and stderr,
// rather than later by whoever exports the result.
func run(ctx context.Context, what string, ctr *dagger.Container, cmds ...[]string) (*dagger.Container, error) {
	for _, c := range cmds {
		ctr = ctr.WithExec(c)
	}
	done, err := ctr.Sync(ctx)
	if err != nil {
		return nil, failed(what, err)
	}
	return done, nil
}

// output returns the directory rel (relative to /src, or absolute) of
// ctr, checked to exist.
func output(ctx context.Context, what string, ctr *dagger.Container, rel string) (*dagger.Directory, error) {
	at := rel
	if !path.IsAbs(at) {
		at = path.Join(SrcPath, rel)
	}
	dir, err := ctr.Directory(at).Sync(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: output %s: %w", what, rel, err)
	}
	return dir, nil
}

// stderrLines is how much of a failed command's stderr an error repeats.
const stderrLines = 30

// failed wraps an engine error of the function what. A failed command
// (*dagger.ExecError, still reachable with errors.As) is described by its
// command line, exit code and the end of its stderr, which is where datalab
// and go test put the reason.
func failed(what string, err error) error {
	var ee *dagger.ExecError
	if !errors.As(err, &ee) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: `%s` exited with code %d (%w); stderr ends:\n%s",
		what, strings.Join(ee.Cmd, " "), ee.ExitCode, ee, lastLines(ee.Stderr, stderrLines))
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"…"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
