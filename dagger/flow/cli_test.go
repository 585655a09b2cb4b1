package flow_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"dagger/datalab/flow"
)

// The real datalab CLI, built once from the repository the module lives in
// (this package is dagger/flow, so the repository root is ../..).
var cli struct {
	once      sync.Once
	root, bin string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cli.bin != "" {
		os.RemoveAll(filepath.Dir(cli.bin))
	}
	os.Exit(code)
}

// datalab returns the repository root and the CLI built from it.
func datalab(t *testing.T) (root, bin string) {
	t.Helper()
	cli.once.Do(func() {
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			cli.err = err
			return
		}
		if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !bytes.Contains(b, []byte("module github.com/datalabhq/datalab\n")) {
			cli.err = fmt.Errorf("%s is not the datalab repository (go.mod: %v)", root, err)
			return
		}
		dir, err := os.MkdirTemp("", "datalab-cli-")
		if err != nil {
			cli.err = err
			return
		}
		cli.root, cli.bin = root, filepath.Join(dir, "datalab")
		cmd := exec.Command("go", "build", "-o", cli.bin, "./cmd/datalab")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			cli.err = fmt.Errorf("go build ./cmd/datalab: %v\n%s", err, out)
		}
	})
	if cli.err != nil {
		t.Fatal(cli.err)
	}
	return cli.root, cli.bin
}

// checkCommand fails unless args (a command line starting with "datalab")
// names a subcommand the CLI has, with flags it accepts, and — for `datalab
// run` — stages datalab.yaml has.
//
// It runs `datalab <args…> --help`. cobra exits non-zero for an unknown
// top-level command or an unknown flag, but for an unknown word under a
// command group (`datalab train nosuch --help`) it prints the group's help
// and exits 0; so the help's Usage line must name the command the args
// lead to, and words left over must not be meant as subcommands (the command
// they were given to has none). Stage names are not flags or subcommands:
// `datalab run --dry-run <stages…>` checks them without running anything;
// `datalab spark args --variant v` checks each variant of `datalab train
// flights` against params.flights the same way.
func checkCommand(root, bin string, args []string) error {
	line := strings.Join(args, " ")
	if len(args) == 0 || args[0] != "datalab" {
		return fmt.Errorf("%q: not a datalab command", line)
	}
	help := exec.Command(bin, append(append([]string{}, args[1:]...), "--help")...)
	help.Dir = root
	out, err := help.CombinedOutput()
	if err != nil {
		return fmt.Errorf("`%s --help`: %v: %s", line, err, firstLine(out))
	}
	usage := usageLines(string(out))
	if len(usage) == 0 {
		return fmt.Errorf("`%s --help` printed no Usage: section", line)
	}
	var words []string // the leading words: subcommands, then positional args
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "-") {
			break
		}
		words = append(words, a)
	}
	n := -1 // how many words the command cobra resolved consumed
	for i := len(words); i >= 0 && n < 0; i-- {
		path := strings.Join(append([]string{"datalab"}, words[:i]...), " ")
		for _, u := range usage {
			if u == path || strings.HasPrefix(u, path+" ") {
				n = i
				break
			}
		}
	}
	if n < 0 {
		return fmt.Errorf("`%s --help` shows the usage of %q, not of a prefix of the command", line, usage[0])
	}
	resolved := strings.Join(append([]string{"datalab"}, words[:n]...), " ")
	if n < len(words) && strings.Contains(string(out), "\nAvailable Commands:\n") {
		return fmt.Errorf("%q: no such subcommand of `%s` (cobra showed the help of `%s`)", words[n], resolved, resolved)
	}
	if resolved == "datalab run" {
		// Overrides too: the dry run refuses unknown keys and wrong types.
		dry := []string{"run", "--dry-run"}
		for _, v := range flagValues(args, "--set") {
			dry = append(dry, "--set="+v)
		}
		plan := exec.Command(bin, append(dry, words[n:]...)...)
		plan.Dir = root
		if out, err := plan.CombinedOutput(); err != nil {
			return fmt.Errorf("`datalab run --dry-run %s`: %v: %s", strings.Join(words[n:], " "), err, firstLine(out))
		}
	}
	if resolved == "datalab train flights" {
		for _, v := range flagValues(args, "--variant") {
			variant := exec.Command(bin, "spark", "args", "--variant", v)
			variant.Dir = root
			if out, err := variant.CombinedOutput(); err != nil {
				return fmt.Errorf("`datalab spark args --variant %s`: %v: %s", v, err, firstLine(out))
			}
		}
	}
	return nil
}

// flagValues returns the values given to a string flag, as `--flag v` or
// `--flag=v`.
func flagValues(args []string, flag string) []string {
	var vs []string
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			vs = append(vs, args[i+1])
		} else if v, ok := strings.CutPrefix(a, flag+"="); ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// usageLines returns the lines of the help's "Usage:" section, trimmed.
