package repocheck

import (
	"path"
	"strings"
	"testing"
)

// TestNoCompiledPythonTracked fails when git tracks Python bytecode: a .pyc
// is a build product of one interpreter version (peers.cpython-311.pyc), not
// source, and .gitignore keeps __pycache__ out.
func TestNoCompiledPythonTracked(t *testing.T) {
	_, files := gitFiles(t, "--cached")
	for _, rel := range files {
		if strings.HasSuffix(rel, ".pyc") || strings.HasSuffix(rel, ".pyo") || strings.Contains("/"+path.Dir(rel)+"/", "/__pycache__/") {
			t.Errorf("%s is compiled Python tracked by git: `git rm --cached %s` (.gitignore ignores __pycache__/)", rel, rel)
		}
	}
}
