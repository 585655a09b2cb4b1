package repocheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCgoTestsRunInTheirStep: make test compiles without cgo and runs the
// cgo-only test files (DuckDB, the interop anchor) in a step of their own,
// `CGO_ENABLED=1 go test -run '^TestDuckDB' ./pipeline/ingest/`. A test in a
// `//go:build cgo` file under another name, or in another package, would run
// nowhere; this check says so instead.
func TestCgoTestsRunInTheirStep(t *testing.T) {
	root, files := gitFiles(t, "--cached", "--others", "--exclude-standard")
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	testFunc := regexp.MustCompile(`(?m)^func (Test\w*)\(`)
	for _, rel := range files {
		if !strings.HasSuffix(rel, "_test.go") || strings.HasPrefix(rel, "dagger/") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			continue // deleted in the working tree
		}
		if !regexp.MustCompile(`(?m)^//go:build .*\bcgo\b`).Match(b) {
			continue
		}
		pkg := "./" + filepath.Dir(rel) + "/"
		if !strings.Contains(string(makefile), "-run '^TestDuckDB' "+pkg) && testFunc.Match(b) {
			t.Errorf("%s: tests in a cgo-only file, but the Makefile's cgo step does not test %s", rel, pkg)
		}
		for _, m := range testFunc.FindAllSubmatch(b, -1) {
			if !strings.HasPrefix(string(m[1]), "TestDuckDB") {
				t.Errorf("%s: %s is in a cgo-only file but not named TestDuckDB…: the cgo step (-run '^TestDuckDB') would not run it", rel, m[1])
			}
		}
	}
}
