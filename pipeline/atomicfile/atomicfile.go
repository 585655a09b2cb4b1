// Package atomicfile writes files so that readers never see a half-written
// file: data goes to a temporary file in the destination directory, is synced,
// and is renamed over the destination only when the writer is committed.
// Every stage that produces an output file uses it. Whole directories (a
// Spark model, an image layout, a download) are published the same way:
// filled in TempDirBeside, then renamed into place by ReplaceDir.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File is a pending write to Path. Write to it, then call Commit to publish
// it or Abort to discard it. Abort after Commit is a no-op, so
// `defer f.Abort()` is the normal pattern.
type File struct {
	*os.File
	path string
	done bool
}

// Create starts an atomic write of path, creating parent directories.
func Create(path string) (*File, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create directory for %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create temporary file for %s: %w", path, err)
	}
	return &File{File: tmp, path: path}, nil
}

// Path is the final destination of the file.
func (f *File) Path() string { return f.path }

// Commit syncs, closes and renames the temporary file onto the destination.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: commit after commit or abort")
	}
	f.done = true
	if err := f.File.Sync(); err != nil {
		f.File.Close()
		os.Remove(f.File.Name())
		return fmt.Errorf("sync %s: %w", f.path, err)
	}
	if err := f.File.Close(); err != nil {
		os.Remove(f.File.Name())
		return fmt.Errorf("close %s: %w", f.path, err)
	}
	if err := os.Chmod(f.File.Name(), 0o644); err != nil {
		os.Remove(f.File.Name())
		return fmt.Errorf("chmod %s: %w", f.path, err)
	}
	if err := os.Rename(f.File.Name(), f.path); err != nil {
		os.Remove(f.File.Name())
		return fmt.Errorf("rename into %s: %w", f.path, err)
	}
	return nil
}

// Abort discards the pending write. It is safe to call after Commit.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.File.Name())
}

// WriteFile atomically replaces path with data.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write atomically replaces path with whatever fn writes; if fn fails the
// destination is left untouched.
func Write(path string, fn func(w io.Writer) error) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := fn(f); err != nil {
		return err
	}
	return f.Commit()
}
