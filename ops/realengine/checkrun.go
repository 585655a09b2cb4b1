package realengine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// RunCheck is what CheckRun found in the directory `dagger call run`
// exported.
type RunCheck struct {
	// Matched are the lock's outputs found in the directory with the
	// digest the lock records; Differ those with another one.
	Matched, Differ []string
	// RunRecords is the number of run records (runs/<id>/run.json).
	RunRecords int
}

// siteOut maps a lock output path to where `dagger call run` puts it:
// build/models/… under models/. The run's other outputs the lock records
// (metrics, reports under build/) are not in the result; the site under
// reports/ names this run's id, which differs from every other run's.
func siteOut(lockPath string) (string, bool) {
	if rest, ok := strings.CutPrefix(lockPath, "build/models/"); ok {
		return "models/" + rest, true
	}
	return "", false
}

// CheckRun checks the result of `dagger call run` against datalab.lock:
// the site's index and a run record are there, and every model the lock
// records is there with the lock's digest, byte for byte what a local
// `datalab run` made.
func CheckRun(site, lockPath string) (RunCheck, error) {
	var rc RunCheck
	if info, err := os.Stat(filepath.Join(site, "reports", "index.html")); err != nil || info.Size() == 0 {
		return rc, fmt.Errorf("%s: no report site index (reports/index.html): %v", site, err)
	}
	recs, _ := filepath.Glob(filepath.Join(site, "runs", "*", "run.json"))
	if rc.RunRecords = len(recs); rc.RunRecords == 0 {
		return rc, fmt.Errorf("%s: no run record under runs/", site)
	}
	lock, err := stagerun.ReadLock(lockPath)
	if err != nil {
		return rc, err
	}
	models := 0
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range lock.Stages {
			if !yield(n) {
				return
			}
		}
	}) {
		for _, out := range lock.Stages[name].Outs {
			rel, ok := siteOut(out.Path)
			if !ok {
				continue
			}
			d, err := stagerun.HashPath(site, rel)
			if err != nil {
				return rc, fmt.Errorf("stage %s: model %s missing from the result: %w", name, rel, err)
			}
			models++
			what := fmt.Sprintf("%s (%s)", rel, name)
			if d.SHA256 == out.SHA256 && d.Size == out.Size {
				rc.Matched = append(rc.Matched, what)
			} else {
				rc.Differ = append(rc.Differ, fmt.Sprintf("%s: %s/%d, the lock has %s/%d", what, d.SHA256[:12], d.Size, out.SHA256[:12], out.Size))
			}
		}
	}
	if models == 0 {
		return rc, fmt.Errorf("%s: the lock records no model outputs to compare", lockPath)
	}
	if len(rc.Differ) > 0 {
		return rc, fmt.Errorf("outputs of the engine's run differ from datalab.lock:\n  %s", strings.Join(rc.Differ, "\n  "))
	}
	return rc, nil
}