func usageLines(help string) []string {
	var lines []string
	in := false
	for _, l := range strings.Split(help, "\n") {
		switch {
		case l == "Usage:":
			in = true
		case in && strings.TrimSpace(l) == "":
			return lines
		case in:
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// TestCommandCheck proves checkCommand on command lines known to be good or
// bad, including the mistakes `--help` alone would let through.
func TestCommandCheck(t *testing.T) {
	root, bin := datalab(t)
	for _, tc := range []struct {
		args []string
		bad  string // a substring of the error; "" = the command is fine
	}{
		{[]string{"datalab", "run"}, ""},
		{[]string{"datalab", "run", "ingest-matches", "report-flights"}, ""},
		{[]string{"datalab", "run", "--force", "--retries", "0", "train-matches"}, ""},
		{[]string{"datalab", "ingest", "matches", "--max-bad-ratio", "0.01"}, ""},
		{[]string{"datalab", "notebooks", "run", "--param", "sample=10"}, ""},
		{[]string{"datalab", "report", "index"}, ""},
		{[]string{"datalab", "train", "flights", "--engine", "spark", "--spark-submit-arg=--driver-memory=6g", "--variant", "bts", "--variant=flights3m"}, ""},
		{[]string{"datalab", "train", "flights", "--engine", "spark", "--variant", "bts", "--variant", "nosuch"}, `no variant "nosuch"`},
		{[]string{"datalab", "train", "flights", "--engine", "spark", "--variant=nosuch"}, `no variant "nosuch"`},
		{[]string{"datalab", "train", "flights", "--spark-submit-args=--driver-memory=6g"}, "unknown flag: --spark-submit-args"},
		{[]string{"datalab", "nosuch"}, `unknown command "nosuch"`},
		{[]string{"datalab", "run", "--nosuchflag"}, "unknown flag: --nosuchflag"},
		{[]string{"datalab", "ingest", "matches", "--max-bad-rate", "0.01"}, "unknown flag: --max-bad-rate"},
		{[]string{"datalab", "train", "nosuch"}, `"nosuch": no such subcommand of ` + "`datalab train`"},
		{[]string{"datalab", "notebooks", "render"}, `"render": no such subcommand of ` + "`datalab notebooks`"},
		{[]string{"datalab", "run", "ingest-matches", "no-such-stage"}, `unknown stage "no-such-stage"`},
		{[]string{"datalab", "run", "--remote", "s3://lab?region=eu-west-1", "--set=matches.forests.default.max_depth=12"}, ""},
		{[]string{"datalab", "run", "--set=matches.forests.default.max_dept=12"}, "no such parameter"},
		{[]string{"datalab", "run", "--set", "matches.test_year=[2022]"}, "override matches.test_year"},
		{[]string{"datalab", "report", "sync", "--remote", "/history", "--pull-only"}, ""},
		{[]string{"datalab", "report", "sync", "--pull"}, "unknown flag: --pull"},
		{[]string{"go", "build"}, "not a datalab command"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := checkCommand(root, bin, tc.args)
			switch {
			case tc.bad == "" && err != nil:
				t.Errorf("good command reported: %v", err)
			case tc.bad != "" && err == nil:
				t.Errorf("bad command passed")
			case tc.bad != "" && !strings.Contains(err.Error(), tc.bad):
				t.Errorf("error %q does not say %q", err, tc.bad)
			}
		})
	}
}

// TestFunctionsRunRealCommands: every command any function runs exists —
// each `datalab …` is a real subcommand with real flags and stages (checked
// against the CLI built from this repository), and each script or package
// another command names is in the repository.
func TestFunctionsRunRealCommands(t *testing.T) {
	root, bin := datalab(t)
	seen := map[string]bool{}
	for _, fn := range functions {
		e, _, lab := session(t, true)
		if _, err := fn.call(context.Background(), lab); err != nil {
			t.Fatalf("%s: %v", fn.name, err)
		}
		for _, ev := range e.Evals() {
			for _, args := range e.Commands(ev.Chain) { // with those of files and directories built elsewhere
				line := strings.Join(args, " ")
				if seen[line] {
					continue
				}
				seen[line] = true
				if err := checkExec(root, bin, args); err != nil {
					t.Errorf("%s runs %q: %v", fn.name, line, err)
				}
			}
		}
	}
	for _, rc := range remoteCalls {
		e, c, lab := session(t, false)
		creds, _ := callerCredentials(e, c, rc.gcp)
		if _, err := rc.call(context.Background(), lab, creds); err != nil {
			t.Fatalf("%s with a remote: %v", rc.name, err)
		}
		for _, args := range e.Describe(ranContainer(t, e)).Execs {
			if line := strings.Join(args, " "); !seen[line] {
				seen[line] = true
				if err := checkExec(root, bin, args); err != nil {
					t.Errorf("%s with a remote runs %q: %v", rc.name, line, err)
				}
			}
		}
	}
	if len(seen) == 0 {
		t.Fatal("no commands recorded")
	}
}

func checkExec(root, bin string, args []string) error {
	switch {
	case args[0] == "datalab":
		return checkCommand(root, bin, args)
	case args[0] == "bash" && len(args) >= 2:
		script, err := os.ReadFile(filepath.Join(root, args[1]))
		if err != nil {
			return err
		}
		if len(args) > 2 {
			return checkScriptMode(args[1], string(script), args[2:])
		}
		return nil
	case len(args) >= 2 && args[0] == "apt-get" && args[1] == "update":
		return nil
	case len(args) > 2 && args[0] == "apt-get" && args[1] == "install":
		// The package names must exist in Debian (this machine runs the
		// image's release, bookworm): apt-cache knows them offline.
		var pkgs []string
		for _, a := range args[2:] {
			if !strings.HasPrefix(a, "-") {
				pkgs = append(pkgs, a)
			}
		}
		if out, err := exec.Command("apt-cache", append([]string{"show", "--no-all-versions"}, pkgs...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("apt-cache show %s: %v: %s", strings.Join(pkgs, " "), err, firstLine(out))
		}
		return nil
	case len(args) == 2 && args[0] == "make":
		// The target exists: make's dry run names a missing one.
		if out, err := exec.Command("make", "-C", root, "-n", args[1]).CombinedOutput(); err != nil {
			return fmt.Errorf("make -n %s: %v: %s", args[1], err, firstLine(out))
		}
		return nil
	case len(args) > 2 && args[0] == "go" && args[1] == "build":
		_, err := os.Stat(filepath.Join(root, args[len(args)-1]))
		return err
	}
	return fmt.Errorf("no check for this command; add one to checkExec")
}

// scriptModes matches a script's mode dispatch, as in .ci/setup:
// `case $mode in all|notebooks) ;; …`.
// TestScriptModeCheck proves checkScriptMode on .ci/setup's real dispatch.
func TestScriptModeCheck(t *testing.T) {
	root, _ := datalab(t)
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"bash", ".ci/setup"}, true},
		{[]string{"bash", ".ci/setup", "notebooks"}, true},
		{[]string{"bash", ".ci/setup", "all"}, true},
		{[]string{"bash", ".ci/setup", "notebook"}, false},
		{[]string{"bash", ".ci/setup", "notebooks", "extra"}, false},
		{[]string{"bash", ".ci/run", "notebooks"}, false},
		{[]string{"bash", ".ci/nosuch"}, false},
		{[]string{"make", "test"}, true},
		{[]string{"make", "nosuch"}, false},
	} {
		if err := checkExec(root, "", tc.args); (err == nil) != tc.ok {
			t.Errorf("%q: error %v, want ok=%v", tc.args, err, tc.ok)
		}
	}
}

