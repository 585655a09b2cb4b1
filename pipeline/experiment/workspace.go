package experiment

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// NotMirrored are the top-level entries of the workspace an experiment's
// workspace does not share: what runs produce (build/, runs/, reports/),
// datalab's own state (.datalab/: the cache, the experiments themselves),
// git's database and built binaries.
var NotMirrored = []string{"build", "runs", "reports", ".datalab", ".git", ".bin"}

// mirror fills dst with a copy of the tree at src made of hard links:
// directories are created, regular files linked, symbolic links recreated
// with the same target; the entries in NotMirrored at the top are left out,
// and so are the pipeline file and its lock, which the caller copies. A
// file that cannot be linked (another file system mounted inside the
// tree) is copied, with a log line.
func mirror(src, dst string, skip []string, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		if filepath.Dir(rel) == "." && slices.Contains(skip, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return os.Mkdir(target, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			err := os.Link(path, target)
			if errors.Is(err, syscall.EXDEV) {
				log.Warn("cannot hard-link across file systems; copying", "file", rel)
				return copyFile(path, target)
			}
			return err
		}
		return nil // sockets, devices: not part of a pipeline
	})
}

// copyFile copies a small file (a lock or pipeline file) byte for byte,
// keeping its mode.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// createWorkspace builds the workspace of experiment name: a hard-linked
// mirror of the lab's tree with private copies of the pipeline file and the
// lock (a run rewrites its lock; the pipeline file stays as it is, the
// overrides reach the stages through DATALAB_SET), and the record rec. It
// is built beside its final place and renamed into it, replacing an earlier
// workspace of that name, so a workspace exists whole or not at all. outs
// (slash paths) are linked from the lab's build/ where they exist: see
// uncachedOuts.
func (l *Lab) createWorkspace(rec *Record, outs []string, log *slog.Logger) error {
	dir := l.Dir(rec.Name)
	if err := os.MkdirAll(l.ExpsDir(), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(l.ExpsDir(), "."+rec.Name+".new-*")
	if err != nil {
		return fmt.Errorf("create workspace of %s: %w", rec.Name, err)
	}
	defer os.RemoveAll(tmp)
	lock := filepath.Base(l.LockPath())
	if err := mirror(l.Root, tmp, append(slices.Clone(NotMirrored), l.Pipeline, lock), log); err != nil {
		return fmt.Errorf("mirror the workspace into %s: %w", tmp, err)
	}
	if err := copyFile(l.PipelinePath(), filepath.Join(tmp, l.Pipeline)); err != nil {
		return fmt.Errorf("copy %s into the workspace of %s: %w", l.Pipeline, rec.Name, err)
	}
	if err := copyFile(l.LockPath(), filepath.Join(tmp, lock)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("copy %s into the workspace of %s: %w", lock, rec.Name, err)
	}
	for _, o := range outs {
		src := filepath.Join(l.Root, filepath.FromSlash(o))
		if _, err := os.Stat(src); err != nil {
			continue // missing here: the stage runs in the experiment
		}
		if err := linkTree(src, filepath.Join(tmp, filepath.FromSlash(o))); err != nil {
			return fmt.Errorf("link %s into the workspace of %s: %w", o, rec.Name, err)
		}
	}
	if err := writeRecordIn(tmp, rec); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := removeWorkspace(dir); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("publish the workspace of %s: %w", rec.Name, err)
	}
	return nil
}

// removeWorkspace deletes a workspace: renamed aside first (a name that
// vanishes at once), then removed. Read-only files (cache objects linked
// into build/) go too, their directories are made writable first.
func removeWorkspace(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	trash := filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".removed")
	if err := removeAll(trash); err != nil {
		return err
	}
	if err := os.Rename(dir, trash); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return removeAll(trash)
}

// removeAll is os.RemoveAll that also gets through directories without
// write permission.
func removeAll(path string) error {
	if err := os.RemoveAll(path); err == nil {
		return nil
	}
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
