package notebook_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/notebook"
)

func TestCheckName(t *testing.T) {
	for _, name := range []string{"a", "goals-by-year", "elo2-check", "x1-2-3"} {
		if err := notebook.CheckName(name); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{"", "Goals", "goals_by_year", "-goals", "goals-", "goals--year", "1goals",
		"../goals", "goals/year", "goals.ipynb", "goals year", "é", strings.Repeat("a", 61)} {
		if err := notebook.CheckName(name); err == nil {
			t.Errorf("CheckName(%q) = nil, want an error", name)
		}
	}
}

var cellIDRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// The new notebook is nbformat 4.5 for the GoNB kernel, with unique cell
// ids, a title cell first, and declares exactly the parameters its code
// reads; Create refuses a bad name and an existing notebook.
func TestCreate(t *testing.T) {
	dir := t.TempDir()
	path, err := notebook.Create(dir, "goals-by-year")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "goals-by-year.ipynb"); path != want {
		t.Errorf("path %s, want %s", path, want)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := notebook.New("goals-by-year"); err != nil || !bytes.Equal(again, data) {
		t.Errorf("New is not deterministic (err %v)", err)
	}
	var nb struct {
		Cells []struct {
			Type     string   `json:"cell_type"`
			ID       string   `json:"id"`
			Source   []string `json:"source"`
			Metadata struct {
				Tags []string `json:"tags"`
			} `json:"metadata"`
		} `json:"cells"`
		Metadata struct {
			Kernelspec struct{ Name string } `json:"kernelspec"`
		} `json:"metadata"`
		Format int `json:"nbformat"`
		Minor  int `json:"nbformat_minor"`
	}
	if err := json.Unmarshal(data, &nb); err != nil {
		t.Fatal(err)
	}
	if nb.Format != 4 || nb.Minor != 5 || nb.Metadata.Kernelspec.Name != "gonb" {
		t.Errorf("nbformat %d.%d, kernel %q; want 4.5 and gonb", nb.Format, nb.Minor, nb.Metadata.Kernelspec.Name)
	}
	ids := map[string]bool{}
	var code strings.Builder
	for i, c := range nb.Cells {
		if !cellIDRE.MatchString(c.ID) || ids[c.ID] {
			t.Errorf("cell %d id %q: want a unique nbformat id", i+1, c.ID)
		}
		ids[c.ID] = true
		if c.Type == "code" {
			code.WriteString(strings.Join(c.Source, ""))
		}
	}
	if len(nb.Cells) == 0 || nb.Cells[0].Type != "markdown" || !slices.Equal(nb.Cells[0].Source[:1], []string{"# Goals by year\n"}) {
		t.Errorf("first cell is not the title # Goals by year")
	}
	if len(nb.Cells) < 3 || !slices.Equal(nb.Cells[2].Metadata.Tags, []string{"parameters"}) {
		t.Errorf("cell 3 is not tagged parameters")
	}
	decls, err := notebook.ReadParamDecls(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(decls, notebook.NewParams) {
		t.Errorf("declared parameters %+v, want %+v", decls, notebook.NewParams)
	}
	for _, d := range decls {
		if !regexp.MustCompile(`nbview\.(Int)?Param\("` + d.Name + `"`).MatchString(code.String()) {
			t.Errorf("parameter %s is declared but not read with nbview.Param or nbview.IntParam", d.Name)
		}
	}
	if n := len(regexp.MustCompile(`nbview\.(Int)?Param\(`).FindAllString(code.String(), -1)); n != len(decls) {
		t.Errorf("code reads %d parameters, declares %d", n, len(decls))
	}

	if err := os.WriteFile(path, []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := notebook.Create(dir, "goals-by-year"); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("Create over an existing notebook: err %v, want \"exists already\"", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "edited" {
		t.Error("Create overwrote an existing notebook")
	}
	if _, err := notebook.Create(filepath.Join(dir, "missing"), "goals"); err == nil || !strings.Contains(err.Error(), "repository root") {
		t.Errorf("Create in a missing directory: err %v, want one naming the repository root", err)
	}
	if _, err := notebook.Create(dir, "../escape"); err == nil {
		t.Error("Create accepted the name ../escape")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape.ipynb")); err == nil {
		t.Error("Create wrote outside its directory")
	}
}

// TestNewNotebookRuns executes a new notebook headless with real GoNB on
// matches ingested from the mirror: it is valid nbformat, its page shows the
// parameters of the run, a table and a PNG plot, and a second run renders
// the same bytes.
func TestNewNotebookRuns(t *testing.T) {
	t.Parallel()
	root := needKernel(t)
	dir := t.TempDir()
	path, err := notebook.Create(dir, "first-look")
	if err != nil {
		t.Fatal(err)
	}
	// nbformat's own validator, from the Python that runs nbconvert.
	validate := exec.Command(nbconvertPython(t), "-c", "import sys, nbformat; nbformat.validate(nbformat.read(sys.argv[1], as_version=nbformat.NO_CONVERT))", path)
	if out, err := validate.CombinedOutput(); err != nil {
		t.Errorf("nbformat.validate: %v\n%s", err, out)
	}
	mp := ingestMirror(t, t.TempDir(), "matches", testmirror.Path(t, "matches", "international_matches.csv"))
	var pages [2][]byte
	for i := range pages {
		res, err := notebook.Runner{Root: root, OutDir: t.TempDir(), Params: map[string]string{"matches": mp, "sample": "3000"}}.Run(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("rendered in %v", res.Duration)
		if pages[i], err = os.ReadFile(res.HTML); err != nil {
			t.Fatal(err)
		}
	}
	page := pages[0]
	if !bytes.Equal(pages[0], pages[1]) {
		t.Errorf("two renderings differ (%d and %d bytes): the template's page must be byte-stable", len(pages[0]), len(pages[1]))
	}
	checkPage(t, page, 1, 2, "<p>3000 matches, 1993-08-08 to ", "<th>home_goals</th>", "<td>mean</td>",
		`<tr class="given"><td><span title="use only the first n matches (the file is in date order: the earliest n)">sample</span></td><td><code>DATALAB_NB_SAMPLE</code></td><td>3000</td>`,
		`<td><code>DATALAB_NB_MATCHES</code></td><td>`+mp+`</td><td>given (--param)</td>`,
		`<nav class="datalab-toc"`, `<a href="#A-first-look">A first look</a>`)
}

// nbconvertPython is the interpreter of jupyter-nbconvert's #! line: the
// Python that has nbformat (a python3 first on PATH, e.g. pyenv's, may not).
func nbconvertPython(t *testing.T) string {
	t.Helper()
	script, err := exec.LookPath("jupyter-nbconvert")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if !strings.HasPrefix(line, "#!") || len(fields) == 0 {
		t.Fatalf("%s starts with %q, want a #! line", script, line)
	}
	if filepath.Base(fields[0]) == "env" && len(fields) > 1 {
		return fields[len(fields)-1]
	}
	return fields[0]
}
