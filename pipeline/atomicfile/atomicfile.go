// Package atomicfile writes files so that readers never see a half-written
// file: data goes to a temporary file in the destination directory, is synced,
// and is renamed over the destination only when the writer is committed;
// the directory is then synced too, so the rename itself survives a crash.
// Every stage that produces an output file uses it. Whole directories (a
// Spark model, an image layout, a download) are published the same way:
// filled in TempDirBeside, then renamed into place by ReplaceDir.
//
// CreateIn, WriteIn and WriteFileIn write below a directory through an
// os.Root: no path component may be a link leading out of it, which is how writers under the repository keep
// a symlink planted in a working tree from redirecting them elsewhere.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// File is a pending write to Path. Write to it, then call Commit to publish
// it or Abort to discard it. Abort after Commit is a no-op, so
// `defer f.Abort()` is the normal pattern.
type File struct {
	*os.File
	root    *os.Root
	ownRoot bool   // Create opened root and closes it when done
	name    string // destination, relative to root
	tmp     string // temporary file, relative to root
	path    string // destination as the caller named it, for messages
	done    bool
}

// Create starts an atomic write of path, creating parent directories. A
// relative path that stays inside the working directory (build/…,
// reports/…, datalab.lock: the CLI runs from the repository root) is
// written inside it as CreateIn(".", path) does, so a symbolic link on the
// way that leads out of the working directory is refused.
func Create(path string) (*File, error) {
	dir, name := anchor(path)
	f, err := CreateIn(dir, name)
	if err != nil {
		return nil, err
	}
	f.path = path
	return f, nil
}

// CreateIn starts an atomic write of name, a path relative to the
// directory dir (created if missing), creating name's parent directories
// inside dir. Every step below dir (directories, temporary file, rename,
// directory sync) goes through an os.Root opened at dir, so a symbolic link
// on the way that leads out of dir makes it fail instead of writing
// elsewhere, and a link as the final component is replaced, never written
// through. dir itself is the caller's trusted anchor (the repository, the
// data directory) and may be a link.
func CreateIn(dir, name string) (*File, error) {
	shown := filepath.Join(dir, name)
	if !filepath.IsLocal(name) {
		return nil, fmt.Errorf("write %s: %q is not a path inside %s", shown, name, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create directory %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", shown, err)
	}
	f, err := createIn(root, name, shown)
	if err != nil {
		root.Close()
		return nil, err
	}
	f.ownRoot = true
	return f, nil
}

func createIn(root *os.Root, name, shown string) (*File, error) {
	if parent := filepath.Dir(name); parent != "." {
		if err := root.MkdirAll(parent, 0o755); err != nil {
			return nil, fmt.Errorf("create directory for %s: %w%s", shown, err, escapeHint(err, root))
		}
	}
	return create(root, name, shown)
}

// anchor splits path into the directory writes are confined to and the
// name below it: the working directory for a local relative path, else the
// path's own directory.
func anchor(path string) (dir, name string) {
	if filepath.IsLocal(path) {
		return ".", filepath.Clean(path)
	}
	return filepath.Dir(path), filepath.Base(path)
}

// checkInside fails when dir, after anchor, would be reached through a
// symbolic link leading out of its anchor; create makes the missing
// directories (inside the anchor) as it checks.
func checkInside(dir string, create bool) error {
	a, name := anchor(filepath.Join(dir, "x"))
	name = filepath.Dir(name)
	if name == "." {
		return nil
	}
	root, err := os.OpenRoot(a)
	if err != nil {
		return err
	}
	defer root.Close()
	if create {
		err = root.MkdirAll(name, 0o755)
	} else {
		_, err = root.Stat(name)
	}
	if err != nil {
		return fmt.Errorf("%w%s", err, escapeHint(err, root))
	}
	return nil
}

// escapeHint explains os.Root's refusal to follow a link out of the root.
func escapeHint(err error, root *os.Root) string {
	if err != nil && (errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.ELOOP) || isEscape(err)) {
		where := root.Name()
		if where == "." {
			where = "the working directory"
		}
		return fmt.Sprintf(" (a symbolic link on the way leads out of %s: datalab writes only inside it; replace the link by a directory, or point the command at the real location)", where)
	}
	return ""
}

