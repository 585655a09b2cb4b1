package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/datalabhq/datalab/pipeline/evaluate"
)

// SidecarSuffix ends the name of the JSON file written next to each report:
// runs/<run-id>/<name>.html has runs/<run-id>/<name>.report.json.
const SidecarSuffix = ".report.json"

// Sidecar is the machine-readable summary of one report, read by
// BuildIndex. Rendered notebooks may carry one too (Kind "notebook").
type Sidecar struct {
	Kind    string             `json:"kind"`  // report name; the index diffs runs of the same kind
	Title   string             `json:"title"` // document title
	HTML    string             `json:"html"`  // file name of the report, relative to the sidecar
	RunID   string             `json:"run_id,omitempty"`
	Created *time.Time         `json:"created,omitempty"` // run time, when the report was given one
	Commit  string             `json:"commit,omitempty"`
	Dirty   bool               `json:"dirty,omitempty"`
	Metrics map[string]float64 `json:"metrics,omitempty"` // headline metrics, see Report.Headline
	Curves  *Curves            `json:"curves,omitempty"`  // the headline result's curves, see Report.Headline
}

// Sidecar returns the summary Write stores next to the report saved under
// the file name htmlName.
func (r *Report) Sidecar(htmlName string) Sidecar {
	s := Sidecar{
		Kind:  strings.TrimSuffix(htmlName, filepath.Ext(htmlName)),
		Title: r.title,
		HTML:  htmlName,
	}
	if l := r.lineage; l != nil {
		s.RunID, s.Commit, s.Dirty = l.RunID, l.Commit, l.Dirty
		if !l.Created.IsZero() {
			t := l.Created.UTC()
			s.Created = &t
		}
	}
	s.Curves = r.curves
	if len(r.headline) > 0 {
		s.Metrics = make(map[string]float64, len(r.headline))
		for k, v := range r.headline {
			s.Metrics[k] = v
		}
	}
	return s
}

// RunPath is where a run's report goes: <reportsDir>/runs/<runID>/<name>.html.
func RunPath(reportsDir, runID, name string) string {
	return filepath.Join(reportsDir, "runs", runID, name+".html")
}

// SidecarPath is the sidecar file of the report at htmlPath.
func SidecarPath(htmlPath string) string {
	return strings.TrimSuffix(htmlPath, filepath.Ext(htmlPath)) + SidecarSuffix
}

// ReadSidecar reads the sidecar file at path.
func ReadSidecar(path string) (Sidecar, error) {
	return ReadSidecarAs[Sidecar](path)
}

// ReadSidecarAs reads the sidecar file at path into a T: Sidecar, or a type
// embedding it with more fields (notebook.Sidecar adds the parameters).
func ReadSidecarAs[T any](path string) (T, error) {
	var s T
	data, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read report sidecar: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("read report sidecar %s: %w (delete it or re-run the stage that wrote it)", path, err)
	}
	return s, nil
}

func marshalSidecar(s Sidecar) ([]byte, error) {
	return evaluate.MarshalDeterministic(s)
}
