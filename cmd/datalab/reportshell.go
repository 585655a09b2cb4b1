package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/report"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// useCaseReport is what `datalab report <use case>` does for every use case:
// render the report twice — an input-determined copy (no run id, commit or
// Go version, so the pipeline can check its bytes across runs) and the run's
// report with full lineage under <reports>/runs/<run-id>/ — then rebuild the
// site index, with the picture of the pipeline's stage graph. Only build
// differs between use cases; both copies end with the data-quality section
// of the ingest outputs the use case reads.
type useCaseReport struct {
	kind         string             // report kind, the file name in the run directory
	metricsPath  string             // the evaluation output; its hash names a run without a run id
	pipelinePath string             // datalab.yaml; its directory is the git repository for lineage
	pipeline     *stagerun.Pipeline // as loaded with its overrides (LoadEnv): lineage overrides, the index's stage graph
	pointers     []string           // data pointer files whose oids the lineage lists
	ingestOuts   []string           // ingest Parquet outputs the data-quality section reports
	params       map[string]any
	stableOut    string // the input-determined copy
	reportsDir   string
	runID        string
	build        func(report.Lineage) (*report.Report, error)
}

func (u useCaseReport) write(out io.Writer) error {
	oids, err := stagerun.PointerOids(u.pointers)
	if err != nil {
		return err
	}
	base := report.Lineage{DataOids: oids, Params: u.params, Overrides: report.RelevantOverrides(u.pipeline.Overrides, u.params)}
	var quality []report.DataQuality
	for _, p := range u.ingestOuts {
		q, err := report.ReadDataQuality(p)
		if err != nil {
			return err
		}
		quality = append(quality, q)
	}
	build := func(l report.Lineage) (*report.Report, error) {
		r, err := u.build(l)
		if err == nil && len(quality) > 0 {
			r.DataQuality(quality)
		}
		return r, err
	}

	stableLineage := base
	stableLineage.Commit = "not recorded in this input-determined copy (see the run's report under reports/runs/)"
	stable, err := build(stableLineage)
	if err != nil {
		return err
	}
	// Only the HTML: the stable copy is not a run's report and must not
	// appear in the site index, so it gets no sidecar.
	html, err := stable.Render()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(u.stableOut, html); err != nil {
		return err
	}

	runID := u.runID
	if runID == "" {
		b, err := os.ReadFile(u.metricsPath)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		runID = u.kind + "-" + hex.EncodeToString(sum[:])[:12]
	}
	full := base
	full.RunID, full.GoVersion = runID, runtime.Version()
	gs := stagerun.GitStateOf(filepath.Dir(u.pipelinePath))
	full.Commit, full.Dirty = gs.Commit, gs.Dirty
	if gs.Error != "" {
		slog.Warn("report lineage without commit", "err", gs.Error)
		full.Commit = "unknown (" + gs.Error + ")"
	}
	r, err := build(full)
	if err != nil {
		return err
	}
	path := report.RunPath(u.reportsDir, runID, u.kind)
	if err := r.Write(path); err != nil {
		return err
	}
	if err := report.WriteDAGFile(u.reportsDir, u.pipeline.DAG()); err != nil {
		return err
	}
	if err := report.BuildIndex(u.reportsDir); err != nil {
		return fmt.Errorf("rebuild the report site index: %w", err)
	}
	fmt.Fprintf(out, "wrote %s and %s; index %s\n", path, u.stableOut, filepath.Join(u.reportsDir, "index.html"))
	return nil
}

var reportIndexDir string

var reportIndexCmd = &cobra.Command{
	Use:   "index",
	Short: "Rebuild the report site index (reports/index.html, trends, diff pages)",
	Long: `index scans the reports directory — every run's reports and published run
record under runs/<run-id>/, rendered notebooks under notebooks/ — and rewrites:

  index.html          the stage graph (reports/pipeline.svg, when present),
                      trend plots (one per headline metric and report kind, a
                      point per run), the newest change of each kind, the
                      newest 50 runs and every notebook
  index-2.html, …     older runs, 50 a page, with newer/older links
  diffs/<A>..<B>.html the diff page of each run and the previous run of the
                      same report kind (see datalab report diff)

Each run row shows its id, start time, experiment, overrides, commit, its
reports with their headline metrics and a "vs previous" link to its diff
page. Same files, same bytes; pages of a longer run list that no longer
exist are removed. The report commands and datalab run already rebuild the
index; run this after deleting or copying runs.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		if err := report.BuildIndex(reportIndexDir); err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), "wrote", filepath.Join(reportIndexDir, "index.html"))
		return nil
	},
}

func init() {
	reportIndexCmd.Flags().StringVar(&reportIndexDir, "reports-dir", "reports", "the report site directory")
	subcommandGroup("report", "Write HTML reports").AddCommand(reportIndexCmd)
}