var scriptModes = regexp.MustCompile(`(?m)^\s*case "?\$\{?\w+\}?"? in ([\w|-]+)\)`)

// checkScriptMode fails unless a script given arguments takes exactly one,
// a mode its `case … in a|b)` line lists (the script cannot be run here: it
// installs packages).
func checkScriptMode(name, script string, args []string) error {
	m := scriptModes.FindStringSubmatch(script)
	if m == nil || len(args) != 1 {
		return fmt.Errorf("%s %q: no mode dispatch (case $mode in a|b)) in the script to check the arguments against", name, args)
	}
	if !slices.Contains(strings.Split(m[1], "|"), args[0]) {
		return fmt.Errorf("%s has no mode %q (modes: %s)", name, args[0], m[1])
	}
	return nil
}

var planLine = regexp.MustCompile(`(?m)^(?:run|skip)\s+(\S+):`)

// TestStageListsCoverPipeline: the per-kind stage lists name exactly the
// stages of that kind in datalab.yaml, as the CLI reads it.
func TestStageListsCoverPipeline(t *testing.T) {
	root, bin := datalab(t)
	cmd := exec.Command(bin, "run", "--dry-run")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("datalab run --dry-run: %v", err)
	}
	byKind := map[string][]string{}
	for _, m := range planLine.FindAllStringSubmatch(string(out), -1) {
		kind, _, _ := strings.Cut(m[1], "-")
		byKind[kind] = append(byKind[kind], m[1])
	}
	for kind, list := range map[string][]string{
		"ingest": flow.IngestStages, "train": flow.TrainStages,
		"evaluate": flow.EvaluateStages, "report": flow.ReportStages,
		"notebooks": flow.NotebookStages,
	} {
		got := append([]string(nil), list...)
		want := byKind[kind]
		sort.Strings(got)
		sort.Strings(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s stages: flow lists %q, datalab.yaml has %q", kind, got, want)
		}
	}
}
