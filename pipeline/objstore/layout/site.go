package layout

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/datalabhq/datalab/pipeline/objstore"
	"github.com/datalabhq/datalab/pipeline/progress"
)

// The report site (reports/: index pages, runs/<id>/ with each run's reports
// and run record, notebooks/, diff pages) is kept in the store under
// SitePrefix, so that runs made on different machines — throw-away CI
// runners — accumulate into one history. Each run directory is its own
// manifest directory (site/runs/<id>/), written once by the checkout that
// made the run and never overwritten by another; the pages built from them
// (index*.html, diff pages) are rebuilt by whoever syncs and uploaded last.
const (
	// SiteDir is the report site's directory, relative to the pipeline root.
	SiteDir = "reports"
	// SitePrefix is the key prefix of the site; Key(SiteDir) without the slash.
	SitePrefix = "site/"
	// siteRuns is the directory of the site holding one directory per run.
	siteRuns = "runs"
)

// siteName is what a run id or a top-level page directory of the site may
// look like: one path segment, no dot files (a bucket is not trusted to
// name local paths).
var siteName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// SiteResult says what a site pull or push did. Run ids are sorted.
type SiteResult struct {
	// Pulled (PullSite) or Pushed (PushSite): runs that were copied.
	Pulled, Pushed []string
	// Same counts runs present on both sides with identical files.
	Same int
	// Differ lists runs present on both sides with different files: each
	// side keeps its own copy (a run is written by the checkout that made
	// it; neither copy is overwritten).
	Differ []string
	// Pages lists the other top-level files and directories of the site
	// that were copied (notebooks/, index.html, diff pages…).
	Pages []string
	// Skipped lists names under the store's site/runs/ (or local
	// reports/runs/) that are not run directories: unsafe names, or
	// prefixes without a manifest (an interrupted upload).
	Skipped []string
}

// siteKey is the key of a path relative to the site directory.
func siteKey(rel string) string { return objstore.Join(strings.TrimSuffix(SitePrefix, "/"), rel) }

// remoteSite lists what the store's site holds: run ids (directories with
// a manifest under site/runs/), top-level directories with a manifest, and
// names under site/runs/ that are not complete run directories.
func (r *Remote) remoteSite(ctx context.Context) (runs, dirs map[string]bool, skipped []string, err error) {
	objs, err := r.store.List(ctx, SitePrefix)
	if err != nil {
		return nil, nil, nil, err
	}
	runs, dirs = map[string]bool{}, map[string]bool{}
	seen := map[string]bool{}
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Key, SitePrefix)
		first, after, _ := strings.Cut(rest, "/")
		if first == siteRuns {
			id, file, nested := strings.Cut(after, "/")
			if !nested {
				continue // a file directly under site/runs/
			}
			seen[id] = true
			if file == objstore.ManifestName && siteName.MatchString(id) {
				runs[id] = true
			}
			continue
		}
		if after == objstore.ManifestName && siteName.MatchString(first) {
			dirs[first] = true
		}
	}
	for id := range seen {
		if !runs[id] {
			skipped = append(skipped, id)
		}
	}
	slices.Sort(skipped)
	return runs, dirs, skipped, nil
}

// localRuns lists the run directories under reportsDir/runs.
func localRuns(reportsDir string) (map[string]bool, []string, error) {
	entries, err := os.ReadDir(filepath.Join(reportsDir, siteRuns))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	runs := map[string]bool{}
	var skipped []string
	for _, e := range entries {
		switch {
		case e.IsDir() && siteName.MatchString(e.Name()):
			runs[e.Name()] = true
		case e.IsDir():
			skipped = append(skipped, e.Name())
		}
	}
	return runs, skipped, nil
}

// compareRun tells whether the local run directory holds exactly the files
// of the stored one.
func (r *Remote) compareRun(ctx context.Context, id, local string) (bool, error) {
	stored, err := r.store.ReadManifest(ctx, siteKey(siteRuns+"/"+id))
	if err != nil {
		return false, err
	}
	have, err := objstore.LocalManifest(local)
	if err != nil {
		return false, err
	}
	return have.Equal(stored), nil
}

