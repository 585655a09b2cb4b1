package experiment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// Remove deletes the workspaces of the named experiments and returns the
// bytes that freed (files whose last link was in a workspace: outs shared
// with the cache or the workspace stay). Their run records in runs/ and
// their reports in the site stay: they are history. An unknown name is an
// error before anything is removed.
func (l *Lab) Remove(names ...string) (freed int64, err error) {
	for _, n := range names {
		if _, err := l.Record(n); err != nil {
			return 0, err
		}
	}
	for _, n := range names {
		f, err := removeCounting(l.Dir(n))
		freed += f
		if err != nil {
			return freed, err
		}
	}
	return freed, nil
}

// Unfinished names the experiments that failed or were cancelled.
func (l *Lab) Unfinished() ([]string, error) {
	recs, err := l.List()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range recs {
		if r.Status == StatusFailed || r.Status == StatusCancelled {
			names = append(names, r.Name)
		}
	}
	return names, nil
}

// GCResult says what GC removed.
type GCResult struct {
	// Workspaces are the experiments (or leftovers of interrupted removals
	// and creations) whose workspaces were removed.
	Workspaces []string
	// WorkspaceBytes and CacheBytes are the bytes freed on disk.
	WorkspaceBytes, CacheBytes int64
	// CacheKept is the size of the cache afterwards.
	CacheKept int64
}

// GC removes the workspaces of failed and cancelled experiments and the
// leftovers of interrupted ones, then every cache entry that neither the
// workspace's lock nor a remaining experiment's lock refers to.
func (l *Lab) GC() (*GCResult, error) {
	res := &GCResult{}
	names, err := l.Unfinished()
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(l.ExpsDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		// .<name>.new-* and .<name>.removed: a creation or removal that was
		// interrupted.
		if strings.HasPrefix(e.Name(), ".") && e.IsDir() {
			names = append(names, e.Name())
		}
	}
	for _, n := range names {
		f, err := removeCounting(filepath.Join(l.ExpsDir(), n))
		res.WorkspaceBytes += f
		if err != nil {
			return res, err
		}
		res.Workspaces = append(res.Workspaces, n)
	}

	keep := map[string]bool{}
	locks := []string{l.LockPath()}
	remaining, err := l.List()
	if err != nil {
		return res, err
	}
	for _, r := range remaining {
		locks = append(locks, lockPathIn(l.Dir(r.Name), l.Pipeline))
	}
	for _, path := range locks {
		lock, err := stagerun.ReadLock(path)
		if err != nil {
			return res, err
		}
		for _, e := range lock.Stages {
			keep[e.Key] = true
		}
	}
	cache, err := stagerun.OpenCache(l.CacheDir())
	if err != nil {
		return res, err
	}
	res.CacheBytes, err = cache.GC(func(key string) bool { return keep[key] })
	if err != nil {
		return res, err
	}
	res.CacheKept, err = cache.Size()
	return res, err
}

// removeCounting removes a workspace and returns the bytes that freed: the
// sizes of files all of whose links were inside it.
func removeCounting(dir string) (int64, error) {
	freed, err := exclusiveBytes(dir)
	if err != nil {
		return 0, err
	}
	if strings.HasPrefix(filepath.Base(dir), ".") {
		return freed, removeAll(dir) // a leftover: no name to keep away
	}
	return freed, removeWorkspace(dir)
}

// exclusiveBytes sums the sizes of the regular files under dir that have no
// link outside it (hard links counted once).
func exclusiveBytes(dir string) (int64, error) {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]uint64{}
	sizes := map[inode]int64{}
	links := map[inode]uint64{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no inode information on this system", p)
		}
		k := inode{uint64(st.Dev), st.Ino}
		seen[k]++
		sizes[k] = info.Size()
		links[k] = uint64(st.Nlink)
		return nil
	})
	var freed int64
	for k, n := range seen {
		if n >= links[k] {
			freed += sizes[k]
		}
	}
	return freed, err
}
