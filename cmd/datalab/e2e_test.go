package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gopkg.in/yaml.v3"

	"github.com/datalabhq/datalab/flights/flightmodel"
	"github.com/datalabhq/datalab/flights/flightmonitor/flightmonitortest"
	"github.com/datalabhq/datalab/internal/browsertest"
	"github.com/datalabhq/datalab/internal/testlog"
	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/internal/testwait"
	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/matches/matchmonitor/matchmonitortest"
	"github.com/datalabhq/datalab/pipeline/nbview"
	"github.com/datalabhq/datalab/pipeline/notebook"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// The datalab binary, compiled once per test binary run and shared by every
// test that starts it as a process (a build of this CLI costs minutes on a
// loaded 2-core machine; linking it again per test was most of those tests'
// time).
var (
	sharedBinOnce sync.Once
	sharedBinDir  string
	sharedBin     string
	sharedBinErr  error
)

// The long tests (this end-to-end run, the lab in a browser, the remote
// store runs, the image build, the Kafka stacks) call t.Parallel: they
// mostly wait on the processes they start, so they overlap once the short
// in-process tests (which share rootCmd and cannot) are done. None of them
// uses t.Setenv or t.Chdir (objstoretest.NewS3Env hands the fake S3's
// credentials to the processes instead); each works in its own directory on
// free ports.

// TestMain removes the shared binary and the monitor tests' trained
// fixtures after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if sharedBinDir != "" {
		os.RemoveAll(sharedBinDir)
	}
	matchmonitortest.Cleanup()
	flightmonitortest.Cleanup()
	os.Exit(code)
}

