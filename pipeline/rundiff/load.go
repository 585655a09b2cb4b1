package rundiff

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// RecordName is the file name of a run record inside its run directory.
const RecordName = "run.json"

// Load reads every run record under runsDir (<runsDir>/<id>/run.json),
// newest first. A directory without run.json (a run still going, or killed
// before it wrote its record) is skipped with a log line; a run.json that
// does not decode is an error naming the file. A missing runsDir is an
// error wrapping fs.ErrNotExist.
func Load(runsDir string) ([]*stagerun.RunRecord, error) {
	entries, err := os.ReadDir(runsDir)
	if err != nil {
		return nil, fmt.Errorf("read runs directory (it holds <run-id>/run.json; datalab run writes runs/, the report site reports/runs/): %w", err)
	}
	var runs []*stagerun.RunRecord
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(runsDir, e.Name(), RecordName)
		rec, err := ReadRecord(path)
		if errors.Is(err, fs.ErrNotExist) {
			slog.Debug("runs: no run record, skipped (a run still going, or one stopped before it wrote its record)", "dir", filepath.Join(runsDir, e.Name()))
			continue
		}
		if err != nil {
			return nil, err
		}
		runs = append(runs, rec)
	}
	SortNewestFirst(runs)
	return runs, nil
}

// ReadRecord reads one run.json.
func ReadRecord(path string) (*stagerun.RunRecord, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read run record: %w", err)
	}
	var rec stagerun.RunRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("run record %s is corrupt (%v): remove its run directory or restore the file", path, err)
	}
	if rec.ID == "" {
		return nil, fmt.Errorf("run record %s has no id: it is not a datalab run.json (remove it or its directory)", path)
	}
	return &rec, nil
}

// LoadDirs reads the run records of several directories (e.g. runs/ and
// the published reports/runs/), newest first; a run found in more than one
// is listed once, from the first directory that has it. A directory that
// does not exist is skipped when optional is true, an error otherwise.
func LoadDirs(dirs []string, optional bool) ([]*stagerun.RunRecord, error) {
	seen := map[string]bool{}
	var all []*stagerun.RunRecord
	for _, dir := range dirs {
		runs, err := Load(dir)
		if errors.Is(err, fs.ErrNotExist) && optional {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			if !seen[r.ID] {
				seen[r.ID] = true
				all = append(all, r)
			}
		}
	}
	SortNewestFirst(all)
	return all, nil
}

// SortNewestFirst orders runs by start time, then id (ids sort by start
// time), both descending.
func SortNewestFirst(runs []*stagerun.RunRecord) {
	slices.SortStableFunc(runs, func(a, b *stagerun.RunRecord) int {
		if c := b.Start.Compare(a.Start); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
}

// Resolve finds the run a reference names among runs (newest first, as
// Load returns them). A reference is, in this order:
//
//   - a full run id;
//   - "latest" (the newest run) or "latest~N" (N runs before it);
//   - an experiment name: the newest run of that experiment;
//   - "commit:SHA": the newest run started from a commit beginning with SHA;
//   - a unique prefix of a run id.
//
// An unknown or ambiguous reference is an error listing the candidates.
func Resolve(runs []*stagerun.RunRecord, ref string) (*stagerun.RunRecord, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, errors.New("empty run reference: give a run id (or a unique prefix), latest, latest~N, an experiment name or commit:SHA")
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("run %q: no runs recorded yet (run `datalab run` first, or point --runs-dir at a runs/ or reports/runs/ directory)", ref)
	}
	for _, r := range runs {
		if r.ID == ref {
			return r, nil
		}
	}
	if ref == "latest" || strings.HasPrefix(ref, "latest~") {
		n := 0
		if ref != "latest" {
			var err error
			n, err = strconv.Atoi(strings.TrimPrefix(ref, "latest~"))
			if err != nil || n < 0 {
				return nil, fmt.Errorf("run %q: want latest~N with N a whole number ≥ 0, e.g. latest~1 for the run before the newest", ref)
			}
		}
		if n >= len(runs) {
			return nil, fmt.Errorf("run %q: only %d run(s) recorded, so the oldest is latest~%d", ref, len(runs), len(runs)-1)
		}
		return runs[n], nil
	}
	for _, r := range runs {
		if r.Experiment == ref {
			return r, nil
		}
	}
	if sha, ok := strings.CutPrefix(ref, "commit:"); ok {
		if sha == "" {
			return nil, errors.New(`run "commit:": give a commit (or its prefix) after "commit:"`)
		}
		for _, r := range runs {
			if strings.HasPrefix(r.Git.Commit, strings.ToLower(sha)) {
				return r, nil
			}
		}
		return nil, fmt.Errorf("run %q: no run started from a commit beginning with %s (runs list shows each run's commit)", ref, sha)
	}
	var matches []*stagerun.RunRecord
	for _, r := range runs {
		if strings.HasPrefix(r.ID, ref) {
			matches = append(matches, r)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return nil, fmt.Errorf("run %q not found: not a run id, id prefix, experiment name, latest[~N] or commit:SHA; newest runs: %s", ref, candidates(runs))
	}
	return nil, fmt.Errorf("run %q is ambiguous: %d runs start with it (%s); give more of the id", ref, len(matches), candidates(matches))
}

// candidates names up to 8 runs (id and experiment) for an error message.
func candidates(runs []*stagerun.RunRecord) string {
	var names []string
	for i, r := range runs {
		if i == 8 {
			names = append(names, fmt.Sprintf("… %d more", len(runs)-i))
			break
		}
		n := r.ID
		if r.Experiment != "" {
			n += " (" + r.Experiment + ")"
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

// Find resolves ref like Resolve over runs, and also accepts a path to a
// run.json file or to a run directory holding one (for a record copied from
// elsewhere, e.g. a CI artifact of the base branch).
func Find(runs []*stagerun.RunRecord, ref string) (*stagerun.RunRecord, error) {
	if st, err := os.Stat(ref); err == nil && (strings.ContainsRune(ref, os.PathSeparator) || strings.HasSuffix(ref, ".json")) {
		path := ref
		if st.IsDir() {
			path = filepath.Join(ref, RecordName)
		}
		return ReadRecord(path)
	}
	return Resolve(runs, ref)
}
