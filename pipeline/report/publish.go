package report

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// StableCommit is the commit line of the input-determined copy of a
// use-case report (see UseCaseReport): the copy records no commit, so its
// bytes depend only on the inputs.
const StableCommit = "not recorded in this input-determined copy (see the run's report under reports/runs/)"

// UseCaseReport is one use case's report as `datalab report <use case>`
// publishes it, and as a notebook or a Dagger function can publish it the
// same way: Publish renders it twice —
//
//   - the input-determined copy at StableOut: no run id, commit or Go
//     version (the commit line says StableCommit) and no sidecar, so its
//     bytes depend only on the inputs and the pipeline can check them
//     across runs, and the site index never lists it;
//   - the run's report at RunPath(ReportsDir, run id, Kind) with its
//     sidecar and full lineage: run id, git commit and dirty flag of
//     RepoDir, Go version —
//
// then writes the pipeline's stage graph (WriteDAGFile) and rebuilds the
// site index (BuildIndex). Both copies list the same data oids, parameters
// and relevant overrides, and end with the data-quality section of
// IngestOuts. Only Build differs between use cases.
type UseCaseReport struct {
	// Kind names the report: its file name in the run directory and the
	// prefix of a run id derived from the metrics (MetricsRunID).
	Kind string
	// MetricsPath is the evaluation output the report renders; its sha256
	// names the run when RunID is empty.
	MetricsPath string
	// RepoDir is the git work tree whose commit the run's lineage records
	// (the pipeline file's directory).
	RepoDir string
	// Pipeline is the pipeline as loaded with its overrides
	// (stagerun.LoadEnv): the overrides relevant to Params go into the
	// lineage, its stage graph onto the index.
	Pipeline *stagerun.Pipeline
	// Pointers are the data pointer files whose oids the lineage lists.
	Pointers []string
	// IngestOuts are the ingest Parquet outputs (quarantine file beside)
	// whose rows read, written and quarantined the data-quality section
	// lists (ReadDataQuality); none, no section.
	IngestOuts []string
	// Params are the parameters the lineage lists, by dotted key (e.g.
	// UseCaseParams(pipeline, "flights")).
	Params map[string]any
	// StableOut is the path of the input-determined copy.
	StableOut string
	// ReportsDir is the report site; the run's report goes under
	// ReportsDir/runs/<run id>/.
	ReportsDir string
	// RunID is the pipeline run (DATALAB_RUN_ID, set by datalab run);
	// empty: MetricsRunID(Kind, MetricsPath).
	RunID string
	// Build composes the use case's report with the given lineage block
	// (Publish calls it once per copy).
	Build func(Lineage) (*Report, error)
}

// Published says where UseCaseReport.Publish wrote.
type Published struct {
	RunID      string // given, or derived from the metrics
	RunPath    string // the run's report, <ReportsDir>/runs/<RunID>/<Kind>.html
	StablePath string // the input-determined copy
	IndexPath  string // the rebuilt site index, <ReportsDir>/index.html
}

// Publish writes the input-determined copy, then the run's report, the
// stage graph and the site index, as UseCaseReport describes.
func (u UseCaseReport) Publish() (Published, error) {
	oids, err := stagerun.PointerOids(u.Pointers)
	if err != nil {
		return Published{}, err
	}
	base := Lineage{DataOids: oids, Params: u.Params, Overrides: RelevantOverrides(u.Pipeline.Overrides, u.Params)}
	var quality []DataQuality
	for _, p := range u.IngestOuts {
		q, err := ReadDataQuality(p)
		if err != nil {
			return Published{}, err
		}
		quality = append(quality, q)
	}
	build := func(l Lineage) (*Report, error) {
		r, err := u.Build(l)
		if err == nil && len(quality) > 0 {
			r.DataQuality(quality)
		}
		return r, err
	}

	stableLineage := base
	stableLineage.Commit = StableCommit
	stable, err := build(stableLineage)
	if err != nil {
		return Published{}, err
	}
	// Only the HTML: the stable copy is not a run's report and must not
	// appear in the site index, so it gets no sidecar.
	html, err := stable.Render()
	if err != nil {
		return Published{}, err
	}
	if err := atomicfile.WriteFile(u.StableOut, html); err != nil {
		return Published{}, err
	}

	runID := u.RunID
	if runID == "" {
		if runID, err = MetricsRunID(u.Kind, u.MetricsPath); err != nil {
			return Published{}, err
		}
	}
	full := base
	full.RunID, full.GoVersion = runID, runtime.Version()
	gs := stagerun.GitStateOf(u.RepoDir)
	full.Commit, full.Dirty = gs.Commit, gs.Dirty
	if gs.Error != "" {
		slog.Warn("report lineage without commit", "err", gs.Error)
		full.Commit = "unknown (" + gs.Error + ")"
	}
	r, err := build(full)
	if err != nil {
		return Published{}, err
	}
	path := RunPath(u.ReportsDir, runID, u.Kind)
	if err := r.Write(path); err != nil {
		return Published{}, err
	}
	if err := WriteDAGFile(u.ReportsDir, u.Pipeline.DAG()); err != nil {
		return Published{}, err
	}
	if err := BuildIndex(u.ReportsDir); err != nil {
		return Published{}, fmt.Errorf("rebuild the report site index: %w", err)
	}
	return Published{RunID: runID, RunPath: path, StablePath: u.StableOut, IndexPath: filepath.Join(u.ReportsDir, "index.html")}, nil
}

// MetricsRunID is the run id of a use-case report published without one:
// kind + "-" + the first 12 hex digits of the metrics file's sha256, so the
// same evaluation always lands in the same run directory.
func MetricsRunID(kind, metricsPath string) (string, error) {
	b, err := os.ReadFile(metricsPath)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return kind + "-" + hex.EncodeToString(sum[:])[:12], nil
}

// UseCaseParams returns the leaves of params.<key> of a pipeline, by dotted
// key (flights.variants, flights.test_fraction, …): the parameters a use
// case's report lists in its lineage.
func UseCaseParams(p *stagerun.Pipeline, key string) map[string]any {
	out := map[string]any{}
	for k, v := range p.FlatParams() {
		if strings.HasPrefix(k, key+".") {
			out[k] = v
		}
	}
	return out
}
