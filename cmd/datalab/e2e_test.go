package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gopkg.in/yaml.v3"

	"github.com/datalabhq/datalab/internal/browsertest"
	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/flightmodel"
	"github.com/datalabhq/datalab/pipeline/matchmodel"
	"github.com/datalabhq/datalab/pipeline/nbview"
)

// buildDatalab compiles the datalab binary once per test binary run.
func buildDatalab(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "datalab")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// checkout copies the files git tracks (and untracked, not ignored ones) into
// a fresh directory: what a clean clone of the working tree holds.
func checkout(t *testing.T) string {
	t.Helper()
	root := testmirror.RepoRoot()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	dst := t.TempDir()
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755)
		if err := os.WriteFile(filepath.Join(dst, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// datalabCmd runs the binary in dir and returns combined output and the exit code.
func datalabCmd(t *testing.T, bin, dir string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "DATALAB_NO_PROGRESS=1"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("datalab %v: %v", args, err)
	}
	return out.String(), code
}

type lockFile struct {
	Stages map[string]struct {
		Outs []struct {
			Path   string `yaml:"path"`
			Sha256 string `yaml:"sha256"`
		} `yaml:"outs"`
	} `yaml:"stages"`
}

func readLock(t *testing.T, path string) lockFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var l lockFile
	if err := yaml.Unmarshal(b, &l); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return l
}

