package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// TempDirBeside creates a new, empty directory next to dir (in its parent,
// which is created if missing) for a caller to fill and then publish with
// ReplaceDir. Being on dir's file system is what lets ReplaceDir rename it
// into place. Its name is "."+base(dir)+"."+purpose+"-" and a random suffix,
// so a leftover says what it was for. A relative dir inside the working
// directory may not be reached through a symbolic link leading out of it
// (see Create). The caller removes it with
// os.RemoveAll when done; after a successful ReplaceDir that is a no-op.
func TempDirBeside(dir, purpose string) (string, error) {
	dir = filepath.Clean(dir) // "a/b/" must get a sibling of b, not a child
	parent := filepath.Dir(dir)
	if err := checkInside(parent, true); err != nil {
		return "", fmt.Errorf("create directory for %s: %w", dir, err)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create directory for %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+"."+purpose+"-*")
	if err != nil {
		return "", fmt.Errorf("create temporary directory for %s: %w", dir, err)
	}
	return tmp, nil
}

// ReplaceDir publishes the complete directory tmp as dir: tmp is given mode
// 0755 and renamed onto dir. An existing dir is first renamed aside (to
// tmp+".old") and removed once the new one is in place, so readers see the
// old directory or the new one, never a half-written one, and dir is
// missing only between two renames. If the rename fails the old directory
// is put back, and once it is in place the parent directory is synced. tmp
// must be on dir's file system, as TempDirBeside makes it.
func ReplaceDir(tmp, dir string) error {
	dir = filepath.Clean(dir) // "a/b/" would follow a link b and move its target aside
	if err := checkInside(filepath.Dir(dir), false); err != nil {
		return fmt.Errorf("replace %s: %w", dir, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	old := ""
	if _, err := os.Lstat(dir); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("move the old %s aside: %w", dir, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("replace %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			if rerr := os.Rename(old, dir); rerr != nil {
				return fmt.Errorf("rename into %s: %w (putting the old one back failed too, it is at %s: %v)", dir, err, old, rerr)
			}
		}
		return fmt.Errorf("rename into %s: %w", dir, err)
	}
	// The renames change dir's parent: sync it so that they survive a crash.
	if err := syncDirPath(filepath.Dir(dir), dir); err != nil {
		return err
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("%s is in place but the old one is left at %s: %w", dir, old, err)
		}
	}
	return nil
}
