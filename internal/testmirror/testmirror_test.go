package testmirror

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepoRootFromPackageDir: the root holds this module's go.mod and this
// package; a nested module (the Dagger module has its own go.mod) is passed
// over, and a directory outside any checkout is an error naming the module.
func TestRepoRootFromPackageDir(t *testing.T) {
	root := RepoRoot()
	if _, err := os.Stat(filepath.Join(root, "internal", "testmirror", "testmirror.go")); err != nil {
		t.Fatalf("RepoRoot %s does not hold this package: %v", root, err)
	}
	if got, err := findRoot(filepath.Join(root, "dagger", "flow")); err != nil || got != root {
		t.Errorf("findRoot(dagger/flow) = %q, %v; want %s (dagger/go.mod is another module)", got, err, root)
	}
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "go.mod"), []byte("module example.com/other\n"), 0o644)
	if _, err := findRoot(outside); err == nil || !strings.Contains(err.Error(), modulePath) {
		t.Errorf("findRoot outside the checkout: %v, want an error naming %s", err, modulePath)
	}
}
