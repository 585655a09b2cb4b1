// Package testtree reads a directory tree for tests that compare what a
// stage wrote: two writes of the same input, a download with its upload, a
// model with its golden file; and writes one for tests that need a small
// tree of files to work on.
package testtree

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Read maps every file under dir, by its slash-separated path relative to
// dir, to its contents. The contents are strings so that two trees compare
// with maps.Equal and a difference prints with %q. A read error fails t.
func Read(t testing.TB, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatalf("read tree %s: %v", dir, err)
	}
	return files
}

// List returns every path under dir — directories, files and symbolic
// links, which it does not follow — slash-separated, relative to dir and
// sorted: what a test checks when nothing may have been written there. A
// read error fails t.
func List(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatalf("list tree %s: %v", dir, err)
	}
	return out
}

// Write creates each file of files, keyed by its slash-separated path
// relative to dir, with its contents, and the directories it needs: the
// inverse of Read. A write error fails t.
func Write(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		WriteFile(t, filepath.Join(dir, filepath.FromSlash(rel)), content)
	}
}

// WriteFile creates the file path (mode 0644) with content, and the
// directories it needs (0755). A write error fails t.
func WriteFile[Content string | []byte](t testing.TB, path string, content Content) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}
