package repocheck

import (
	"os"
	"os/exec"
	"path"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
)

// TestNoCompiledPythonTracked fails when git tracks Python bytecode: a .pyc
// is a build product of one interpreter version (peers.cpython-311.pyc), not
// source, and .gitignore keeps __pycache__ out.
func TestNoCompiledPythonTracked(t *testing.T) {
	root := testmirror.RepoRoot()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached").Output()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("git ls-files: %v", err)
		}
		t.Skipf("not a git checkout: %v", err)
	}
	files := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	if len(files) < 100 {
		t.Fatalf("only %d files listed", len(files))
	}
	for _, rel := range files {
		if strings.HasSuffix(rel, ".pyc") || strings.HasSuffix(rel, ".pyo") || strings.Contains("/"+path.Dir(rel)+"/", "/__pycache__/") {
			t.Errorf("%s is compiled Python tracked by git: `git rm --cached %s` (.gitignore ignores __pycache__/)", rel, rel)
		}
	}
}
