package notebook_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/notebook"
	"github.com/datalabhq/datalab/pipeline/report"
)

// needKernel skips when jupyter or the GoNB kernel is missing, except under
// CI (CI=true), where .ci/setup installs them and a skip would hide a break.
func needKernel(t *testing.T) string {
	t.Helper()
	root := testmirror.RepoRoot()
	var missing []string
	if _, err := exec.LookPath("jupyter-nbconvert"); err != nil {
		missing = append(missing, "jupyter-nbconvert (apt-get install jupyter-nbconvert jupyter-client)")
	}
	if _, err := os.Stat(filepath.Join(root, ".bin", "gonb")); err != nil {
		missing = append(missing, ".bin/gonb (bash .ci/setup)")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("notebook tools missing under CI: %s", strings.Join(missing, ", "))
		}
		t.Skipf("notebook tools missing: %s", strings.Join(missing, ", "))
	}
	return root
}

func TestRunFixture(t *testing.T) {
	t.Parallel()
	root := needKernel(t)
	out := t.TempDir()
	created := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	r := notebook.Runner{Root: root, OutDir: out, Params: map[string]string{"who": "fixture"},
		Now: func() time.Time { return created }}
	res, err := r.Run(t.Context(), filepath.Join("testdata", "hello.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	if res.HTML != filepath.Join(out, "hello.html") {
		t.Errorf("HTML at %s, want %s", res.HTML, filepath.Join(out, "hello.html"))
	}
	page, err := os.ReadFile(res.HTML)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "hello, fixture: 42") {
		t.Errorf("rendered page lacks the cell output %q", "hello, fixture: 42")
	}
	// The parameters the run used, under the title: who given, times at
	// its default; the sidecar records the same.
	for _, want := range []string{
		`<tr class="given"><td><span title="whom the notebook greets">who</span></td><td><code>DATALAB_NB_WHO</code></td><td>fixture</td><td>given (--param)</td></tr>`,
		`<tr class="default"><td>times</td><td><code>DATALAB_NB_TIMES</code></td><td>1</td><td>default</td></tr>`,
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("rendered page lacks the parameter row %s", want)
		}
	}
	if title, block := strings.Index(string(page), `<h1 id="Fixture"`), strings.Index(string(page), `class="datalab-params"`); title < 0 || block < title || block > strings.Index(string(page), "hello, fixture") {
		t.Errorf("parameters block at %d, want after the title (%d) and before the first output", block, title)
	}
	nbSide, err := notebook.ReadSidecar(res.Sidecar)
	if err != nil {
		t.Fatal(err)
	}
	if want := notebook.ParamValues([]notebook.ParamDecl{{Name: "who", Default: "nobody", Help: "whom the notebook greets"}, {Name: "times", Default: "1"}},
		map[string]string{"who": "fixture"}); !slices.Equal(nbSide.Params, want) {
		t.Errorf("sidecar params %+v, want %+v", nbSide.Params, want)
	}
	s, err := report.ReadSidecar(res.Sidecar)
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != notebook.Kind || s.HTML != "hello.html" || s.Title != "hello" || s.Created == nil || !s.Created.Equal(created) {
		t.Errorf("sidecar = %+v", s)
	}
	// The report index lists the rendered notebook from its sidecar.
	reports := t.TempDir()
	nbDir := filepath.Join(reports, "notebooks")
	res2, err := (notebook.Runner{Root: root, OutDir: nbDir, Params: r.Params, Now: r.Now}).Run(t.Context(), filepath.Join("testdata", "hello.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	// Byte-stable: the same notebook and parameters give the same page and
	// sidecar.
	for _, pair := range [][2]string{{res.HTML, res2.HTML}, {res.Sidecar, res2.Sidecar}} {
		a, _ := os.ReadFile(pair[0])
		b, _ := os.ReadFile(pair[1])
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s and %s differ: the same run is not byte-stable", pair[0], pair[1])
		}
	}
	if err := report.BuildIndex(reports); err != nil {
		t.Fatal(err)
	}
	index, err := os.ReadFile(filepath.Join(reports, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(index), "notebooks/hello.html") {
		t.Errorf("report index does not link notebooks/hello.html")
	}
}

func TestRunBrokenCell(t *testing.T) {
	t.Parallel()
	root := needKernel(t)
	out := t.TempDir()
	r := notebook.Runner{Root: root, OutDir: out}
	_, err := r.Run(t.Context(), filepath.Join("testdata", "broken.ipynb"))
	var ce *notebook.CellError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *notebook.CellError", err)
	}
	if ce.Cell != 3 {
		t.Errorf("failing cell = %d, want 3", ce.Cell)
	}
	for _, want := range []string{"cell 3", `cannot use "not a number"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, statErr := os.Stat(filepath.Join(out, "broken.html")); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("a failed run published broken.html (stat: %v)", statErr)
	}
}

func TestCommandEnvironment(t *testing.T) {
	r := notebook.Runner{Root: "/repo", Params: map[string]string{"sample": "10"}, Jupyter: "/usr/bin/jupyter"}
	cmd, err := r.Command(t.Context(), "notebooks/x.ipynb", "/tmp/out")
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := "/usr/bin/jupyter nbconvert --to notebook --execute --allow-errors --output-dir /tmp/out --output x.ipynb notebooks/x.ipynb"
	if got := strings.Join(cmd.Args, " "); got != wantArgs {
		t.Errorf("args = %s\nwant   %s", got, wantArgs)
	}
	env := map[string]string{}
	for _, kv := range cmd.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, want := range map[string]string{"JUPYTER_PATH": "/repo/jupyter", "GOTOOLCHAIN": "local",
		"DATALAB_ROOT": "/repo", "DATALAB_NB_SAMPLE": "10"} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if !strings.HasPrefix(env["PATH"], "/repo/.bin"+string(os.PathListSeparator)) {
		t.Errorf("PATH = %q, want .bin first", env["PATH"])
	}
}

// A cell that compiles but panics: the error names the cell and carries the
// panic's message from the cell's stderr, not just the exit status.
func TestRunPanickingCell(t *testing.T) {
	t.Parallel()
	root := needKernel(t)
	out := t.TempDir()
	_, err := notebook.Runner{Root: root, OutDir: out}.Run(t.Context(), filepath.Join("testdata", "panic.ipynb"))
	var ce *notebook.CellError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *notebook.CellError", err)
	}
	if ce.Cell != 3 {
		t.Errorf("failing cell = %d, want 3", ce.Cell)
	}
	for _, want := range []string{"cell 3", "panic: runtime error: index out of range [3] with length 0", "exit status 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\x1b[") {
		t.Errorf("error keeps terminal escape codes: %q", err)
	}
	if _, statErr := os.Stat(filepath.Join(out, "panic.html")); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("a failed run published panic.html (stat: %v)", statErr)
	}
}
