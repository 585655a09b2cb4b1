package flow_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// kebab turns a Go name into the `dagger call` spelling: SparkTrain →
// spark-train, awsAccessKeyId → aws-access-key-id.
func kebab(name string) string {
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// moduleFunctions reads main.go: each method of *Datalab as `dagger call`
// names it, with its arguments as flags (the context excluded).
func moduleFunctions(t *testing.T) map[string][]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "main.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	fns := map[string][]string{}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv == nil || !fd.Name.IsExported() {
			continue
		}
		var args []string
		for _, p := range fd.Type.Params.List {
			for _, n := range p.Names {
				if n.Name != "ctx" {
					args = append(args, "--"+kebab(n.Name))
				}
			}
		}
		fns[kebab(fd.Name.Name)] = args
	}
	return fns
}

// hiddenByCLI are the names the dagger CLI v0.21.8 never offers as `dagger
// call` functions of a module loaded at the top level: the core fields it
// hides on Query (dagui.ShouldSkipFunction). A module function of one of
// these names is listed as "Skipped … unsupported types" and `dagger call
// <name>` says unknown command — found on the real engine
// (docs/dagger.md), where the module's `pipeline` became `run`.
var hiddenByCLI = []string{"_builtinContainer", "generatedCode", "currentFunctionCall", "currentModule", "typeDef",
	"sourceMap", "function", "cacheVolume", "setSecret", "with", "pipeline"}

// TestFunctionsAreCallable: no function of main.go has a name the CLI hides.
func TestFunctionsAreCallable(t *testing.T) {
	for name := range moduleFunctions(t) {
		for _, h := range hiddenByCLI {
			if name == kebab(h) {
				t.Errorf("function %q: dagger call never offers it (the CLI hides the core field %s)", name, h)
			}
		}
	}
}

var (
	daggerCall = regexp.MustCompile(`dagger call ([a-z-]+)`)
	flagWord   = regexp.MustCompile(`(?:^|[\s(])(--[a-z][a-z0-9-]*)`)
)

// TestWorkflowCallsRealFunctions: every `dagger call F` in the workflows
// names a function of this module, and every flag the step gives it — on
// the dagger call's own lines and in the bash array (args=(…), args+=(…))
// it builds the call from — is one of F's arguments (or export's --path).
// gh's and other tools' flags on other lines are not the module's.
func TestWorkflowCallsRealFunctions(t *testing.T) {
	fns := moduleFunctions(t)
	if _, ok := fns["run"]; !ok || !slices.Contains(fns["run"], "--aws-access-key-id") {
		t.Fatalf("main.go read wrong: %v", fns)
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", ".github", "workflows", "*.yml"))
	if len(files) == 0 {
		t.Fatal("no workflows")
	}
	calls := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		// A step's script is the run: block; steps are separated by "- ".
		for _, step := range strings.Split(string(b), "\n      - ") {
			m := daggerCall.FindStringSubmatch(step)
			if m == nil {
				continue
			}
			calls++
			fn := m[1]
			args, ok := fns[fn]
			if !ok {
				t.Errorf("%s: dagger call %s: no such function in main.go", file, fn)
				continue
			}
			lines := strings.Split(step, "\n")
			for i, line := range lines {
				l := strings.TrimSpace(line)
				continued := i > 0 && strings.HasSuffix(strings.TrimSpace(lines[i-1]), `\`) && strings.Contains(strings.Join(lines[:i], "\n"), "dagger call")
				if !strings.Contains(l, "dagger call") && !strings.HasPrefix(l, "args=(") && !strings.HasPrefix(l, "args+=(") && !continued {
					continue
				}
				for _, f := range flagWord.FindAllStringSubmatch(l, -1) {
					flag := f[1]
					if flag == "--path" && strings.Contains(l, "export --path") {
						continue
					}
					if !slices.Contains(args, flag) {
						t.Errorf("%s: dagger call %s: %s is not an argument of %s (it takes %s)", file, fn, flag, fn, strings.Join(args, " "))
					}
				}
			}
		}
	}
	if calls == 0 {
		t.Fatal("no dagger call found in the workflows")
	}
}
