package notebook_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestKernelCompletesPipelinePackages asks the repository's GoNB kernel,
// over Jupyter's kernel protocol (jupyter-client, as the notebook server
// does on Tab and Shift-Tab), to complete `forest.` and to show the docs of
// forest.Train, in a cell with no set-up: the kernelspec's go.work resolves
// the checkout and gopls answers for the pipeline's packages.
func TestKernelCompletesPipelinePackages(t *testing.T) {
	t.Parallel()
	root := needKernel(t)
	if _, err := os.Stat(filepath.Join(root, ".bin", "lab", "gopls")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("gopls missing under CI (bash .ci/setup builds .bin/lab/gopls): %v", err)
		}
		t.Skipf("gopls missing (bash .ci/setup lab): %v", err)
	}
	const imp = "import \"github.com/datalabhq/datalab/pipeline/forest\"\n\n%%\n"
	// A cell run first, importing the checkout and its dependencies, as a
	// notebook's first cell does: completion must still answer afterwards.
	const cell = "import (\n\t\"fmt\"\n\t\"github.com/datalabhq/datalab/pipeline/nbview\"\n\t\"gonum.org/v1/plot\"\n)\n\n%%\n" +
		"fmt.Println(\"pct\", nbview.Pct(1, 8), plot.New().Title.Text == \"\")"
	cmd := exec.CommandContext(t.Context(), "/usr/bin/python3", filepath.Join("testdata", "kernel_complete.py"),
		imp+"_ = forest.", imp+"forest.Train", cell)
	cmd.Env = append(os.Environ(),
		// As `datalab lab` sets it: .bin/lab holds gopls, which only the lab
		// (never a headless run) puts on the kernel's PATH.
		"PATH="+strings.Join([]string{filepath.Join(root, ".bin", "lab"), filepath.Join(root, ".bin"), os.Getenv("PATH")}, string(os.PathListSeparator)),
		"JUPYTER_PATH="+filepath.Join(root, "jupyter"),
		"DATALAB_ROOT="+root,
		"GOTOOLCHAIN=local")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		log := stderr.String()
		t.Fatalf("kernel_complete.py: %v\n…%s", err, log[max(0, len(log)-3000):])
	}
	var got struct {
		Attempts map[string]int `json:"attempts"`
		Execute  struct {
			Status string `json:"status"`
			Stdout string `json:"stdout"`
		} `json:"execute"`
		Complete struct {
			Status  string   `json:"status"`
			Matches []string `json:"matches"`
		} `json:"complete"`
		Inspect struct {
			Status string            `json:"status"`
			Found  bool              `json:"found"`
			Data   map[string]string `json:"data"`
		} `json:"inspect"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("kernel_complete.py output %q: %v", out, err)
	}
	if got.Execute.Status != "ok" || got.Execute.Stdout != "pct 12.5 true\n" {
		t.Errorf("the first cell: status %q, output %q; want ok and %q", got.Execute.Status, got.Execute.Stdout, "pct 12.5 true\n")
	}
	t.Logf("answered after %v request(s); completions %v", got.Attempts, got.Complete.Matches)
	if got.Complete.Status != "ok" {
		t.Errorf("complete_request status %q, want ok", got.Complete.Status)
	}
	for _, want := range []string{"Train", "Config", "Model", "NewDataset"} {
		if !slices.Contains(got.Complete.Matches, want) {
			t.Errorf("completions of forest. lack %s: %v", want, got.Complete.Matches)
		}
	}
	doc := got.Inspect.Data["text/markdown"] + got.Inspect.Data["text/plain"]
	if got.Inspect.Status != "ok" || !got.Inspect.Found || !strings.Contains(doc, "func forest.Train(") ||
		!strings.Contains(doc, "Train grows a random forest") {
		t.Errorf("inspect_request of forest.Train: status %q found %v, docs %q; want the signature and doc comment",
			got.Inspect.Status, got.Inspect.Found, doc)
	}
}
