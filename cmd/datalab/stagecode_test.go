package main

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/stagecode"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

var updateStageCode = flag.Bool("update-stage-code", false, "rewrite the code: lists of datalab.yaml from the build graph")

// TestStageCodeIsComputed: every stage whose command runs datalab has, as
// its code: list, exactly what the build graph says the command runs — the
// files of this package its run function, its declaration and flag set-up
// reach (and main and the root command, which every command runs through),
// every package of the module those import, the packages the notebooks it
// reads import, and go.sum — plus the non-Go files the stage declares
// (kept as written). A helper moved to another file or a new import shows
// up here; `go test ./cmd/datalab -run TestStageCodeIsComputed
// -update-stage-code` rewrites the lists (docs/pipeline.md).
func TestStageCodeIsComputed(t *testing.T) {
	root := testmirror.RepoRoot()
	yamlPath := filepath.Join(root, "datalab.yaml")
	p, err := stagerun.Load(yamlPath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := stagecode.LoadMain(root, filepath.Join(root, "cmd", "datalab"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(yamlPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	stale := 0
	for _, s := range p.Stages {
		entries := commandEntries(t, s.Cmd)
		if len(entries) == 0 {
			continue // not a datalab command: its list is the author's
		}
		code, err := m.Closure(entries, "main", "rootCmd")
		if err != nil {
			t.Fatalf("stage %s: %v", s.Name, err)
		}
		want := code.Entries()
		var nbImports []string
		for _, d := range s.Deps {
			if strings.HasSuffix(d, ".ipynb") {
				b, err := os.ReadFile(filepath.Join(root, d))
				if err != nil {
					t.Fatal(err)
				}
				imps, err := stagecode.NotebookImports(b)
				if err != nil {
					t.Fatalf("%s: %v", d, err)
				}
				nbImports = append(nbImports, imps...)
			}
		}
		nbDirs, err := m.ModulePackages(nbImports...)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range nbDirs {
			if !slices.Contains(want, "pkg:"+d) {
				want = append(want, "pkg:"+d)
			}
		}
		want = append(slices.Sorted(slices.Values(want)), declaredNonGo(root, s.Code)...)
		want = append(want, "go.sum")
		if slices.Equal(s.Code, want) {
			continue
		}
		stale++
		if !*updateStageCode {
			t.Errorf("stage %s: code: is\n  %v\nthe build graph says\n  %v\n(go test ./cmd/datalab -run TestStageCodeIsComputed -update-stage-code rewrites it; then datalab run and commit datalab.yaml and datalab.lock)", s.Name, s.Code, want)
			continue
		}
		text, err = replaceCodeLine(text, s.Name, want)
		if err != nil {
			t.Fatalf("stage %s: no one-line code: [...] to rewrite in %s: %v", s.Name, yamlPath, err)
		}
	}
	if *updateStageCode && stale > 0 {
		if err := os.WriteFile(yamlPath, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the code: lists of %d stages in %s", stale, yamlPath)
	}
}

// commandEntries finds where each `datalab …` command in a stage's shell
// command starts in this package: its cobra command's run function.
func commandEntries(t *testing.T, cmd string) []stagecode.Entry {
	t.Helper()
	var out []stagecode.Entry
	for _, part := range regexp.MustCompile(`&&|\|\||[;|\n]`).Split(cmd, -1) {
		f := strings.Fields(part)
		if len(f) == 0 || f[0] != "datalab" {
			continue
		}
		c, _, err := rootCmd.Find(f[1:])
		if err != nil || c == rootCmd {
			t.Fatalf("stage command %q: no datalab subcommand: %v", part, err)
		}
		var run any = c.RunE
		if c.RunE == nil {
			run = c.Run
		}
		pc := reflect.ValueOf(run).Pointer()
		fn := runtime.FuncForPC(pc)
		if fn == nil {
			t.Fatalf("datalab %s: no run function", c.CommandPath())
		}
		if name, ok := strings.CutPrefix(fn.Name(), "main."); ok && !strings.Contains(name, ".") {
			out = append(out, stagecode.Entry{Func: name})
			continue
		}
		file, line := fn.FileLine(pc)
		out = append(out, stagecode.Entry{File: filepath.Base(file), Line: line})
	}
	return out
}

// declaredNonGo keeps the entries of a code list that are not Go code of
// this module (kernel files, another module's go.mod …), in their order.
func declaredNonGo(root string, code []string) []string {
	var out []string
	for _, c := range code {
		if strings.HasPrefix(c, stagerun.GoPackagePrefix) || c == "go.sum" || strings.HasSuffix(c, ".go") {
			continue
		}
		if entries, err := os.ReadDir(filepath.Join(root, c)); err == nil && slices.ContainsFunc(entries, func(e os.DirEntry) bool {
			return strings.HasSuffix(e.Name(), ".go")
		}) {
			continue // a package listed as a directory (the old, hand-kept form)
		}
		out = append(out, c)
	}
	return out
}

// replaceCodeLine rewrites the one-line `code: [...]` of stage name.
func replaceCodeLine(text, name string, code []string) (string, error) {
	stages := regexp.MustCompile(`(?m)^stages:`).FindStringIndex(text)
	if stages == nil {
		return "", os.ErrNotExist
	}
	start := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + `:[ \t]*$`).FindStringIndex(text[stages[1]:])
	if start == nil {
		return "", os.ErrNotExist
	}
	start[1] += stages[1]
	rest := text[start[1]:]
	end := len(rest)
	if next := regexp.MustCompile(`(?m)^  \S`).FindStringIndex(rest); next != nil {
		end = next[0]
	}
	line := regexp.MustCompile(`(?m)^    code: \[.*\]$`)
	block := rest[:end]
	if !line.MatchString(block) {
		return "", os.ErrNotExist
	}
	block = line.ReplaceAllLiteralString(block, "    code: ["+strings.Join(code, ", ")+"]")
	return text[:start[1]] + block + rest[end:], nil
}
