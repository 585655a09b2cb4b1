// Package stagecode computes a pipeline stage's code version from the Go
// build graph instead of a hand-kept list: the files of the CLI's main
// package that the stage's command reaches (its run function, the command's
// declaration and flag set-up, and everything they use in package main) and
// every package of this module those import, directly or not. The result is
// the `code:` list of datalab.yaml, written by
// `go test ./cmd/datalab -run TestStageCodeIsComputed -update-stage-code`
// and checked by the same test, so the lists cannot drift from the code.
//
// Module packages are listed as "pkg:<dir>" (stagerun hashes what the
// package builds: its non-test files and embedded assets), files of the
// main package one by one.
package stagecode

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/types"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/tools/go/packages"
)

// Main is package main loaded with its syntax and types.
type Main struct {
	root   string // module root
	module string // module path
	pkg    *packages.Package
	decls  map[types.Object]ast.Node // package-level object → its declaration
	inits  []*ast.FuncDecl
}

// LoadMain loads the main package in dir (e.g. <root>/cmd/datalab) of the
// module at root.
func LoadMain(root, dir string) (*Main, error) {
	cfg := &packages.Config{Dir: root, Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax |
		packages.NeedTypes | packages.NeedTypesInfo | packages.NeedImports | packages.NeedModule}
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return nil, err
	}
	pkgs, err := packages.Load(cfg, "./"+filepath.ToSlash(rel))
	if err != nil {
		return nil, err
	}
	if len(pkgs) != 1 {
		return nil, fmt.Errorf("stagecode: %d packages in %s", len(pkgs), dir)
	}
	p := pkgs[0]
	if len(p.Errors) > 0 {
		return nil, fmt.Errorf("stagecode: %s: %v", dir, p.Errors[0])
	}
	if p.Module == nil {
		return nil, fmt.Errorf("stagecode: %s is not in a module", dir)
	}
	m := &Main{root: root, module: p.Module.Path, pkg: p, decls: map[types.Object]ast.Node{}}
	def := func(id *ast.Ident, n ast.Node) {
		if o := p.TypesInfo.Defs[id]; o != nil {
			m.decls[o] = n
		}
	}
	for _, f := range p.Syntax {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.Name == "init" {
					m.inits = append(m.inits, d)
				} else {
					def(d.Name, d)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							def(n, s)
						}
					case *ast.TypeSpec:
						def(s.Name, s)
					}
				}
			}
		}
	}
	return m, nil
}

// Entry is where a stage's command starts in package main: a named
// package-level function, or the position of a function literal (a cobra
// RunE written inline), as the runtime reports it (file base name, line).
type Entry struct {
	Func string
	File string
	Line int
}

// Code is a stage's computed code: main-package files and module package
// directories, both relative to the module root.
type Code struct {
	Files    []string
	Packages []string
}

// Entries lists c as datalab.yaml's code: entries, sorted: main-package
// files, then pkg:<dir> for each module package.
func (c Code) Entries() []string {
	out := slices.Clone(c.Files)
	for _, d := range c.Packages {
		out = append(out, "pkg:"+d)
	}
	return out
}

// Closure computes the code the entries reach, plus always is the names of
// package-level objects every command runs through (main, the root command).
func (m *Main) Closure(entries []Entry, always ...string) (Code, error) {
	seen := map[ast.Node]bool{}
	var work []ast.Node
	add := func(n ast.Node) {
		if n != nil && !seen[n] {
			seen[n] = true
			work = append(work, n)
		}
	}
	for _, name := range always {
		o := m.pkg.Types.Scope().Lookup(name)
		if o == nil {
			return Code{}, fmt.Errorf("stagecode: no %s in package main", name)
		}
		add(m.decls[o])
	}
	for _, e := range entries {
		n, err := m.entryNode(e)
		if err != nil {
			return Code{}, err
		}
		add(n)
		// The command's declaration (the var whose initialiser holds or
		// names the run function) and the init functions that set up its
		// flags: their defaults are part of what the stage runs.
		for o, d := range m.decls {
			if _, ok := o.(*types.Var); ok && (contains(d, n) || m.references(d, n)) {
				add(d)
				for _, in := range m.inits {
					if m.uses(in, o) {
						add(in)
					}
				}
			}
		}
	}
	imports := map[string]bool{}
	for len(work) > 0 {
		n := work[0]
		work = work[1:]
		ast.Inspect(n, func(x ast.Node) bool {
			id, ok := x.(*ast.Ident)
			if !ok {
				return true
			}
			o := m.pkg.TypesInfo.Uses[id]
			if o == nil || o.Pkg() == nil {
				return true
			}
			if o.Pkg() != m.pkg.Types {
				imports[o.Pkg().Path()] = true
				return true
			}
			if fn, ok := o.(*types.Func); ok {
				o = fn.Origin()
			}
			add(m.decls[o])
			return true
		})
	}
	files := map[string]bool{}
	for n := range seen {
		rel, err := filepath.Rel(m.root, m.pkg.Fset.Position(n.Pos()).Filename)
		if err != nil {
			return Code{}, err
		}
		files[filepath.ToSlash(rel)] = true
	}
	var paths []string
	for p := range imports {
		paths = append(paths, p)
	}
	dirs, err := m.ModulePackages(paths...)
	if err != nil {
		return Code{}, err
	}
	return Code{Files: slices.Sorted(maps.Keys(files)), Packages: dirs}, nil
}

