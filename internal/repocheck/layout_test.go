package repocheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/internal/testtree"
)

// layoutRules are the folder rules of the layout (docs/architecture.md):
// for each top-level folder, the top-level folders none of its packages may
// depend on. The two use cases (matches/, flights/) never import each other,
// and the core (pipeline/) imports neither use case nor the operations
// (ops/). ops/, cmd/, bench/ and internal/ have no rule.
var layoutRules = map[string][]string{
	"matches":  {"flights"},
	"flights":  {"matches"},
	"pipeline": {"matches", "flights", "ops"},
}

// layoutExceptions are the imports the rules allow anyway, keyed as
// TestLayoutRules names a violation ("<package> <files> -> <import>"), each
// with its reason. An exception that no import needs any more fails the test,
// so the list cannot outlive its reasons.
var layoutExceptions = map[string]string{
	// The external tests of the notebook runner render the real
	// notebooks/*.ipynb, which are shells over both use cases; one checks
	// flights-explore's late_30+ share against the label stage it shows.
	// An external test package is not importable and not part of the
	// notebook package's build or code version.
	"pipeline/notebook external test -> flights/flightfeat": "notebooks/flights-explore.ipynb is checked against flightfeat's label buckets",
}

// TestLayoutRules parses the imports of every Go file (every platform and
// build tag, tests included) in every package of the module (`go list
// ./...`) and fails for each import that breaks layoutRules, directly or
// through other packages of the module (internal/, bench/, …), naming the
// file, the import and the chain to the forbidden package.
func TestLayoutRules(t *testing.T) {
	root := testmirror.RepoRoot()
	pkgs, vs := layoutViolations(t, root, layoutRules)
	// The rules must apply to something: a renamed folder would otherwise
	// make them pass by checking nothing.
	for _, area := range []string{"matches", "flights", "ops", "pipeline"} {
		if pkgs[area] < 2 {
			t.Errorf("%d packages under %s/: the layout changed, update layoutRules (and docs/architecture.md)", pkgs[area], area)
		}
	}
	used := map[string]bool{}
	for _, v := range vs {
		if _, ok := layoutExceptions[v.key]; ok {
			used[v.key] = true
			continue
		}
		t.Error(v.msg)
	}
	checkExceptionsUsed(t, "layoutExceptions", layoutExceptions, used)
}

// checkExceptionsUsed fails for each key of exceptions (named name: key →
// reason) that used does not mark, so that a list of allowed exceptions
// cannot outlive its reasons.
func checkExceptionsUsed(t *testing.T, name string, exceptions map[string]string, used map[string]bool) {
	t.Helper()
	for key, why := range exceptions {
		if !used[key] {
			t.Errorf("exception %q (%s) is no longer needed: remove it from %s", key, why, name)
		}
	}
}

// TestLayoutRulesCatchViolations runs the check on a small module with one
// violation of each kind it finds, and imports it allows.
func TestLayoutRulesCatchViolations(t *testing.T) {
	root := t.TempDir()
	testtree.Write(t, root, map[string]string{
		"go.mod": "module example.com/lay\n\ngo 1.22\n",
		// A use case importing the other: direct.
		"matches/m/m.go":  "package m\n\nimport _ \"example.com/lay/flights/f\"\n",
		"flights/f/f.go":  "package f\n",
		"flights/g/g.go":  "package g\n",
		"internal/h/h.go": "package h\n\nimport _ \"example.com/lay/matches/m\"\n",
		// Core reaching a use case through internal/: transitive.
		"pipeline/p/p.go": "package p\n\nimport _ \"example.com/lay/internal/h\"\n",
		// Named at pipeline/p, not again at every core package above it.
		"pipeline/r/r.go": "package r\n\nimport _ \"example.com/lay/pipeline/p\"\n",
		// Core's in-package test importing ops/, in a file of another platform.
		"pipeline/q/q.go":               "package q\n",
		"pipeline/q/q_plan9_test.go":    "package q\n\nimport _ \"example.com/lay/ops/o\"\n",
		"pipeline/q/q_external_test.go": "package q_test\n\nimport _ \"example.com/lay/flights/g\"\n",
		// ops/ may import anything.
		"ops/o/o.go": "package o\n\nimport _ \"example.com/lay/matches/m\"\n",
	})
	_, vs := layoutViolations(t, root, layoutRules)
	var got []string
	for _, v := range vs {
		got = append(got, v.key)
	}
	want := []string{
		"matches/m package -> flights/f",
		"pipeline/p package -> internal/h",
		"pipeline/q external test -> flights/g",
		"pipeline/q test -> ops/o",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations %q, want %q", got, want)
	}
	for _, v := range vs {
		if v.key == "pipeline/p package -> internal/h" &&
			(!strings.Contains(v.msg, "pipeline/p/p.go:3") || !strings.Contains(v.msg, "internal/h -> matches/m")) {
			t.Errorf("message %q does not name the file and the chain", v.msg)
		}
	}
}

// layoutViolation is one import that breaks a rule: key identifies it
// (layoutExceptions), msg explains it.
type layoutViolation struct{ key, msg string }