// isEscape recognises os.Root's "path escapes from parent" error, which has
// no exported sentinel.
func isEscape(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "path escapes from parent" {
			return true
		}
	}
	return false
}

// create makes the temporary file beside name in root.
func create(root *os.Root, name, shown string) (*File, error) {
	dir, base := filepath.Split(name)
	for range 10000 {
		tmp := dir + "." + base + ".tmp-" + strconv.FormatUint(uint64(rand.Uint32()), 10)
		f, err := root.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create temporary file for %s: %w%s", shown, err, escapeHint(err, root))
		}
		return &File{File: f, root: root, name: name, tmp: tmp, path: shown}, nil
	}
	return nil, fmt.Errorf("create temporary file for %s: no free name after 10000 tries", shown)
}

// Path is the final destination of the file.
func (f *File) Path() string { return f.path }

// Commit syncs, closes and renames the temporary file onto the destination,
// then syncs the directory so that the rename is durable too.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: commit after commit or abort")
	}
	f.done = true
	defer f.closeRoot()
	fail := func(format string, err error) error {
		f.File.Close()
		f.root.Remove(f.tmp)
		return fmt.Errorf(format, f.path, err)
	}
	if err := f.File.Sync(); err != nil {
		return fail("sync %s: %w", err)
	}
	if err := f.File.Chmod(0o644); err != nil {
		return fail("chmod %s: %w", err)
	}
	if err := f.File.Close(); err != nil {
		f.root.Remove(f.tmp)
		return fmt.Errorf("close %s: %w", f.path, err)
	}
	if err := f.root.Rename(f.tmp, f.name); err != nil {
		f.root.Remove(f.tmp)
		return fmt.Errorf("rename into %s: %w%s", f.path, err, escapeHint(err, f.root))
	}
	return syncDirIn(f.root, filepath.Dir(f.name), f.path)
}

// Abort discards the pending write. It is safe to call after Commit.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	f.root.Remove(f.tmp)
	f.closeRoot()
}

func (f *File) closeRoot() {
	if f.ownRoot {
		f.root.Close()
	}
}

// syncDir is how a directory is synced; a variable only so that a test can
// observe the calls (it wraps it and still syncs).
var syncDir = func(d *os.File) error { return d.Sync() }

// syncDirIn syncs dir (relative to root) after a rename into it: the rename
// is a change to the directory, lost in a crash until the directory is on
// disk. File systems that cannot sync a directory (EINVAL) are accepted.
func syncDirIn(root *os.Root, dir, what string) error {
	d, err := root.Open(dir)
	if err != nil {
		return fmt.Errorf("%s is in place but its directory could not be synced: %w", what, err)
	}
	defer d.Close()
	if err := syncDir(d); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("%s is in place but its directory could not be synced: %w", what, err)
	}
	return nil
}

// syncDirPath syncs the directory at path (see syncDirIn).
func syncDirPath(path, what string) error {
	root, err := os.OpenRoot(path)
	if err != nil {
		return fmt.Errorf("%s is in place but its directory could not be synced: %w", what, err)
	}
	defer root.Close()
	return syncDirIn(root, ".", what)
}

// WriteFile atomically replaces path with data.
func WriteFile(path string, data []byte) error {
	return Write(path, writeBytes(data))
}

// WriteFileIn atomically replaces name, inside dir, with data (see
// CreateIn for what inside means).
func WriteFileIn(dir, name string, data []byte) error {
	return WriteIn(dir, name, writeBytes(data))
}

func writeBytes(data []byte) func(w io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

// Write atomically replaces path with whatever fn writes; if fn fails the
// destination is left untouched.
func Write(path string, fn func(w io.Writer) error) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	return finish(f, fn)
}

// WriteIn atomically replaces name, inside dir, with whatever fn writes
// (see CreateIn and Write).
func WriteIn(dir, name string, fn func(w io.Writer) error) error {
	f, err := CreateIn(dir, name)
	if err != nil {
		return err
	}
	return finish(f, fn)
}

func finish(f *File, fn func(w io.Writer) error) error {
	defer f.Abort()
	if err := fn(f); err != nil {
		return err
	}
	return f.Commit()
}
