package notebook_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/notebook"
)

// TestMissingKernelFailsAtOnce is issue 12 finding 11: without the GoNB
// kernel (or jupyter) a notebook run must fail before nbconvert starts,
// with a *MissingToolsError that names what is missing, says what to run,
// and exits 127 ("command not found"), which datalab run does not retry.
func TestMissingKernelFailsAtOnce(t *testing.T) {
	// A PATH holding only stand-ins for jupyter and jupyter-nbconvert that
	// record being called: nothing must call them.
	fakeBin := t.TempDir()
	called := filepath.Join(t.TempDir(), "called")
	for _, name := range []string{"jupyter", "jupyter-nbconvert"} {
		script := "#!/bin/sh\necho \"$0 $*\" >> " + called + "\nexit 1\n"
		if err := os.WriteFile(filepath.Join(fakeBin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", fakeBin)
	emptyTools := t.TempDir()
	repo := testmirror.RepoRoot()
	for _, tc := range []struct {
		name    string
		r       notebook.Runner
		missing string
	}{
		{"no gonb", notebook.Runner{Root: repo, ToolsDir: emptyTools}, "gonb"},
		{"no jupyter", notebook.Runner{Root: repo, ToolsDir: emptyTools, Jupyter: filepath.Join(emptyTools, "jupyter")}, "jupyter"},
		{"no kernelspec", notebook.Runner{Root: t.TempDir(), ToolsDir: emptyTools}, "kernel.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.OutDir = t.TempDir()
			_, err := tc.r.Run(t.Context(), filepath.Join("testdata", "hello.ipynb"))
			var me *notebook.MissingToolsError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v (%T), want *notebook.MissingToolsError", err, err)
			}
			if me.ExitCode() != 127 {
				t.Errorf("exit code %d, want 127", me.ExitCode())
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.missing) || !strings.Contains(msg, "bash .ci/setup notebooks") || !strings.Contains(msg, "make run") {
				t.Errorf("message %q should name %s and say to run bash .ci/setup notebooks / make run", msg, tc.missing)
			}
			if b, err := os.ReadFile(called); err == nil {
				t.Errorf("nbconvert was started without its tools: %s", b)
			}
		})
	}
}
