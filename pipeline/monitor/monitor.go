// Package monitor is the part of drift monitoring both use cases share —
// `datalab monitor matches|flights` and the match dashboard's drift panel:
// the time window of served requests, which model version to judge (the
// one that served most requests in the window, or one named by id, prefix
// or @alias in the model registry), the check that the local data the
// reference is built from is what that version was trained on (the data
// oids of its lineage against the pointer files), and the report — an HTML
// page with pipeline/drift's section, JSON, and the exit status a cron job
// or CI step reads (ExitCode).
//
// It sits after serving in datalab's one-way flow, beside pipeline/drift:
// the use cases turn their logs and training data into drift.Samples
// (matches/matchmonitor reads the prediction log, flights/flightmonitor the
// flight store) and hand the comparison to Report.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/drift"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/registry"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// Exit statuses of `datalab monitor`, for cron and CI.
const (
	// ExitOK: no feature drifted (the verdict is ok, warn, or too few rows
	// to judge).
	ExitOK = 0
	// ExitDrift: at least one feature (or the predicted classes) drifted
	// past the alert thresholds.
	ExitDrift = 1
	// ExitError: the monitor could not run (a database, the registry, the
	// reference data).
	ExitError = 2
)

// ExitCode is the exit status of a comparison: ExitDrift when its verdict
// is drift, else ExitOK.
func ExitCode(res *drift.Result) int {
	if res.Verdict == drift.StatusDrift {
		return ExitDrift
	}
	return ExitOK
}

// Window is a time window of served requests, Since ≤ t < Until.
type Window struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
}

// Last is the window of length d that ends at now, in UTC.
func Last(d time.Duration, now time.Time) Window {
	now = now.UTC()
	return Window{Since: now.Add(-d), Until: now}
}

// String is "2026-12-06 10:00:00 – 2026-12-07 10:00:00 UTC (24h0m0s)".
func (w Window) String() string {
	const layout = "2006-01-02 15:04:05"
	return fmt.Sprintf("%s – %s UTC (%s)", w.Since.UTC().Format(layout), w.Until.UTC().Format(layout), w.Until.Sub(w.Since))
}

// Served is a model version and how many requests of the window it
// answered (the prediction log's model_version, the flight store's Model).
type Served struct {
	Version string `json:"version"`
	Rows    int64  `json:"rows"`
}

// Target is the version a monitor run judges.
type Target struct {
	Model string `json:"model"`
	// Version is the version as the log records it: a registry version id,
	// or the model's own name or version when it was not served from the
	// registry; "" when the window has no requests and none was named.
	Version string `json:"version"`
	// Rows is the number of the window's requests it answered.
	Rows int64 `json:"rows"`
	// Registered is its registry record; nil when Version is not a
	// registry version (the reference then comes from a local model).
	Registered *registry.Version `json:"registered,omitempty"`
	// Notes say how the version was chosen and what else the window holds.
	Notes []string `json:"notes,omitempty"`
}

// Registry reads registry versions and fetches their files;
// *registry.Registry is one.
type Registry interface {
	Version(ctx context.Context, model, ref string) (registry.Version, error)
	Fetch(ctx context.Context, model, id, cacheDir string) (string, error)
}

var registryID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// IsRegistryID reports whether s has the form of a registry version id.
func IsRegistryID(s string) bool { return registryID.MatchString(s) }

// Choose picks the version to judge among served, the window's requests
// per version (most first). want empty: the version that answered most of
// them, looked up in reg when it is a registry id (reg may be nil: it is
// then judged as a local model). want set — a version id, a unique prefix
// or @alias — is resolved through reg, which is then required; the window
// may hold none of its requests.
func Choose(ctx context.Context, reg Registry, model string, served []Served, want string) (Target, error) {
	t := Target{Model: model}
	rows := func(v string) int64 {
		for _, s := range served {
			if s.Version == v {
				return s.Rows
			}
		}
		return 0
	}
	if want != "" {
		if reg == nil {
			return t, fmt.Errorf("--version %s names a registry version, and no registry is open (--registry or $%s)", want, registry.EnvLocation)
		}
		v, err := reg.Version(ctx, model, want)
		if err != nil {
			return t, fmt.Errorf("--version %s: %w", want, err)
		}
		t.Version, t.Rows, t.Registered = v.ID, rows(v.ID), &v
		t.Notes = append(t.Notes, fmt.Sprintf("Version %s (--version %s).", v.ID, want))
	} else {
		if len(served) == 0 {
			t.Notes = append(t.Notes, "No requests in the window.")
			return t, nil
		}
		top := slices.MaxFunc(served, func(a, b Served) int {
			if a.Rows != b.Rows {
				return int(min(max(a.Rows-b.Rows, -1), 1))
			}
			return strings.Compare(b.Version, a.Version) // ties: the smaller name wins
		})
		t.Version, t.Rows = top.Version, top.Rows
		t.Notes = append(t.Notes, fmt.Sprintf("Version %s answered the most requests of the window (%d).", top.Version, top.Rows))
		if IsRegistryID(top.Version) && reg != nil {
			v, err := reg.Version(ctx, model, top.Version)
			switch {
			case err == nil:
				t.Registered = &v
			case errors.Is(err, registry.ErrNotFound):
			default:
				return t, err
			}
		}
		if t.Registered == nil {
			t.Notes = append(t.Notes, fmt.Sprintf("%q is not a version of %s in the model registry: it is judged as the local model that carries that name (give --version to judge a registry version).", top.Version, model))
		}
	}
	var others []string
	for _, s := range served {
		if s.Version != t.Version {
			others = append(others, fmt.Sprintf("%s (%d)", registry.Short(s.Version), s.Rows))
		}
	}
	if len(others) > 0 {
		t.Notes = append(t.Notes, "The window also holds requests of other versions, not judged here: "+strings.Join(others, ", ")+".")
	}
	return t, nil
}

