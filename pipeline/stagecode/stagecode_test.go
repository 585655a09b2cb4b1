package stagecode

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fixture is a module with a main package of two commands: a reaches a
// helper in shared.go and package liba (which imports libc), b reaches
// libb; flags of a are set up in an init function.
var fixture = map[string]string{
	"go.mod": "module example.com/m\n\ngo 1.22\n",
	"cmd/main.go": `package main

func main() { root() }

func root() {}
`,
	"cmd/a.go": `package main

import "example.com/m/liba"

var aCmd = struct{ run func() error }{run: runA}

var aFlag string

func init() { aFlag = "default" ; _ = aCmd }

func runA() error { helper(); return liba.Do() }
`,
	"cmd/b.go": `package main

import "example.com/m/libb"

var bCmd = struct{ run func() error }{run: func() error { return libb.Do() }}
`,
	"cmd/shared.go": `package main

func helper() {}
`,
	"liba/a.go":  "package liba\n\nimport \"example.com/m/libc\"\n\nfunc Do() error { return libc.Do() }\n",
	"libb/b.go":  "package libb\n\nfunc Do() error { return nil }\n",
	"libc/c.go":  "package libc\n\nfunc Do() error { return nil }\n",
	"other/o.go": "package other\n",
}

func TestClosure(t *testing.T) {
	root := t.TempDir()
	for rel, content := range fixture {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := LoadMain(root, filepath.Join(root, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.Closure([]Entry{{Func: "runA"}}, "main")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"cmd/a.go", "cmd/main.go", "cmd/shared.go", "pkg:liba", "pkg:libc"}; !slices.Equal(a.Entries(), want) {
		t.Errorf("runA reaches %v, want %v", a.Entries(), want)
	}
	// b's run function is a literal in bCmd's declaration (line 5 of b.go).
	b, err := m.Closure([]Entry{{File: "b.go", Line: 5}}, "main")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"cmd/b.go", "cmd/main.go", "pkg:libb"}; !slices.Equal(b.Entries(), want) {
		t.Errorf("b's literal reaches %v, want %v", b.Entries(), want)
	}
	if _, err := m.Closure([]Entry{{Func: "runZ"}}); err == nil {
		t.Error("an unknown entry function was accepted")
	}
	if _, err := m.Closure([]Entry{{File: "b.go", Line: 1}}); err == nil {
		t.Error("an entry position with no function was accepted")
	}
}

func TestNotebookImports(t *testing.T) {
	nb := `{"cells": [
		{"cell_type": "markdown", "source": ["import \"not/code\""]},
		{"cell_type": "code", "source": ["import (\n", "\t\"fmt\"\n", "\tx \"example.com/m/liba\"\n", ")\n"]},
		{"cell_type": "code", "source": "import \"example.com/m/libb\"\n%%\nfmt.Println()"}
	]}`
	got, err := NotebookImports([]byte(nb))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"example.com/m/liba", "example.com/m/libb", "fmt"}; !slices.Equal(got, want) {
		t.Errorf("imports %v, want %v", got, want)
	}
}