// TestCleanCloneEndToEnd is the foundation's acceptance run on the real data:
// on a clean copy of the repository, pull every data set from the mirror,
// check status, run the pipeline twice (the second run does nothing), check
// that the outputs are byte-identical to those recorded in the committed
// datalab.lock, and that a tampered byte is reported.
func TestCleanCloneEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run on real data")
	}
	mirror := testmirror.Dir(t)
	tools := notebookTools(t)
	bin := buildDatalab(t)
	dir := checkout(t)
	env := []string{"DATALAB_MIRROR=" + mirror, "DATALAB_STORE=", "DATALAB_RETRIES=0", "DATALAB_TOOLS_DIR=" + tools}

	out, code := datalabCmd(t, bin, dir, env, "data", "pull")
	if code != 0 {
		t.Fatalf("data pull exit %d:\n%s", code, out)
	}
	out, code = datalabCmd(t, bin, dir, env, "data", "status", "--check")
	if code != 0 || strings.Contains(out, "missing") || strings.Contains(out, "modified") {
		t.Fatalf("data status after pull (exit %d):\n%s", code, out)
	}

	out, code = datalabCmd(t, bin, dir, env, "run")
	if code != 0 {
		t.Fatalf("first run exit %d:\n%s", code, out)
	}
	out, code = datalabCmd(t, bin, dir, env, "run")
	if code != 0 || strings.Contains(out, "  ran ") {
		t.Fatalf("second run should skip every stage (exit %d):\n%s", code, out)
	}

	// Same inputs ⇒ same bytes, across machines: the committed lock records
	// the output hashes of the run that produced it.
	committed := readLock(t, filepath.Join(testmirror.RepoRoot(), "datalab.lock"))
	fresh := readLock(t, filepath.Join(dir, "datalab.lock"))
	for name, st := range committed.Stages {
		got, ok := fresh.Stages[name]
		if !ok {
			t.Errorf("stage %s in the committed lock did not run", name)
			continue
		}
		want := map[string]string{}
		for _, o := range st.Outs {
			want[o.Path] = o.Sha256
		}
		for _, o := range got.Outs {
			if want[o.Path] != o.Sha256 {
				t.Errorf("stage %s: %s has sha256 %s, committed lock says %s (if the change is intended — new code or dependency versions — run `datalab run` and commit datalab.lock)", name, o.Path, o.Sha256, want[o.Path])
			}
		}
	}

	// The reports the run wrote open in a real browser: no console errors,
	// every plot laid out with a real size, the metrics tables filled.
	for _, rel := range []string{"build/matches/report.html", "build/flights/report.html"} {
		checkReportInBrowser(t, filepath.Join(dir, rel))
	}

	// The notebooks ran as a stage: their pages open in the browser, the
	// site index links them, and model-variants shows the pipeline's own
	// metrics for this run.
	for _, name := range []string{"matches-explore", "flights-explore", "model-variants"} {
		checkNotebookInBrowser(t, filepath.Join(dir, "build", "notebooks", name+".html"))
	}
	index, err := os.ReadFile(filepath.Join(dir, "reports", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"matches-explore", "flights-explore", "model-variants"} {
		if !bytes.Contains(index, []byte(`href="notebooks/`+name+`.html"`)) {
			t.Errorf("reports/index.html does not link notebooks/%s.html", name)
		}
	}
	checkNotebookMetrics(t, dir)

	// A notebook parameter change reruns the notebooks stage only, and the
	// figures change with it.
	before, err := os.ReadFile(filepath.Join(dir, "build", "notebooks", "matches-explore.html"))
	if err != nil {
		t.Fatal(err)
	}
	setNotebookSample(t, filepath.Join(dir, "datalab.yaml"), "3000")
	out, code = datalabCmd(t, bin, dir, env, "run")
	if code != 0 || !strings.Contains(out, "ran      notebooks") || strings.Count(out, "  ran ") != 1 {
		t.Fatalf("after a notebook parameter change only the notebooks stage should run (exit %d):\n%s", code, out)
	}
	after, err := os.ReadFile(filepath.Join(dir, "build", "notebooks", "matches-explore.html"))
	if err != nil {
		t.Fatal(err)
	}
	if pngsBefore, pngsAfter := embeddedPNGs(before), embeddedPNGs(after); len(pngsAfter) == 0 || slices.Equal(pngsBefore, pngsAfter) {
		t.Errorf("matches-explore figures unchanged by sample 300000 → 3000 (%d and %d PNGs)", len(pngsBefore), len(pngsAfter))
	}

	// A tampered byte in a materialised file is reported and not overwritten.
	victim := filepath.Join(dir, "data", "matches", "international_matches.csv")
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 0x01
	if err := os.WriteFile(victim, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = datalabCmd(t, bin, dir, env, "data", "status", "--check")
	if code == 0 || !strings.Contains(out, "modified") {
		t.Fatalf("status after tampering should report modified and fail (exit %d):\n%s", code, out)
	}
	out, code = datalabCmd(t, bin, dir, env, "data", "pull", "matches")
	if code == 0 {
		t.Fatalf("pull over a modified working file should refuse:\n%s", out)
	}
	if after, _ := os.ReadFile(victim); !bytes.Equal(after, b) {
		t.Fatal("pull overwrote a modified working file without --force")
	}
}

// checkReportInBrowser opens an HTML report in headless Chromium and checks
// it renders: no console errors, SVG plots with a real size and visible text,
// filled metrics tables; the screenshot is kept in the test's temp dir (or
// E2E_SCREENSHOT_DIR) for a person to look at.
func checkReportInBrowser(t *testing.T, path string) {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(path))))
	defer srv.Close()
	b := browsertest.New(t, 90*time.Second)
	b.Do(t, chromedp.Navigate(srv.URL+"/"+filepath.Base(path)))
	type box struct{ W, H float64 }
	svgs := browsertest.Get(t, b, chromedp.Evaluate[[]box](
		`Array.from(document.querySelectorAll("svg")).map(s => { const r = s.getBoundingClientRect(); return {W: r.width, H: r.height}; })`))
	if len(svgs) < 3 {
		t.Errorf("%s: %d plots, want at least 3", path, len(svgs))
	}
	for i, s := range svgs {
		if s.W < 100 || s.H < 100 {
			t.Errorf("%s: plot %d laid out at %.0f×%.0f px", path, i, s.W, s.H)
		}
	}
	texts := browsertest.Get(t, b, chromedp.Evaluate[int](
		`Array.from(document.querySelectorAll("svg text")).filter(e => e.getBBox().width > 0).length`))
	if texts < 10*len(svgs) {
		t.Errorf("%s: %d visible text elements in %d plots", path, texts, len(svgs))
	}
	if cells := browsertest.Get(t, b, chromedp.Evaluate[int](`document.querySelectorAll("table.metrics td").length`)); cells < 30 {
		t.Errorf("%s: metrics tables have %d cells", path, cells)
	}
	noConsoleErrorsAndScreenshot(t, b, path, filepath.Base(filepath.Dir(path))+"-"+filepath.Base(path), 50_000)
}

// noConsoleErrorsAndScreenshot ends a page check: the page logged no console
// errors, and its screenshot (kept in E2E_SCREENSHOT_DIR, else the test's
// temp dir, as <name without .html>.png) has at least minBytes.
func noConsoleErrorsAndScreenshot(t *testing.T, b *browsertest.Browser, path, name string, minBytes int) {
	t.Helper()
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("%s: console errors: %v", path, errs)
	}
	shotDir := os.Getenv("E2E_SCREENSHOT_DIR")
	if shotDir == "" {
		shotDir = t.TempDir()
	}
	if png := b.Screenshot(t, filepath.Join(shotDir, strings.TrimSuffix(name, ".html")+".png")); len(png) < minBytes {
		t.Errorf("%s: screenshot is only %d bytes", path, len(png))
	}
}