// CheckData compares the data oids v's lineage records for the data sets
// sets with the local pointer files under root (data/pointers/<set>/…) and
// returns a sentence for the report, or an error naming each file that
// differs and what to do. A lineage without oids for sets cannot be
// checked: that is the sentence.
func CheckData(v registry.Version, root string, sets ...string) (string, error) {
	want := registry.SelectOids(v.Lineage.DataOids, sets...)
	if len(want) == 0 {
		return fmt.Sprintf("The lineage of version %s records no data oids for %s: the local data was not checked against it.", registry.Short(v.ID), strings.Join(sets, ", ")), nil
	}
	var pointers []string
	for _, set := range sets {
		files, err := filepath.Glob(filepath.Join(root, "data", "pointers", set, "*.pointer"))
		if err != nil {
			return "", err
		}
		pointers = append(pointers, files...)
	}
	local, err := stagerun.PointerOids(pointers)
	if err != nil {
		return "", err
	}
	have := registry.SelectOids(local, sets...)
	var diffs []string
	for _, k := range sortedKeys(want) {
		switch h, ok := have[k]; {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s has no pointer file here (the version's is sha256:%s)", k, short(want[k])))
		case h != want[k]:
			diffs = append(diffs, fmt.Sprintf("%s is sha256:%s here, sha256:%s in the version's lineage", k, short(h), short(want[k])))
		}
	}
	if len(diffs) > 0 {
		commit := ""
		if c := v.Lineage.Commit; c != "" {
			commit = fmt.Sprintf(" (its commit %s has its pointer files)", short(c))
		}
		return "", fmt.Errorf("the local data is not what version %s was trained on: %s. Check out the version's data%s, pull it and rebuild (datalab data pull; datalab run), or give --reference-data to compare with other data anyway",
			registry.Short(v.ID), strings.Join(diffs, "; "), commit)
	}
	var files []string
	for _, k := range sortedKeys(want) {
		files = append(files, k+" sha256:"+short(want[k]))
	}
	return fmt.Sprintf("The local data is what version %s was trained on: %s.", registry.Short(v.ID), strings.Join(files, ", ")), nil
}

func short(hex string) string { return hex[:min(len(hex), 12)] }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Report is the outcome of one monitor run.
type Report struct {
	Target Target `json:"target"`
	Window Window `json:"window"`
	// Reference says what the reference sample is, in a sentence or two.
	Reference string `json:"reference"`
	// Notes are further sentences for the reader (the data check, how the
	// version was chosen).
	Notes  []string      `json:"notes,omitempty"`
	Result *drift.Result `json:"drift"`
}

// Title is the page's title: "Drift: matches 0123456789ab".
func (r *Report) Title() string {
	v := registry.Short(r.Target.Version)
	if v == "" {
		v = "(no requests)"
	}
	return "Drift: " + r.Target.Model + " " + v
}

// About is the page's "Window" section: the model version, the window, the
// reference and the notes.
func (r *Report) About() []string {
	v := r.Target.Version
	if v == "" {
		v = "(none: no requests in the window)"
	}
	out := []string{fmt.Sprintf("Model %s, version %s: %d requests served in %s.", r.Target.Model, v, r.Target.Rows, r.Window)}
	if r.Reference != "" {
		out = append(out, r.Reference)
	}
	out = append(out, r.Target.Notes...)
	return append(out, r.Notes...)
}

// PageName and DataName are the file names Write gives the page and the
// JSON of model's report: monitor-<model>.html and .json.
func PageName(model string) string { return "monitor-" + model + ".html" }

// DataName: see PageName.
func DataName(model string) string { return "monitor-" + model + ".json" }

// Write writes the page (with its report sidecar) and the JSON into dir
// and returns their paths.
func (r *Report) Write(dir string) (page, data string, err error) {
	page, data = filepath.Join(dir, PageName(r.Target.Model)), filepath.Join(dir, DataName(r.Target.Model))
	if err := drift.WritePage(page, r.Title(), r.Result, r.About()...); err != nil {
		return "", "", err
	}
	b, err := r.JSON()
	if err != nil {
		return "", "", err
	}
	if err := atomicfile.WriteFile(data, b); err != nil {
		return "", "", fmt.Errorf("monitor: write %s: %w", data, err)
	}
	return page, data, nil
}

// JSON is the report as indented JSON (the same report gives the same
// bytes): the verdict, the exit status and the alert lines first, then the
// Report's fields with the drift.Result under "drift".
func (r *Report) JSON() ([]byte, error) {
	b, err := evaluate.MarshalDeterministic(struct {
		Verdict    drift.Status `json:"verdict"`
		ExitStatus int          `json:"exit_status"`
		Alerts     []string     `json:"alerts,omitempty"`
		*Report
	}{r.Result.Verdict, ExitCode(r.Result), r.Result.Alerts(), r})
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	return b, nil
}
