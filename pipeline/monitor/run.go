package monitor

import (
	"context"
	"fmt"
	"sync"

	"github.com/datalabhq/datalab/pipeline/drift"
	"github.com/datalabhq/datalab/pipeline/registry"
)

// Source is what a use case gives the monitor: its served requests, its
// models and its training data, as drift.Samples. M is its loaded model
// (*matchmodel.Model, *flightdelay.Scorer).
type Source[M any] interface {
	// Served counts the requests of w per version, most first.
	Served(ctx context.Context, w Window) ([]Served, error)
	// Load loads a model directory: a local model, or a version fetched
	// from the registry.
	Load(dir string) (M, error)
	// Name is the version the log records for m when it is not served
	// from the registry (its own version or name).
	Name(m M) string
	// DataSets are the catalog data sets m's reference is read from, for
	// the lineage check; v is m's registry record.
	DataSets(m M, v registry.Version) ([]string, error)
	// Reference is the reference sample of m — the training data of its
	// version, read from data (the use case's default path when ""), with
	// the model's predicted classes on it — and a sentence saying what it
	// is. v is m's registry record, nil for a local model.
	Reference(ctx context.Context, m M, v *registry.Version, data string) (drift.Sample, string, error)
	// Current is the sample of the requests of version in w; rows is how
	// many there are expected to be (a capacity hint, 0 when unknown).
	Current(ctx context.Context, m M, version string, w Window, rows int) (drift.Sample, error)
}

// Config is one monitor run.
type Config struct {
	// Model is the model's name in the registry ("matches", "flights").
	Model string
	// Registry resolves --version and registry version ids in the log;
	// nil when there is none (only local models can then be judged).
	Registry Registry
	// CacheDir is where registry versions are fetched to.
	CacheDir string
	// LocalModel is the model directory of versions the registry does
	// not hold (the log's most-served version is then checked to be its
	// Name).
	LocalModel string
	// ReferenceData overrides the use case's reference data path; the
	// lineage check is then skipped (the report says so).
	ReferenceData string
	// Root is the repository root holding data/pointers.
	Root string
	// Window is the time window of requests judged.
	Window Window
	// Version picks the version to judge (id, prefix, @alias); "" is the
	// one that served most of the window.
	Version string
	// Drift are the binning and thresholds.
	Drift drift.Options
}

// Run judges the served requests of one version against its training data:
// Choose the version, load it (fetched from the registry, or the local
// model), check the local data against its lineage, build the reference,
// read the window's requests and compare.
func Run[M any](ctx context.Context, src Source[M], c Config) (*Report, error) {
	served, err := src.Served(ctx, c.Window)
	if err != nil {
		return nil, err
	}
	t, err := Choose(ctx, c.Registry, c.Model, served, c.Version)
	if err != nil {
		return nil, err
	}
	var (
		m     M
		notes []string
	)
	if v := t.Registered; v != nil {
		dir, err := c.Registry.Fetch(ctx, c.Model, v.ID, c.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("fetch version %s of %s: %w", registry.Short(v.ID), c.Model, err)
		}
		if m, err = src.Load(dir); err != nil {
			return nil, err
		}
		if c.ReferenceData == "" {
			sets, err := src.DataSets(m, *v)
			if err != nil {
				return nil, err
			}
			note, err := CheckData(*v, c.Root, sets...)
			if err != nil {
				return nil, err
			}
			notes = append(notes, note)
		}
	} else {
		if m, err = src.Load(c.LocalModel); err != nil {
			return nil, err
		}
		if name := src.Name(m); t.Version != "" && name != t.Version {
			return nil, fmt.Errorf("the requests of the window were answered by %s, which is not in the model registry (--registry), and the local model %s is %s: give --model the directory of %s, or --version a registry version",
				t.Version, c.LocalModel, name, t.Version)
		} else if t.Version == "" {
			t.Version = name
		}
		notes = append(notes, fmt.Sprintf("The model is the local directory %s.", c.LocalModel))
	}
	if c.ReferenceData != "" {
		notes = append(notes, fmt.Sprintf("The reference data is %s (--reference-data): not checked against the version's lineage.", c.ReferenceData))
	}
	var j Judge[M]
	rep, err := j.judge(ctx, src, m, t, c.Window, c.ReferenceData, c.Drift)
	if err != nil {
		return nil, err
	}
	rep.Notes = append(notes, rep.Notes...)
	return rep, nil
}

// Judge compares the requests a server answers with the reference of the
// version answering them, building each version's reference once: the
// match dashboard's panel calls Check every few minutes, and a hot swap
// changes the version. It keeps the reference of the last version judged.
// Safe for concurrent use.
type Judge[M any] struct {
	mu      sync.Mutex
	version string
	ref     *drift.Reference
	text    string
}

// Check judges the requests of w that version (m, served as version)
// answered. Model names the model in the report. Its data is the use
// case's default reference data, not checked against a lineage (the
// report says so).
func (j *Judge[M]) Check(ctx context.Context, src Source[M], model string, m M, version string, w Window, o drift.Options) (*Report, error) {
	t := Target{Model: model, Version: version}
	return j.judge(ctx, src, m, t, w, "", o)
}

func (j *Judge[M]) judge(ctx context.Context, src Source[M], m M, t Target, w Window, data string, o drift.Options) (*Report, error) {
	ref, text, err := j.reference(ctx, src, m, t, data, o)
	if err != nil {
		return nil, err
	}
	cur, err := src.Current(ctx, m, t.Version, w, int(t.Rows))
	if err != nil {
		return nil, err
	}
	res, err := ref.Compare(cur)
	if err != nil {
		return nil, err
	}
	t.Rows = int64(res.CurrentRows)
	return &Report{Target: t, Window: w, Reference: text, Result: res}, nil
}

// reference returns the reference of t's version, built once.
func (j *Judge[M]) reference(ctx context.Context, src Source[M], m M, t Target, data string, o drift.Options) (*drift.Reference, string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.ref != nil && j.version == t.Version && t.Version != "" {
		return j.ref, j.text, nil
	}
	sample, text, err := src.Reference(ctx, m, t.Registered, data)
	if err != nil {
		return nil, "", err
	}
	ref, err := drift.NewReference(sample, o)
	if err != nil {
		return nil, "", err
	}
	j.version, j.ref, j.text = t.Version, ref, text
	return ref, text, nil
}