// ModulePackages is every package of the module among paths and their
// dependencies, as directories relative to the module root, sorted.
func (m *Main) ModulePackages(paths ...string) ([]string, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	args := append([]string{"list", "-deps", "-json=ImportPath,Dir,Module"}, slices.Sorted(slices.Values(paths))...)
	cmd := exec.Command("go", args...)
	cmd.Dir = m.root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("stagecode: go list: %v\n%s", err, stderr.Bytes())
	}
	dirs := map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			Dir    string
			Module *struct{ Path string }
		}
		if err := dec.Decode(&p); err != nil {
			return nil, err
		}
		if p.Module == nil || p.Module.Path != m.module {
			continue
		}
		rel, err := filepath.Rel(m.root, p.Dir)
		if err != nil {
			return nil, err
		}
		dirs[filepath.ToSlash(rel)] = true
	}
	return slices.Sorted(maps.Keys(dirs)), nil
}

// NotebookImports is the import paths in the code cells of a Jupyter
// notebook (GoNB: Go code, imports in import declarations).
func NotebookImports(ipynb []byte) ([]string, error) {
	var nb struct {
		Cells []struct {
			CellType string          `json:"cell_type"`
			Source   json.RawMessage `json:"source"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(ipynb, &nb); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		var lines []string
		if err := json.Unmarshal(c.Source, &lines); err != nil {
			var s string
			if err := json.Unmarshal(c.Source, &s); err != nil {
				return nil, err
			}
			lines = []string{s}
		}
		inBlock := false
		sc := bufio.NewScanner(strings.NewReader(strings.Join(lines, "")))
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			switch {
			case strings.HasPrefix(l, "import ("):
				inBlock = true
			case inBlock && l == ")":
				inBlock = false
			case inBlock || strings.HasPrefix(l, "import "):
				l = strings.TrimPrefix(l, "import ")
				if i := strings.Index(l, `"`); i >= 0 {
					if j := strings.Index(l[i+1:], `"`); j >= 0 {
						seen[l[i+1:i+1+j]] = true
					}
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// entryNode finds the declaration or function literal of e.
func (m *Main) entryNode(e Entry) (ast.Node, error) {
	if e.Func != "" {
		o := m.pkg.Types.Scope().Lookup(e.Func)
		if o == nil || m.decls[o] == nil {
			return nil, fmt.Errorf("stagecode: no function %s in package main", e.Func)
		}
		return m.decls[o], nil
	}
	var found ast.Node
	for _, f := range m.pkg.Syntax {
		if filepath.Base(m.pkg.Fset.Position(f.Pos()).Filename) != e.File {
			continue
		}
		ast.Inspect(f, func(x ast.Node) bool {
			switch x.(type) {
			case *ast.FuncLit, *ast.FuncDecl:
				if m.pkg.Fset.Position(x.Pos()).Line == e.Line {
					found = x
					return false
				}
			}
			return true
		})
	}
	if found == nil {
		return nil, fmt.Errorf("stagecode: no function at %s:%d", e.File, e.Line)
	}
	return found, nil
}

// references reports whether n uses the package-level function declared by
// target (a *ast.FuncDecl).
func (m *Main) references(n, target ast.Node) bool {
	fd, ok := target.(*ast.FuncDecl)
	if !ok {
		return false
	}
	return m.uses(n, m.pkg.TypesInfo.Defs[fd.Name])
}

// uses reports whether n refers to o.
func (m *Main) uses(n ast.Node, o types.Object) bool {
	if o == nil {
		return false
	}
	found := false
	ast.Inspect(n, func(x ast.Node) bool {
		if id, ok := x.(*ast.Ident); ok && m.pkg.TypesInfo.Uses[id] == o {
			found = true
		}
		return !found
	})
	return found
}

func contains(outer, inner ast.Node) bool {
	return outer.Pos() <= inner.Pos() && inner.End() <= outer.End() && outer != inner
}
