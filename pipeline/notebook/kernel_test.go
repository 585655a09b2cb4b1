package notebook_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/pipeline/notebook"
)

// TestKernelUsesPinnedVersions runs a notebook whose only code cell imports
// the checkout (pipeline/nbview) and three of its dependencies (GoNB's
// gonbui, parquet-go, gonum), with no set-up cell: the kernelspec's go.work
// and its `go` wrapper (jupyter/kernels/gonb/bin/go) must make the cell
// compile against exactly the versions the repository's go.mod selects.
// Without the wrapper, GoNB's `go get` after the cell looks each package up
// at its newest version: parquet-go resolves to a newer release and gonbui
// fails, since the module proxy lists no such module.
func TestKernelUsesPinnedVersions(t *testing.T) {
	t.Parallel()
	root := needKernel(t)
	r := notebook.Runner{Root: root, OutDir: t.TempDir()}
	res, err := r.Run(t.Context(), filepath.Join("testdata", "pinned.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(res.HTML)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "pct 25 notebook true schema true mean 1.5") {
		t.Errorf("the cell's output is missing from the page")
	}
	want, err := exec.Command("go", "list", "-m", "github.com/parquet-go/parquet-go", "github.com/janpfeifer/gonb", "gonum.org/v1/gonum").Output()
	if err != nil {
		t.Fatalf("go list -m in the repository: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
		if !strings.Contains(string(page), line) {
			t.Errorf("the kernel's scratch module did not select %q (the repository's go.mod)", line)
		}
	}
}