// notebookTools is the directory holding the GoNB kernel (.bin of the
// repository, where .ci/setup builds it); the run's notebooks stage needs it
// and jupyter-nbconvert. Outside CI the test skips without them.
func notebookTools(t *testing.T) string {
	t.Helper()
	tools := filepath.Join(testmirror.RepoRoot(), ".bin")
	var missing []string
	if _, err := exec.LookPath("jupyter-nbconvert"); err != nil {
		missing = append(missing, "jupyter-nbconvert")
	}
	if _, err := os.Stat(filepath.Join(tools, "gonb")); err != nil {
		missing = append(missing, ".bin/gonb")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("notebook tools missing under CI: %v (bash .ci/setup installs them)", missing)
		}
		t.Skipf("notebook tools missing: %v (bash .ci/setup installs them)", missing)
	}
	return tools
}

// checkNotebookMetrics compares every metric model-variants shows with the
// pipeline's metrics files of the same run: each must be there and equal,
// and every variant of both use cases must be shown.
func checkNotebookMetrics(t *testing.T, dir string) {
	t.Helper()
	page, err := os.ReadFile(filepath.Join(dir, "build", "notebooks", "model-variants.html"))
	if err != nil {
		t.Fatal(err)
	}
	shown, err := nbview.Metrics(page)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	mev, err := matchmodel.ReadEvaluation(filepath.Join(dir, "build", "matches", "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range mev.Variants {
		want["matches."+v.Name+".holdout.accuracy"] = v.Holdout.Accuracy
		want["matches."+v.Name+".holdout.log_loss"] = v.Holdout.LogLoss
		want["matches."+v.Name+".world_cup.accuracy"] = v.WorldCup.Accuracy
	}
	fev, err := flightmodel.ReadEvaluation(filepath.Join(dir, "build", "metrics", "flights", "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range fev.Variants {
		want["flights."+v.Name+".holdout.accuracy"] = v.Holdout.Accuracy
		want["flights."+v.Name+".holdout.weighted_f1"] = v.Holdout.WeightedF1
		for i, b := range v.Baselines {
			want[fmt.Sprintf("flights.%s.baseline%d.accuracy", v.Name, i)] = b.Holdout.Accuracy
		}
	}
	if len(want) < 20 {
		t.Fatalf("only %d pipeline metrics to compare", len(want))
	}
	for k, v := range want {
		got, ok := shown[k]
		if !ok {
			t.Errorf("model-variants does not show %s (pipeline: %v)", k, v)
		} else if got != v {
			t.Errorf("model-variants shows %s = %v, the pipeline's metrics file %v", k, got, v)
		}
	}
	for k := range shown {
		if _, ok := want[k]; !ok {
			t.Errorf("model-variants shows %s, which the pipeline's metrics do not have", k)
		}
	}
}

// setNotebookSample rewrites params.notebooks.sample in a pipeline file.
func setNotebookSample(t *testing.T, path, value string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(  notebooks:\n(?:    #.*\n)*    sample: )\d+$`)
	if !re.Match(b) {
		t.Fatalf("%s: no params.notebooks.sample line", path)
	}
	if err := os.WriteFile(path, re.ReplaceAll(b, []byte("${1}"+value)), 0o644); err != nil {
		t.Fatal(err)
	}
}

var pngRE = regexp.MustCompile(`data:image/png;base64,([A-Za-z0-9+/=\n]+)`)

// embeddedPNGs returns the base64 of every PNG image embedded in a page.
func embeddedPNGs(page []byte) []string {
	var out []string
	for _, m := range pngRE.FindAllSubmatch(page, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// checkNotebookInBrowser opens a rendered notebook in headless Chromium: no
// console errors, at least one PNG figure decoded with a real size, at least
// one table; a screenshot is kept like the reports'.
func checkNotebookInBrowser(t *testing.T, path string) {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(path))))
	defer srv.Close()
	b := browsertest.New(t, 90*time.Second)
	b.Do(t, chromedp.Navigate(srv.URL+"/"+filepath.Base(path)))
	type img struct{ W, H float64 }
	imgs := browsertest.Get(t, b, chromedp.Evaluate[[]img](
		`Array.from(document.querySelectorAll("img")).filter(i => i.src.startsWith("data:image/png")).map(i => ({W: i.naturalWidth, H: i.naturalHeight}))`))
	if len(imgs) == 0 {
		t.Errorf("%s: no PNG figures", path)
	}
	for i, im := range imgs {
		if im.W < 200 || im.H < 100 {
			t.Errorf("%s: figure %d decoded at %.0f×%.0f px", path, i, im.W, im.H)
		}
	}
	if cells := browsertest.Get(t, b, chromedp.Evaluate[int](`document.querySelectorAll("table td").length`)); cells < 6 {
		t.Errorf("%s: tables have %d cells", path, cells)
	}
	noConsoleErrorsAndScreenshot(t, b, path, "notebook-"+filepath.Base(path), 20_000)
}
