package report_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/report"
)

func Example() {
	reports, err := os.MkdirTemp("", "reports")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(reports)

	classes := []string{"lose", "win"}
	yTrue := []int{0, 0, 1, 1, 1, 0}
	model, _ := evaluate.Classification(classes, yTrue, [][]float64{
		{0.8, 0.2}, {0.6, 0.4}, {0.3, 0.7}, {0.45, 0.55}, {0.7, 0.3}, {0.5, 0.5},
	})
	baseline, _ := evaluate.FromPredictions(classes, yTrue, []int{0, 1, 1, 1, 0, 0})
	comps := []evaluate.Comparison{{Name: "forest", Result: model}, {Name: "better rank wins", Result: baseline}}

	runID := "20261123T121400Z-1a2b3c"
	r := report.New("Match winner: hold-out evaluation")
	r.Lineage(report.Lineage{Commit: "0123abc", RunID: runID, Created: time.Date(2026, 11, 23, 12, 14, 0, 0, time.UTC)})
	r.Section("Metrics", "Six matches, for illustration.")
	r.MetricsTable("Hold-out metrics", comps)
	r.Confusion("Confusion (forest)", model)
	r.ROCPlot("ROC", comps)
	r.CalibrationPlot("Calibration", comps)
	r.BarChart("Feature importances", []string{"rank difference", "points difference"}, []float64{0.7, 0.3})
	r.Headline(model)
	if err := r.Write(report.RunPath(reports, runID, "matchwinner-binary")); err != nil {
		panic(err)
	}
	if err := report.BuildIndex(reports); err != nil {
		panic(err)
	}
	filepath.WalkDir(reports, func(path string, d os.DirEntry, err error) error {
		if !d.IsDir() {
			rel, _ := filepath.Rel(reports, path)
			fmt.Println(filepath.ToSlash(rel))
		}
		return nil
	})
	// Output:
	// index.html
	// runs/20261123T121400Z-1a2b3c/matchwinner-binary.html
	// runs/20261123T121400Z-1a2b3c/matchwinner-binary.report.json
}
