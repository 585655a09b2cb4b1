package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/pipeline/notebook"
)

// runNotebooksNew runs `datalab notebooks new …` in-process and returns
// stdout and the error.
func runNotebooksNew(t *testing.T, args ...string) (string, error) {
	t.Helper()
	notebooksNewFlags.dir = "notebooks"
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	defer rootCmd.SetOut(nil)
	defer rootCmd.SetErr(nil)
	rootCmd.SetArgs(append([]string{"notebooks", "new", "--log-level", "warn"}, args...))
	err := rootCmd.ExecuteContext(context.Background())
	return out.String(), err
}

// notebooks new writes the template, prints its path and the next commands,
// and refuses a bad name and an existing notebook.
func TestNotebooksNew(t *testing.T) {
	dir := t.TempDir()
	out, err := runNotebooksNew(t, "--dir", dir, "goals-by-year")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "goals-by-year.ipynb")
	for _, want := range []string{path + "\n", "datalab lab", "datalab notebooks run --dir " + dir + " goals-by-year"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := notebook.New("goals-by-year"); !bytes.Equal(got, want) {
		t.Error("the notebook written is not notebook.New's")
	}
	if _, err := runNotebooksNew(t, "--dir", dir, "goals-by-year"); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("second new: err %v, want \"exists already\"", err)
	}
	if _, err := runNotebooksNew(t, "--dir", dir, "Goals_By_Year"); err == nil || !strings.Contains(err.Error(), "kebab-case") {
		t.Errorf("bad name: err %v, want one asking for kebab-case", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "Goals_By_Year.ipynb")); err == nil {
		t.Error("a notebook with a bad name was written")
	}
}
