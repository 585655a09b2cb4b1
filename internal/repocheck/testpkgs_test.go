package repocheck

import (
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/internal/testtree"
)

// isTestPackage reports whether the package directory rel (relative to
// root) holds test helpers: its non-test files import "testing" (they take
// a testing.TB: flights/flighttest, pipeline/sqldb/sqldbtest,
// internal/testwait), or its name starts with "test" (internal/testlog,
// which needs no testing.TB). Their files are not _test.go files (other
// packages' tests import them), so only this rule keeps them out of the
// binaries.
func isTestPackage(t *testing.T, root, rel string) bool {
	t.Helper()
	if strings.HasPrefix(path.Base(rel), "test") {
		return true
	}
	entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(root, filepath.FromSlash(rel), e.Name()), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		if importName(f, "testing") != "" {
			return true
		}
	}
	return false
}

// TestTestPackagesOnlyInTests fails for each non-test Go file of the
// module that imports a test-helper package (isTestPackage), unless the
// file is itself in one: fixtures, mirrors of the data and fake servers
// belong to tests, never to the CLI or a stage.
func TestTestPackagesOnlyInTests(t *testing.T) {
	helpers, vs := testImportViolations(t, testmirror.RepoRoot())
	// The rule must apply to something (internal/test*, flights/flighttest, …).
	if helpers < 5 {
		t.Errorf("only %d test-helper packages: isTestPackage no longer matches how they are named", helpers)
	}
	for _, v := range vs {
		t.Error(v)
	}
}

// TestTestImportCheckCatchesViolations runs the check on a small module.
func TestTestImportCheckCatchesViolations(t *testing.T) {
	root := t.TempDir()
	testtree.Write(t, root, map[string]string{
		"go.mod":                 "module example.com/tp\n\ngo 1.22\n",
		"internal/testx/x.go":    "package testx\n",
		"app/fixtest/f.go":       "package fixtest\n\nimport (\n\t\"testing\"\n\n\t_ \"example.com/tp/internal/testx\"\n)\n\nvar _ testing.TB\n", // a helper may use another
		"app/a.go":               "package app\n\nimport _ \"example.com/tp/app/fixtest\"\n",
		"app/a_test.go":          "package app\n\nimport _ \"example.com/tp/internal/testx\"\n",
		"app/ext_test.go":        "package app_test\n\nimport _ \"example.com/tp/app/fixtest\"\n",
		"cmd/c/main.go":          "package main\n\nimport _ \"example.com/tp/internal/testx\"\n",
		"cmd/c/latest/latest.go": "package latest\n",
		"cmd/c/main_test.go":     "package main\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) {}\n",
	})
	helpers, got := testImportViolations(t, root)
	if helpers != 2 {
		t.Errorf("%d test-helper packages, want 2 (internal/testx by name, app/fixtest by its testing import; not cmd/c, whose tests only import testing, nor cmd/c/latest)", helpers)
	}
	want := []string{
		"app/a.go:3: app imports the test helper app/fixtest outside a test: move the import into a _test.go file",
		"cmd/c/main.go:3: cmd/c imports the test helper internal/testx outside a test: move the import into a _test.go file",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations\n%q\nwant\n%q", got, want)
	}
}

// testImportViolations lists the packages of the module in root (`go list
// ./...`) and returns how many are test helpers and, for each non-test
// file outside them that imports one, a message naming it.
func testImportViolations(t *testing.T, root string) (helpers int, out []string) {
	t.Helper()
	module, dirs := listPackageDirs(t, root)
	helper := map[string]bool{}
	for _, rel := range dirs {
		if helper[rel] = isTestPackage(t, root, rel); helper[rel] {
			helpers++
		}
	}
	for _, rel := range dirs {
		if helper[rel] {
			continue
		}
		imps, err := parseImports(root, rel, module)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range imps {
			if imp.kind == "package" && helper[imp.path] {
				out = append(out, imp.pos+": "+rel+" imports the test helper "+imp.path+" outside a test: move the import into a _test.go file")
			}
		}
	}
	return helpers, out
}
