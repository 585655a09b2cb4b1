// Package testmirror locates the offline mirror of the data sets for tests.
// The mirror is named by DATALAB_MIRROR (the Makefile sets it); without it the
// conventional ../shared/data beside the repository is tried. Under CI
// (CI=true) a missing mirror fails the test instead of skipping it, so CI can
// never pass by silently skipping the tests on real data.
package testmirror

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir returns the mirror directory, or skips (fails under CI) when absent.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("DATALAB_MIRROR"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		t.Fatalf("DATALAB_MIRROR=%s is not a directory", d)
	}
	d := filepath.Join(RepoRoot(), "..", "shared", "data")
	if st, err := os.Stat(d); err == nil && st.IsDir() {
		return d
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("data mirror not found: set DATALAB_MIRROR or put shared/ beside the repository")
	}
	t.Skip("data mirror not found (set DATALAB_MIRROR)")
	return ""
}

// Path joins rel onto the mirror directory.
func Path(t testing.TB, rel ...string) string {
	t.Helper()
	return filepath.Join(append([]string{Dir(t)}, rel...)...)
}

// RepoRoot is the repository root (the directory holding go.mod).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
