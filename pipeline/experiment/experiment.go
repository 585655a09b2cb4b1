// Package experiment runs variants of the pipeline side by side without
// touching the workspace: `datalab exp run --sweep key=a,b,c` expands a grid
// of parameter overrides, gives every point its own workspace under
// .datalab/exps/<name>/ (a hard-linked mirror of the working tree with its
// own build/ and a copy of datalab.lock), runs them in parallel through
// stagerun with the shared content-addressed cache (.datalab/cache), and
// keeps a record of each (exp.json). `datalab exp show` tabulates them,
// `exp apply` makes one experiment's parameters and outputs the
// workspace's, `exp remove` and `exp gc` reclaim the space.
//
// It sits beside stagerun, above it: stagerun runs one pipeline in one
// directory; this package decides which directories and which overrides.
// The CLI (cmd/datalab/run_exp.go) only parses flags and prints.
package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// Experiment states, in the order an experiment goes through them. Done is
// written only after the run ended ok; a cancelled run (Ctrl-C) is
// Cancelled, never Done.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusDone      = "done"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// RecordFile is the experiment record's name inside its workspace.
const RecordFile = "exp.json"

// LogFile is where the stages' output of an experiment goes, inside its
// workspace.
const LogFile = "exp.log"

// Record is .datalab/exps/<name>/exp.json.
type Record struct {
	Name string `json:"name"`
	// Overrides are the parameters this experiment changes, by dotted key.
	Overrides map[string]any `json:"overrides"`
	// Targets are the stages asked for (empty: all).
	Targets []string `json:"targets,omitempty"`
	Status  string   `json:"status"`
	// RunID names the run record in the workspace's runs/ directory.
	RunID string    `json:"run_id,omitempty"`
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	Error string    `json:"error,omitempty"`
	// Stages are each stage's last known status (running, ran, cached,
	// skipped, failed, not-run), for progress and `exp show`.
	Stages map[string]string `json:"stages,omitempty"`
	// Metrics are the run record's metrics (flattened metrics files).
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

// Finished reports whether the experiment reached an end state.
func (r *Record) Finished() bool {
	switch r.Status {
	case StatusDone, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// Lab is the workspace (the directory of the pipeline file) seen as a
// home for experiments.
type Lab struct {
	// Root is the workspace: the pipeline file's directory.
	Root string
	// Pipeline is the pipeline file's name inside Root (datalab.yaml).
	Pipeline string
	// Runs, when set, is where run records go instead of <Root>/runs
	// (datalab run --runs-dir).
	Runs string
}

// NewLab returns the lab of the pipeline file at path.
func NewLab(pipelinePath string) (*Lab, error) {
	abs, err := filepath.Abs(pipelinePath)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("pipeline file: %w (run datalab exp in the directory of datalab.yaml, or pass --file)", err)
	}
	return &Lab{Root: filepath.Dir(abs), Pipeline: filepath.Base(abs)}, nil
}

// ExpsDir holds one workspace per experiment.
func (l *Lab) ExpsDir() string { return filepath.Join(l.Root, ".datalab", "exps") }

// CacheDir is the content-addressed stage cache shared by the workspace and
// every experiment.
func (l *Lab) CacheDir() string { return filepath.Join(l.Root, ".datalab", "cache") }

// RunsDir is where every run record goes, the experiments' included.
func (l *Lab) RunsDir() string {
	if l.Runs != "" {
		return l.Runs
	}
	return filepath.Join(l.Root, "runs")
}

// ReportsDir is the report site of the workspace.
func (l *Lab) ReportsDir() string { return filepath.Join(l.Root, "reports") }

// Dir is the workspace of the experiment called name.
func (l *Lab) Dir(name string) string { return filepath.Join(l.ExpsDir(), name) }

// PipelinePath is the workspace's pipeline file.
func (l *Lab) PipelinePath() string { return filepath.Join(l.Root, l.Pipeline) }

// LockPath is the workspace's lock file.
func (l *Lab) LockPath() string { return lockPathIn(l.Root, l.Pipeline) }

func lockPathIn(dir, pipeline string) string {
	return filepath.Join(dir, pipeline[:len(pipeline)-len(filepath.Ext(pipeline))]+".lock")
}

// ErrNotFound is returned for an experiment name without a workspace.
var ErrNotFound = errors.New("no such experiment")

// Record reads the record of the experiment called name.
func (l *Lab) Record(name string) (*Record, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	rec, err := readRecord(filepath.Join(l.Dir(name), RecordFile))
	if errors.Is(err, fs.ErrNotExist) {
		names, _ := l.names()
		return nil, fmt.Errorf("%w %q (known: %v; datalab exp show lists them)", ErrNotFound, name, names)
	}
	return rec, err
}

// List returns every experiment's record, oldest first (then by name).
// A workspace without a readable record is an error naming it.
func (l *Lab) List() ([]*Record, error) {
	names, err := l.names()
	if err != nil {
		return nil, err
	}
	var recs []*Record
	for _, n := range names {
		rec, err := readRecord(filepath.Join(l.Dir(n), RecordFile))
		if err != nil {
			return nil, fmt.Errorf("experiment %s: %w (datalab exp remove %s deletes it)", n, err, n)
		}
		recs = append(recs, rec)
	}
	sort.SliceStable(recs, func(i, j int) bool {
		if !recs[i].Start.Equal(recs[j].Start) {
			return recs[i].Start.Before(recs[j].Start)
		}
		return recs[i].Name < recs[j].Name
	})
	return recs, nil
}

// names lists the experiment workspaces (directories with a valid name).
func (l *Lab) names() ([]string, error) {
	ents, err := os.ReadDir(l.ExpsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && CheckName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func readRecord(path string) (*Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Overrides keep their YAML types (12 an int, 0.5 a float), as
	// DATALAB_SET does, so they apply again to the same params.
	if len(rec.Overrides) > 0 {
		raw, err := json.Marshal(rec.Overrides)
		if err == nil {
			rec.Overrides, err = stagerun.ParseOverridesJSON(string(raw))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: overrides: %w", path, err)
		}
	}
	return &rec, nil
}

// writeRecord stores rec in its workspace atomically.
func (l *Lab) writeRecord(rec *Record) error { return writeRecordIn(l.Dir(rec.Name), rec) }

func writeRecordIn(dir string, rec *Record) error {
	return atomicfile.Write(filepath.Join(dir, RecordFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rec)
	})
}