// buildDatalab returns the datalab binary, compiled once per test binary run.
func buildDatalab(t *testing.T) string {
	t.Helper()
	sharedBinOnce.Do(func() {
		sharedBinDir, sharedBinErr = os.MkdirTemp("", "datalab-test-bin-")
		if sharedBinErr != nil {
			return
		}
		sharedBin = filepath.Join(sharedBinDir, "datalab")
		// The same build settings as `make build` and as this test binary
		// (CGO_ENABLED and GOFLAGS as the environment has them; make sets
		// CGO_ENABLED=0 -trimpath): the packages compiled for the tests are
		// reused, where other settings would compile every dependency again.
		cmd := exec.Command("go", "build", "-o", sharedBin, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			sharedBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if sharedBinErr != nil {
		t.Fatal(sharedBinErr)
	}
	return sharedBin
}

// buildDatalabAs returns the CLI under the file name name in a fresh
// directory: a hard link to (or, across file systems, a copy of) the shared
// build, so the process really runs under that name and path.
func buildDatalabAs(t *testing.T, name string) string {
	t.Helper()
	src := buildDatalab(t)
	bin := filepath.Join(t.TempDir(), name)
	if err := os.Link(src, bin); err == nil {
		return bin
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
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
		// Executables keep their bit (the kernel's go wrapper,
		// jupyter/kernels/gonb/bin/go, is one), as a git clone would.
		mode := os.FileMode(0o644)
		if fi, err := os.Stat(filepath.Join(root, rel)); err == nil && fi.Mode().Perm()&0o111 != 0 {
			mode = 0o755
		}
		os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755)
		if err := os.WriteFile(filepath.Join(dst, rel), b, mode); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// cloneHead is `git clone` of the repository's HEAD into a fresh
// directory: exactly what a newcomer gets (uncommitted changes are not in
// it), so `git status` in it means what it means to them.
func cloneHead(t *testing.T) string {
	t.Helper()
	root := testmirror.RepoRoot()
	if _, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output(); err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "datalab")
	if out, err := exec.Command("git", "clone", "--quiet", "--no-hardlinks", root, dst).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	return dst
}

// runIn runs a command in dir with env added and returns combined output
// and the exit code.
func runIn(t *testing.T, dir string, env []string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "DATALAB_NO_PROGRESS=1"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return out.String(), code
}

// gitStatusClean fails unless `git status --porcelain` in dir is empty:
// everything the README's commands write is either ignored or unchanged.
func gitStatusClean(t *testing.T, dir, when string) {
	t.Helper()
	out, err := exec.Command("git", "-C", dir, "status", "--porcelain").CombinedOutput()
	if err != nil {
		t.Fatalf("git status: %v\n%s", err, out)
	}
	if len(bytes.TrimSpace(out)) > 0 {
		diff, _ := exec.Command("git", "-C", dir, "diff", "--stat").CombinedOutput()
		t.Errorf("git status %s is not clean (a changed datalab.lock means its keys are stale: run `datalab run` and commit it):\n%s\n%s", when, out, diff)
	}
}

// datalabCmd runs the binary in dir and returns combined output and the exit code.
func datalabCmd(t *testing.T, bin, dir string, env []string, args ...string) (string, int) {
	t.Helper()
	return runIn(t, dir, env, bin, args...)
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

// TestCleanCloneEndToEnd is the newcomer's path and the foundation's
// acceptance run on the real data, on a git clone of HEAD: the README's
// `make run` (build, notebook kernel, the whole pipeline), `git status`
// clean afterwards (issue 12 finding 14: the committed lock must not
// change when the outs are the same), then `.bin/datalab up` serving the
// model the pipeline just trained with both apps answering a real request,
// `git status` still clean; then every data set pulled and verified, a
// second run that does nothing, outputs byte-identical to those the
// committed datalab.lock records, the reports and notebooks in a browser,
// and a tampered byte reported. One pipeline run serves every check.
func TestCleanCloneEndToEnd(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end run on real data")
	}
	mirror := testmirror.Dir(t)
	notebookTools(t) // skip outside CI when jupyter or the kernel are missing
	dir := cloneHead(t)
	bin := filepath.Join(dir, ".bin", "datalab")
	// Only what the README's machine has: the mirror (the Makefile's
	// default ../shared/data is not beside a temporary clone) and no object
	// store of the developer's.
	env := []string{"DATALAB_MIRROR=" + mirror, "DATALAB_STORE="}
	done := stopwatch(t)

	out, code := runIn(t, dir, env, "make", "run")
	if code != 0 {
		t.Fatalf("make run exit %d:\n%s", code, out)
	}
	done("make run")
	gitStatusClean(t, dir, "after make run")
	checkUp(t, bin, dir, env)
	gitStatusClean(t, dir, "after datalab up")
	done("datalab up")

	out, code = datalabCmd(t, bin, dir, env, "data", "pull")
	if code != 0 {
		t.Fatalf("data pull exit %d:\n%s", code, out)
	}
	out, code = datalabCmd(t, bin, dir, env, "data", "status", "--check")
	if code != 0 || strings.Contains(out, "missing") || strings.Contains(out, "modified") {
		t.Fatalf("data status after pull (exit %d):\n%s", code, out)
	}
	out, code = datalabCmd(t, bin, dir, env, "run")
	if code != 0 || strings.Contains(out, "  ran ") {
		t.Fatalf("second run should skip every stage (exit %d):\n%s", code, out)
	}
	checkHelperChangeRerunsOneStage(t, bin, dir, env)
	done("data pull, status, second run, a helper changed")
	checkReadmeExperiments(t, bin, dir, env)
	done("README experiments")

	// make lab, as the README goes on: its set-up step (the notebook server
	// and gopls), then the lab on model-variants in a browser — a new figure
	// from the slider and from an edited cell.
	labTools(t)
	if out, code := runIn(t, dir, env, "bash", ".ci/setup", "lab"); code != 0 {
		t.Fatalf("bash .ci/setup lab (make lab's set-up) exit %d:\n%s", code, out)
	}
	checkLabModelVariants(t, bin, dir, filepath.Join(dir, ".bin"))
	gitStatusClean(t, dir, "after datalab lab")
	done("make lab")

	// Same inputs ⇒ same bytes, across machines: the committed lock records
	// the output hashes of the run that produced it.
	committed := readLock(t, headLock(t, dir))
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
		// Each report has its data-quality section naming the quarantine
		// files, and prints no Go map syntax.
		page, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(page, []byte("Data quality")) || !bytes.Contains(page, []byte(".quarantine.jsonl</td>")) || bytes.Contains(page, []byte("map[")) {
			t.Errorf("%s: no data-quality section naming the quarantine files, or Go map syntax in the page", rel)
		}
	}

	// The notebooks ran as a stage: their pages open in the browser, the
	// site index links them, and model-variants shows the pipeline's own
	// metrics for this run.
	for _, name := range []string{"matches-explore", "flights-explore", "model-variants"} {
		checkNotebookInBrowser(t, filepath.Join(dir, "build", "notebooks", name+".html"))
		// The parameters the notebook ran with, on the page and in the sidecar.
		page, err := os.ReadFile(filepath.Join(dir, "build", "notebooks", name+".html"))
		if err != nil {
			t.Fatal(err)
		}
		side, err := notebook.ReadSidecar(filepath.Join(dir, "reports", "notebooks", name+".report.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(page, []byte(`<section class="datalab-params"`)) || !slices.ContainsFunc(side.Params, func(p notebook.ParamValue) bool { return p.Source == notebook.SourceGiven }) {
			t.Errorf("notebook %s: no parameters block on the page or no given parameter in the sidecar (%+v)", name, side.Params)
		}
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
	done("lock, reports and notebooks in the browser")

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
	done("notebook parameter change")

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

// checkHelperChangeRerunsOneStage: the stages' code lists are computed from
// the build graph (TestStageCodeIsComputed), so a change in a package only
// one stage reaches — the match report's page code — reruns that stage and
// no other; undoing it touches that stage only (restored from the run
// cache) and leaves the lock and the checkout as committed.
func checkHelperChangeRerunsOneStage(t *testing.T, bin, dir string, env []string) {
	t.Helper()
	const helper, stage = "pkg:matches/matchreport", "report-matches"
	p, err := stagerun.Load(filepath.Join(dir, "datalab.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, s := range p.Stages {
		if slices.Contains(s.Code, helper) {
			users = append(users, s.Name)
		}
	}
	if !slices.Equal(users, []string{stage}) {
		t.Fatalf("%s is in the code of %v, want only %s: pick another helper for this check", helper, users, stage)
	}
	pkgDir := strings.TrimPrefix(helper, stagerun.GoPackagePrefix)
	files, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(pkgDir), "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", pkgDir, err)
	}
	victim := files[0]
	if strings.HasSuffix(victim, "_test.go") {
		t.Fatalf("%s: want a non-test file first", victim)
	}
	orig, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	// The change runs the stage; the undo brings back the key of the
	// committed lock, whose outs the run cache restores instead.
	for i, content := range [][]byte{append(slices.Clone(orig), "\n// changed by TestCleanCloneEndToEnd\n"...), orig} {
		if err := os.WriteFile(victim, content, 0o644); err != nil {
			t.Fatal(err)
		}
		out, code := datalabCmd(t, bin, dir, env, "run")
		want := []string{"ran      " + stage, "cached   " + stage}[i]
		if code != 0 || strings.Count(out, "  ran ")+strings.Count(out, "  cached ") != 1 || !strings.Contains(out, want) {
			t.Fatalf("a change in %s should rerun %s and no other stage (%q; exit %d):\n%s", victim, stage, want, code, out)
		}
	}
	gitStatusClean(t, dir, "after a helper change and its undo")
}

// stopwatch logs how long each phase of a long test took (the test suite's
// time budget is tracked from these lines; docs/performance.md).
func stopwatch(t *testing.T) func(phase string) {
	start := time.Now()
	last := start
	return func(phase string) {
		t.Helper()
		now := time.Now()
		t.Logf("phase %-45s %6.1f s (total %6.1f s)", phase, now.Sub(last).Seconds(), now.Sub(start).Seconds())
		last = now
	}
}

// headLock writes the clone's committed datalab.lock (HEAD's) to a file and
// returns its path.
func headLock(t *testing.T, dir string) string {
	t.Helper()
	b, err := exec.Command("git", "-C", dir, "show", "HEAD:datalab.lock").Output()
	if err != nil {
		t.Fatalf("git show HEAD:datalab.lock: %v", err)
	}
	path := filepath.Join(t.TempDir(), "committed.lock")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkUp runs `datalab up` as the README says, after `make run`, on free
// loopback ports: it must start without pulling anything (serving the
// flight model the pipeline trained, not a Spark fixture), and both apps
// must answer a real request — the match app a prediction, the flight app
// a request answered through Kafka and the predictor — before it stops
// cleanly on SIGINT.
func checkUp(t *testing.T, bin, dir string, env []string) {
	t.Helper()
	cmd := exec.Command(bin, "up")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "DATALAB_NO_PROGRESS=1",
		"DATALAB_ADDR=127.0.0.1:0", "DATALAB_FLIGHT_ADDR=127.0.0.1:0", "DATALAB_BROKER_ADDR=127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	urls := make(chan [2]string, 8)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if name, url, ok := strings.Cut(sc.Text(), " "); ok {
				urls <- [2]string{name, strings.TrimSpace(url)}
			}
		}
		exited <- cmd.Wait()
	}()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
	}()
	var flights, matches string
	deadline := time.After(3 * time.Minute)
	for flights == "" || matches == "" {
		select {
		case u := <-urls:
			switch u[0] {
			case "flights":
				flights = strings.TrimSuffix(u[1], "/flights/delays/predict_kafka")
			case "matches":
				matches = strings.TrimSuffix(u[1], "/")
			}
		case err := <-exited:
			stopped = true
			t.Fatalf("datalab up exited before serving both apps (%v):\n%s", err, logs.String())
		case <-deadline:
			t.Fatalf("datalab up did not announce both apps within 3 minutes:\n%s", logs.String())
		}
	}

	// The match app: a prediction from the model the pipeline trained.
	resp, err := http.Post(matches+"/api/v1/matches/predict", "application/json", strings.NewReader(`{"home":"Argentina","away":"France"}`))
	if err != nil {
		t.Fatal(err)
	}
	var match struct {
		Outcome       string             `json:"outcome"`
		Probabilities map[string]float64 `json:"probabilities"`
		Variant       string             `json:"variant"`
	}
	err = json.NewDecoder(resp.Body).Decode(&match)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || match.Outcome == "" || len(match.Probabilities) == 0 {
		t.Errorf("match prediction: HTTP %d, %+v, %v", resp.StatusCode, match, err)
	}

	// The flight app: POST a request, poll until the predictor's answer is
	// stored; it must come from the trained bts model.
	form := url.Values{"DepDelay": {"5"}, "Carrier": {"WN"}, "FlightDate": {"2008-05-14"}, "Origin": {"LAS"}, "Dest": {"PHX"}}
	resp, err = http.PostForm(flights+"/flights/delays/predict/classify_realtime", form)
	if err != nil {
		t.Fatal(err)
	}
	var issued struct{ Status, ID string }
	err = json.NewDecoder(resp.Body).Decode(&issued)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || issued.ID == "" {
		t.Fatalf("flight request: HTTP %d, %+v, %v\n%s", resp.StatusCode, issued, err, logs.String())
	}
	var answer struct {
		Status     string
		Prediction struct {
			Prediction *int
			Model      string
		}
	}
	if !testwait.Poll(time.Minute, 50*time.Millisecond, func() bool {
		resp, err := http.Get(flights + "/flights/delays/predict/classify_realtime/response/" + issued.ID)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&answer)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || (answer.Status != "OK" && answer.Status != "WAIT") {
			t.Fatalf("flight response: HTTP %d, %+v, %v", resp.StatusCode, answer, err)
		}
		return answer.Status == "OK"
	}) {
		t.Fatalf("no flight prediction within a minute:\n%s", logs.String())
	}
	if answer.Prediction.Prediction == nil || !strings.HasPrefix(answer.Prediction.Model, "bts") {
		t.Errorf("flight prediction %+v: want one from the trained bts model", answer.Prediction)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("datalab up after SIGINT: %v\n%s", err, logs.String())
		}
	case <-time.After(time.Minute):
		t.Errorf("datalab up still running a minute after SIGINT:\n%s", logs.String())
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

// checkReadmeExperiments follows the README's "Next" commands after make
// run: a two-point sweep in experiment workspaces, exp show, and the
// Markdown diff of the two runs. The main build/ and datalab.lock stay as
// they were and git status stays clean.
func checkReadmeExperiments(t *testing.T, bin, dir string, env []string) {
	t.Helper()
	lockBefore, err := os.ReadFile(filepath.Join(dir, "datalab.lock"))
	if err != nil {
		t.Fatal(err)
	}
	modelBefore, err := os.Stat(filepath.Join(dir, "build", "matches", "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	out, code := datalabCmd(t, bin, dir, env, "exp", "run", "--sweep", "matches.forests.form3.max_depth=8,12", "report-matches")
	if code != 0 {
		t.Fatalf("README: datalab exp run --sweep … exit %d:\n%s", code, out)
	}
	out, code = datalabCmd(t, bin, dir, env, "exp", "show")
	if code != 0 || !strings.Contains(out, "max_depth") || strings.Count(out, "done") < 2 {
		t.Fatalf("README: datalab exp show should list two done experiments with their max_depth (exit %d):\n%s", code, out)
	}
	out, code = datalabCmd(t, bin, dir, env, "runs", "diff", "latest~1", "latest", "--md")
	if code != 0 || !strings.Contains(out, "matches.forests.form3.max_depth") || !strings.Contains(out, "matches.served.holdout.accuracy") || !strings.Contains(out, "|") {
		t.Fatalf("README: datalab runs diff latest~1 latest --md should show the changed max_depth and the served accuracy as a table (exit %d):\n%s", code, out)
	}
	if lockAfter, _ := os.ReadFile(filepath.Join(dir, "datalab.lock")); !bytes.Equal(lockBefore, lockAfter) {
		t.Error("datalab exp run changed the main datalab.lock")
	}
	if modelAfter, err := os.Stat(filepath.Join(dir, "build", "matches", "metrics.json")); err != nil || !os.SameFile(modelBefore, modelAfter) || modelAfter.ModTime() != modelBefore.ModTime() {
		t.Error("datalab exp run touched the main build/matches/metrics.json")
	}
	gitStatusClean(t, dir, "after the README's experiment commands")
}