// goImport is one import of a module package by one file.
type goImport struct {
	kind string // "package", "test" (in-package _test.go) or "external test"
	pos  string // file:line, relative to the module root
	path string // the imported package, relative to the module root
}

// layoutViolations lists the packages of the module in root and returns how
// many there are under each top-level folder and every import that breaks
// rules, sorted.
func layoutViolations(t *testing.T, root string, rules map[string][]string) (map[string]int, []layoutViolation) {
	t.Helper()
	module, dirs := listPackageDirs(t, root)
	imports := map[string][]goImport{} // package → its imports of module packages
	deps := map[string][]string{}      // package → module packages its build imports
	count := map[string]int{}
	for _, rel := range dirs {
		count[area(rel)]++
		imps, err := parseImports(root, rel, module)
		if err != nil {
			t.Fatal(err)
		}
		imports[rel] = imps
		for _, imp := range imps {
			if imp.kind == "package" && !slices.Contains(deps[rel], imp.path) {
				deps[rel] = append(deps[rel], imp.path)
			}
		}
	}
	var out []layoutViolation
	for _, rel := range dirs {
		forbidden := rules[area(rel)]
		if len(forbidden) == 0 {
			continue
		}
		seen := map[string]bool{}
		for _, imp := range imports[rel] {
			key := fmt.Sprintf("%s %s -> %s", rel, imp.kind, imp.path)
			if seen[key] {
				continue
			}
			chain := forbiddenChain(rules, deps, imp.path, forbidden)
			if chain == nil {
				continue
			}
			seen[key] = true
			last := chain[len(chain)-1]
			msg := fmt.Sprintf("%s: %s (%s files) imports %s", imp.pos, rel, imp.kind, imp.path)
			if len(chain) > 1 {
				msg += fmt.Sprintf(", which depends on %s (%s)", last, strings.Join(chain, " -> "))
			}
			out = append(out, layoutViolation{key: key, msg: fmt.Sprintf(
				"%s: %s/ may not depend on %s/ (docs/architecture.md): move what both need into pipeline/, or turn the dependency around",
				msg, area(rel), area(last))})
		}
	}
	slices.SortFunc(out, func(a, b layoutViolation) int { return strings.Compare(a.key, b.key) })
	return count, out
}

// area is the top-level folder of a package path relative to the module.
func area(rel string) string {
	first, _, _ := strings.Cut(rel, "/")
	return first
}

// forbiddenChain returns the shortest chain of build imports from pkg (pkg
// first) to a package in one of the forbidden areas, or nil. It does not
// look past a package whose own rules forbid the same area: that package's
// imports are checked on their own, and the violation is named there once
// rather than at every package above it.
func forbiddenChain(rules, deps map[string][]string, pkg string, forbidden []string) []string {
	for _, f := range forbidden {
		parent := map[string]string{pkg: ""}
		queue := []string{pkg}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if area(p) == f {
				var chain []string
				for q := p; q != ""; q = parent[q] {
					chain = append(chain, q)
				}
				slices.Reverse(chain)
				return chain
			}
			if slices.Contains(rules[area(p)], f) {
				continue
			}
			for _, d := range deps[p] {
				if _, ok := parent[d]; !ok {
					parent[d] = p
					queue = append(queue, d)
				}
			}
		}
	}
	return nil
}

// listPackageDirs returns the module path of root and the directory,
// relative to root, of each of its packages (`go list ./...`; nested
// modules such as dagger/ and testdata directories are not packages of it).
func listPackageDirs(t *testing.T, root string) (string, []string) {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skipf("no go command: %v", err)
	}
	cmd := exec.Command(goCmd, "list", "-e", "-json=ImportPath,Dir,Module", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./... in %s: %v\n%s", root, err, stderr.Bytes())
	}
	var module string
	var dirs []string
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath, Dir string
			Module          *struct{ Path string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list ./... output: %v", err)
		}
		if p.Module == nil {
			t.Fatalf("go list: package %s has no module", p.ImportPath)
		}
		module = p.Module.Path
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, filepath.ToSlash(rel))
	}
	if len(dirs) == 0 {
		t.Fatalf("go list ./... in %s lists no package", root)
	}
	return module, dirs
}

// parseImports reads the imports of module packages in every .go file of
// the package directory rel, whatever its build constraints.
func parseImports(root, rel, module string) ([]goImport, error) {
	entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var out []goImport
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		name := path.Join(rel, e.Name())
		f, err := parser.ParseFile(fset, filepath.Join(root, filepath.FromSlash(name)), nil, parser.ImportsOnly)
		if err != nil {
			return nil, err
		}
		kind := "package"
		if strings.HasSuffix(e.Name(), "_test.go") {
			kind = "test"
			if strings.HasSuffix(f.Name.Name, "_test") {
				kind = "external test"
			}
		}
		for _, spec := range f.Imports {
			p, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: import %s: %w", name, spec.Path.Value, err)
			}
			sub, ok := strings.CutPrefix(p, module+"/")
			if !ok {
				continue
			}
			out = append(out, goImport{kind: kind, path: sub,
				pos: fmt.Sprintf("%s:%d", name, fset.Position(spec.Pos()).Line)})
		}
	}
	return out, nil
}