// syncRuns walks the run ids of one side: a run the other side also has
// (both[id]) is compared and counted in res.Same or res.Differ, never
// copied; any other is copied by copyRun (local directory, key). It
// returns the ids copied. dir is "pull" or "push".
func (r *Remote) syncRuns(ctx context.Context, reportsDir, dir string, ids []string, both map[string]bool,
	res *SiteResult, copyRun func(local, key string) error) ([]string, error) {
	bar := progress.New(int64(len(ids)), "site: "+dir+" runs", false)
	defer bar.Finish()
	var copied []string
	for _, id := range ids {
		local := filepath.Join(reportsDir, siteRuns, id)
		key := siteKey(siteRuns + "/" + id)
		if !both[id] {
			if err := copyRun(local, key); err != nil {
				return copied, fmt.Errorf("site: %s run %s: %w", dir, id, err)
			}
			r.log.Info("site: "+dir+"ed run", "run", id, "key", key)
			copied = append(copied, id)
			bar.Add(1)
			continue
		}
		same, err := r.compareRun(ctx, id, local)
		if err != nil {
			return copied, fmt.Errorf("site: compare run %s: %w", id, err)
		}
		if same {
			res.Same++
		} else {
			res.Differ = append(res.Differ, id)
			r.log.Warn("site: run differs between the local site and the store; each side keeps its own copy", "run", id, "local", local, "key", key)
		}
		bar.Add(1)
	}
	return copied, nil
}

// PullSite copies into reportsDir what the store's site has and the local
// site lacks: every run directory missing from reportsDir/runs (each file
// verified against the run's manifest; a run appears locally only when all
// of it arrived), and every top-level directory of the site (notebooks/,
// diff pages) that does not exist locally. A run present on both sides is
// never overwritten: identical ones are counted in Same, different ones
// listed in Differ and logged. Index pages are not pulled: the caller
// rebuilds them from the merged runs (report.BuildIndex).
func (r *Remote) PullSite(ctx context.Context, reportsDir string) (SiteResult, error) {
	var res SiteResult
	runs, dirs, skipped, err := r.remoteSite(ctx)
	if err != nil {
		return res, err
	}
	res.Skipped = skipped
	for _, id := range skipped {
		r.log.Warn("site: skipped a name under "+SitePrefix+"runs/ that is not a complete run directory (unsafe name, or an upload that never finished)", "name", id)
	}
	have, _, err := localRuns(reportsDir)
	if err != nil {
		return res, err
	}
	res.Pulled, err = r.syncRuns(ctx, reportsDir, "pull", slices.Sorted(maps.Keys(runs)), have, &res,
		func(local, key string) error {
			_, err := r.store.DownloadDir(ctx, key, local)
			return err
		})
	if err != nil {
		return res, err
	}
	for _, name := range slices.Sorted(maps.Keys(dirs)) {
		local := filepath.Join(reportsDir, name)
		if _, err := os.Lstat(local); err == nil {
			continue // the local site's own pages win
		} else if !errors.Is(err, os.ErrNotExist) {
			return res, err
		}
		if _, err := r.store.DownloadDir(ctx, siteKey(name), local); err != nil {
			return res, fmt.Errorf("site: pull %s/: %w", name, err)
		}
		res.Pages = append(res.Pages, name+"/")
	}
	return res, nil
}

// PushSite uploads the local site to the store: first every run directory
// of reportsDir/runs the store lacks (a run the store already holds is left
// alone: identical ones are counted in Same, different ones listed in
// Differ), then every other top-level directory (notebooks/, diff pages)
// and last the top-level files (index pages), so a reader who follows the
// new index finds what it links to. The caller rebuilds the index from the
// merged runs first (PullSite, then report.BuildIndex), so the pages
// uploaded list every run either side had.
func (r *Remote) PushSite(ctx context.Context, reportsDir string) (SiteResult, error) {
	var res SiteResult
	entries, err := os.ReadDir(reportsDir)
	if errors.Is(err, os.ErrNotExist) {
		return res, nil // nothing to publish
	}
	if err != nil {
		return res, err
	}
	stored, _, _, err := r.remoteSite(ctx)
	if err != nil {
		return res, err
	}
	have, skipped, err := localRuns(reportsDir)
	if err != nil {
		return res, err
	}
	res.Skipped = skipped
	res.Pushed, err = r.syncRuns(ctx, reportsDir, "push", slices.Sorted(maps.Keys(have)), stored, &res,
		func(local, key string) error {
			_, _, err := r.store.UploadDir(ctx, key, local)
			return err
		})
	if err != nil {
		return res, err
	}
	// Directories, then files: the index pages are the last objects written.
	for _, wantDir := range []bool{true, false} {
		for _, e := range entries {
			name := e.Name()
			if name == siteRuns || e.IsDir() != wantDir || !siteName.MatchString(name) {
				continue
			}
			local := filepath.Join(reportsDir, name)
			if wantDir {
				_, sent, err := r.store.UploadDir(ctx, siteKey(name), local)
				if err != nil {
					return res, fmt.Errorf("site: push %s/: %w", name, err)
				}
				if sent > 0 {
					res.Pages = append(res.Pages, name+"/")
				}
				continue
			}
			if !e.Type().IsRegular() {
				continue
			}
			_, sent, err := r.store.Upload(ctx, siteKey(name), local)
			if err != nil {
				return res, fmt.Errorf("site: push %s: %w", name, err)
			}
			if sent {
				res.Pages = append(res.Pages, name)
			}
		}
	}
	return res, nil
}
