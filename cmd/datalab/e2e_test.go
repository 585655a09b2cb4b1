package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gopkg.in/yaml.v3"

	"github.com/datalabhq/datalab/internal/browsertest"
	"github.com/datalabhq/datalab/internal/testmirror"
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
	bin := buildDatalab(t)
	dir := checkout(t)
	env := []string{"DATALAB_MIRROR=" + mirror, "DATALAB_STORE=", "DATALAB_RETRIES=0"}

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
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("%s: console errors: %v", path, errs)
	}
	shotDir := os.Getenv("E2E_SCREENSHOT_DIR")
	if shotDir == "" {
		shotDir = t.TempDir()
	}
	shot := filepath.Join(shotDir, strings.TrimSuffix(filepath.Base(filepath.Dir(path))+"-"+filepath.Base(path), ".html")+".png")
	if png := b.Screenshot(t, shot); len(png) < 50_000 {
		t.Errorf("%s: screenshot is only %d bytes", path, len(png))
	}
}
