package notebook

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestParamValues(t *testing.T) {
	decls := []ParamDecl{{Name: "sample", Default: "all rows", Help: "first n rows"}, {Name: "build", Default: "build/ under the repository"}}
	got := ParamValues(decls, map[string]string{"sample": "1000", "match_sweep": "form", "build": ""})
	want := []ParamValue{
		{Name: "sample", Env: "DATALAB_NB_SAMPLE", Value: "1000", Source: SourceGiven, Help: "first n rows"},
		{Name: "build", Env: "DATALAB_NB_BUILD", Value: "build/ under the repository", Source: SourceDefault},
		{Name: "match_sweep", Env: "DATALAB_NB_MATCH_SWEEP", Value: "form", Source: SourceUnused},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ParamValues =\n%+v\nwant\n%+v", got, want)
	}
}

func TestReadParamDecls(t *testing.T) {
	decls, err := ReadParamDecls(filepath.Join("testdata", "hello.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	if len(decls) != 2 || decls[0] != (ParamDecl{Name: "who", Default: "nobody", Help: "whom the notebook greets"}) {
		t.Errorf("hello.ipynb declares %+v", decls)
	}
	if decls, err := ReadParamDecls(filepath.Join("testdata", "broken.ipynb")); err != nil || len(decls) != 0 {
		t.Errorf("a notebook without declarations: %+v, %v", decls, err)
	}
	dir := t.TempDir()
	for _, c := range []struct{ params, want string }{
		{`[{"name": "Sample"}]`, `name "Sample"`},
		{`[{"name": "a"}, {"name": "a"}]`, `declares "a" twice`},
		{`{"name": "a"}`, "cannot unmarshal"},
	} {
		p := filepath.Join(dir, "x.ipynb")
		if err := os.WriteFile(p, []byte(`{"cells": [], "metadata": {"datalab": {"parameters": `+c.params+`}}}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadParamDecls(p); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("parameters %s: err = %v, want one naming the notebook and %q", c.params, err, c.want)
		}
	}
}

// The block is escaped, states each parameter's source and is the same for
// the same values.
func TestParamsHTML(t *testing.T) {
	values := ParamValues([]ParamDecl{{Name: "who", Default: "nobody"}}, map[string]string{"who": "<b>me</b>", "x": "1"})
	got := ParamsHTML(values)
	want := `<section class="datalab-params" aria-label="Parameters of this run"><p class="datalab-params-title">Parameters of this run</p>` +
		`<table class="datalab-params"><thead><tr><th>Parameter</th><th>Environment variable</th><th>Value</th><th>Source</th></tr></thead><tbody>` +
		`<tr class="given"><td>who</td><td><code>DATALAB_NB_WHO</code></td><td>&lt;b&gt;me&lt;/b&gt;</td><td>given (--param)</td></tr>` +
		`<tr class="unused"><td>x</td><td><code>DATALAB_NB_X</code></td><td>1</td><td>given, not read by this notebook</td></tr>` +
		`</tbody></table></section>`
	if got != want {
		t.Errorf("ParamsHTML:\n%s\nwant\n%s", got, want)
	}
	if got := ParamsHTML(nil); !strings.Contains(got, "takes no parameters") {
		t.Errorf("no parameters: %s", got)
	}
}

// The parameters cell goes right after the title cell, and the other cells
// are kept as they were; nbconvert renders it (no kernel needed: the page of
// an executed notebook).
func TestInjectParams(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "hello.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	nb := filepath.Join(dir, "hello.ipynb")
	if err := os.WriteFile(nb, src, 0o644); err != nil {
		t.Fatal(err)
	}
	values := ParamValues([]ParamDecl{{Name: "who", Default: "nobody"}}, map[string]string{"who": "fixture"})
	if err := injectParams(nb, values); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Cells []struct {
			ID       string          `json:"id"`
			Type     string          `json:"cell_type"`
			Source   json.RawMessage `json:"source"`
			Metadata struct {
				RawMimetype string `json:"raw_mimetype"`
			} `json:"metadata"`
		} `json:"cells"`
		Metadata map[string]any `json:"metadata"`
	}
	data, _ := os.ReadFile(nb)
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if ids := []string{got.Cells[0].ID, got.Cells[1].ID, got.Cells[2].ID}; !slices.Equal(ids, []string{"hello-1", ParamsCellID, "hello-2"}) {
		t.Fatalf("cells %v", ids)
	}
	if c := got.Cells[1]; c.Type != "raw" || c.Metadata.RawMimetype != "text/html" || cellSource(c.Source) != ParamsHTML(values) {
		t.Errorf("injected cell %+v", c)
	}
	if got.Metadata["kernelspec"] == nil {
		t.Error("notebook metadata lost")
	}
	// Without a title cell the block goes first.
	plain := filepath.Join(dir, "plain.ipynb")
	os.WriteFile(plain, []byte(`{"cells": [{"cell_type": "code", "id": "c", "source": "x", "metadata": {}, "outputs": []}], "metadata": {}}`), 0o644)
	if err := injectParams(plain, values); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(plain)
	if err := json.Unmarshal(data, &got); err != nil || got.Cells[0].ID != ParamsCellID {
		t.Errorf("without a title the block is not first: %s", data)
	}

	if _, err := exec.LookPath("jupyter-nbconvert"); err != nil {
		t.Skip("jupyter-nbconvert missing")
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	cmd := Runner{Root: root}.htmlCommand(t.Context(), nb, dir)
	cmd.Env = append(os.Environ(), "JUPYTER_PATH="+filepath.Join(root, "jupyter"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nbconvert: %v\n%s", err, out)
	}
	page, err := os.ReadFile(filepath.Join(dir, "hello.html"))
	if err != nil {
		t.Fatal(err)
	}
	title := strings.Index(string(page), `<h1 id="Fixture"`)
	block := strings.Index(string(page), `<section class="datalab-params"`)
	if title < 0 || block < title || !strings.Contains(string(page), `<td><code>DATALAB_NB_WHO</code></td><td>fixture</td><td>given (--param)</td>`) {
		t.Errorf("page lacks the parameters block after the title (title at %d, block at %d)", title, block)
	}
	if !strings.Contains(string(page), "section.datalab-params") {
		t.Error("the datalab template does not style the parameters block")
	}
}

// nbviewCall finds the parameters a notebook reads:
// nbview.Param("key", …) and nbview.IntParam("key", …).
var nbviewCall = regexp.MustCompile(`nbview\.(?:Int)?Param\(\\?"([a-z0-9_]+)\\?"`)

// Every notebook under notebooks/ declares exactly the parameters its code
// reads, so the block a rendered page shows is complete.
func TestNotebooksDeclareTheirParams(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "notebooks", "*.ipynb"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks: %v", err)
	}
	for _, p := range paths {
		decls, err := ReadParamDecls(p)
		if err != nil {
			t.Fatal(err)
		}
		var declared []string
		for _, d := range decls {
			declared = append(declared, d.Name)
			if d.Default == "" || d.Help == "" {
				t.Errorf("%s: parameter %s has no default or help", p, d.Name)
			}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var read []string
		for _, m := range nbviewCall.FindAllStringSubmatch(string(data), -1) {
			if !slices.Contains(read, m[1]) {
				read = append(read, m[1])
			}
		}
		slices.Sort(read)
		slices.Sort(declared)
		if !slices.Equal(read, declared) {
			t.Errorf("%s reads parameters %v, declares %v in metadata.datalab.parameters", p, read, declared)
		}
	}
}
