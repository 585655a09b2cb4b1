package experiment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testtree"
	"github.com/datalabhq/datalab/pipeline/rundiff"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// testPipeline has two stages: prep (param a) writes build/prep.txt; fit
// (param b) reads it and writes the directory build/fit/ and a report under
// reports/runs/<run id>/. Each command appends its name to $COUNT_DIR/runs,
// outside every out, so a test sees which commands really ran. fit first
// runs $FIT_HOOK (a shell snippet; empty: nothing).
const testPipeline = `# The test lab.
params:
  a: 1
  # b is what experiments sweep.
  b: 2
  s: {x: 1}
metrics:
  fit: build/fit/metrics.json
stages:
  prep:
    cmd: echo prep >> "$COUNT_DIR/runs" && mkdir -p build && echo "prep ${params.a}" > build/prep.txt
    deps: [src/input.txt]
    params: [a]
    outs: [build/prep.txt]
  fit:
    cmd: >-
      eval "$FIT_HOOK" && echo "fit ${params.b}" >> "$COUNT_DIR/runs" && mkdir -p build/fit reports/runs/$DATALAB_RUN_ID &&
      cat build/prep.txt > build/fit/model.txt && echo "b=${params.b}" >> build/fit/model.txt &&
      echo '{"holdout": {"accuracy": 0.${params.b}}}' > build/fit/metrics.json &&
      echo "<html>fit ${params.b}</html>" > reports/runs/$DATALAB_RUN_ID/fit.html
    deps: [build/prep.txt]
    params: [b]
    outs: [build/fit]
`

// newLab makes a git repository holding the test pipeline, commits it and
// runs it once in the workspace (with the cache), as a user would before
// experimenting.
func newLab(t *testing.T) *Lab { t.Helper(); return newLabCached(t, true) }

// newLabCached is newLab whose first run uses the cache or not.
func newLabCached(t *testing.T, cached bool) *Lab {
	t.Helper()
	root := t.TempDir()
	testtree.WriteFile(t, filepath.Join(root, "datalab.yaml"), testPipeline)
	testtree.WriteFile(t, filepath.Join(root, "src", "input.txt"), "input\n")
	testtree.WriteFile(t, filepath.Join(root, ".gitignore"), "/build/\n/runs/\n/.datalab/\n/reports/\n")
	git(t, root, "init", "-q", "-b", "main")
	git(t, root, "add", ".")
	git(t, root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "lab")
	t.Setenv("COUNT_DIR", t.TempDir())
	t.Setenv("FIT_HOOK", "")
	lab, err := NewLab(filepath.Join(root, "datalab.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := stagerun.Load(lab.PipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	var opts stagerun.Options
	if cached {
		if opts.Cache, err = stagerun.OpenCache(lab.CacheDir()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Run(context.Background(), nil, opts); err != nil {
		t.Fatal(err)
	}
	resetCounts(t)
	return lab
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// counts returns the commands that ran since the last resetCounts.
func counts(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(os.Getenv("COUNT_DIR"), "runs"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), "fit ", "fit="))
}

func resetCounts(t *testing.T) {
	t.Helper()
	os.Remove(filepath.Join(os.Getenv("COUNT_DIR"), "runs"))
}

// snapshot is the workspace files an experiment must not touch: contents
// and inode of each.
type snapshot map[string]string

func takeSnapshot(t *testing.T, lab *Lab) snapshot {
	t.Helper()
	s := snapshot{}
	for _, rel := range []string{"datalab.yaml", "datalab.lock", "build/prep.txt", "build/fit/model.txt", "build/fit/metrics.json"} {
		path := filepath.Join(lab.Root, rel)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		s[rel] = fmt.Sprintf("%s (inode %d)", b, inode(info))
	}
	return s
}

func (s snapshot) check(t *testing.T, lab *Lab, when string) {
	t.Helper()
	now := takeSnapshot(t, lab)
	for rel, was := range s {
		if now[rel] != was {
			t.Errorf("%s: workspace file %s changed:\nwas %s\nnow %s", when, rel, was, now[rel])
		}
	}
}

func runExps(t *testing.T, lab *Lab, ctx context.Context, opts RunOptions) ([]*Record, string) {
	t.Helper()
	var progress bytes.Buffer
	opts.Progress = &progress
	if opts.Jobs == 0 {
		opts.Jobs = 2
	}
	recs, err := lab.Run(ctx, opts)
	if err != nil {
		t.Fatalf("exp run: %v\nprogress:\n%s%s", err, progress.String(), logs(lab, recs))
	}
	return recs, progress.String()
}

func logs(lab *Lab, recs []*Record) string {
	var b strings.Builder
	for _, r := range recs {
		log, _ := os.ReadFile(filepath.Join(lab.Dir(r.Name), LogFile))
		fmt.Fprintf(&b, "--- %s (%s) log:\n%s", r.Name, r.Status, log)
	}
	return b.String()
}

// TestSweepRunsIsolatedSharedAndInParallel: a sweep of two values with
// -j 2 runs both experiments at once, each in its own workspace; the
// unchanged stage comes from the cache as the very same inode (no copy,
// no command run); the workspace's build/, lock and pipeline file are
// untouched; records, run records (with the main commit) and the report
// site say what happened.
func TestSweepRunsIsolatedSharedAndInParallel(t *testing.T) {
	lab := newLab(t)
	before := takeSnapshot(t, lab)
	head := git(t, lab.Root, "rev-parse", "HEAD")

	// fit waits until both experiments have started it: with -j 1 this
	// would time out and fail.
	sync := t.TempDir()
	t.Setenv("FIT_HOOK", fmt.Sprintf(`touch %s/$DATALAB_RUN_ID; n=0; while [ "$(ls %s | wc -l)" -lt 2 ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done; [ "$(ls %s | wc -l)" -ge 2 ]`, sync, sync, sync))
	recs, progress := runExps(t, lab, context.Background(), RunOptions{Sweeps: []string{"b=3,4"}, Jobs: 2})

	if got := counts(t); len(got) != 2 || !strings.Contains(strings.Join(got, " "), "fit=3") || !strings.Contains(strings.Join(got, " "), "fit=4") {
		t.Errorf("commands run = %q, want fit 3 and fit 4 only (prep from the cache)", got)
	}
	before.check(t, lab, "after the sweep")
	runs, err := rundiff.Load(lab.RunsDir())
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs {
		want := fmt.Sprintf("b-%d", 3+i)
		if rec.Name != want || rec.Status != StatusDone || rec.RunID == "" || rec.End.Before(rec.Start) {
			t.Errorf("record %d = %+v, want %s done with a run id", i, rec, want)
		}
		if rec.Stages["prep"] != stagerun.StatusCached || rec.Stages["fit"] != stagerun.StatusRan {
			t.Errorf("%s stages = %v, want prep cached and fit ran", rec.Name, rec.Stages)
		}
		if got := rec.Metrics["fit.holdout.accuracy"]; got != float64(3+i)/10 {
			t.Errorf("%s metrics = %v, want fit.holdout.accuracy %v", rec.Name, rec.Metrics, float64(3+i)/10)
		}
		stored, err := lab.Record(rec.Name)
		if err != nil || stored.Status != StatusDone || stored.RunID != rec.RunID {
			t.Errorf("exp.json of %s = %+v, %v", rec.Name, stored, err)
		}
		ws := lab.Dir(rec.Name)
		same(t, filepath.Join(lab.Root, "build/prep.txt"), filepath.Join(ws, "build/prep.txt"), true)
		same(t, filepath.Join(lab.Root, "src/input.txt"), filepath.Join(ws, "src/input.txt"), true)
		same(t, filepath.Join(lab.Root, "build/fit/model.txt"), filepath.Join(ws, "build/fit/model.txt"), false)
		if b, _ := os.ReadFile(filepath.Join(ws, "build/fit/model.txt")); !strings.Contains(string(b), fmt.Sprintf("b=%d", 3+i)) {
			t.Errorf("%s model = %q", rec.Name, b)
		}
		run, err := rundiff.Find(runs, rec.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if run.Experiment != rec.Name || fmt.Sprint(run.Overrides["b"]) != fmt.Sprint(3+i) || run.Git.Commit != head || run.Git.Dirty {
			t.Errorf("run record of %s: experiment %q overrides %v git %+v, want the main commit %s, clean", rec.Name, run.Experiment, run.Overrides, run.Git, head)
		}
		for _, f := range []string{"fit.html", "run.json"} {
			if _, err := os.Stat(filepath.Join(lab.ReportsDir(), "runs", rec.RunID, f)); err != nil {
				t.Errorf("%s of %s not in the site: %v", f, rec.Name, err)
			}
		}
		if !strings.Contains(progress, rec.Name) {
			t.Errorf("progress does not mention %s:\n%s", rec.Name, progress)
		}
	}
	if _, err := os.Stat(filepath.Join(lab.ReportsDir(), "index.html")); err != nil {
		t.Errorf("site index not rebuilt: %v", err)
	}
	// The same name again: an error while done, allowed with Force.
	if _, err := lab.Run(context.Background(), RunOptions{Sets: []string{"b=3"}, Name: "b-3"}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("reusing a done name: err = %v, want one saying --force", err)
	}
	t.Setenv("FIT_HOOK", "")
	runExps(t, lab, context.Background(), RunOptions{Sets: []string{"b=3"}, Name: "b-3", Force: true})
	// A default name that exists is made unique.
	recs, _ = runExps(t, lab, context.Background(), RunOptions{Sets: []string{"b=3"}})
	if recs[0].Name != "b-3-2" {
		t.Errorf("default name of a second b=3 = %s, want b-3-2", recs[0].Name)
	}
}

func same(t *testing.T, a, b string, want bool) {
	t.Helper()
	ia, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	ib, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(ia, ib) != want {
		t.Errorf("os.SameFile(%s, %s) = %v, want %v (inodes %d, %d)", a, b, !want, want, inode(ia), inode(ib))
	}
}

// TestBadOverrideCreatesNothing: an unknown key or a wrong type fails before
// any workspace exists.
func TestBadOverrideCreatesNothing(t *testing.T) {
	lab := newLab(t)
	for _, sweep := range []string{"nope=1,2", "b=x,y", "s=1,2"} {
		if _, err := lab.Run(context.Background(), RunOptions{Sweeps: []string{sweep}}); err == nil {
			t.Errorf("--sweep %s: no error", sweep)
		}
	}
	if names, _ := lab.names(); len(names) > 0 {
		t.Errorf("workspaces made for bad overrides: %v", names)
	}
	if _, err := lab.Run(context.Background(), RunOptions{Targets: []string{"nostage"}}); err == nil || !strings.Contains(err.Error(), "unknown stage") {
		t.Errorf("unknown target: err = %v", err)
	}
}

// TestCancelLeavesCancelledNeverDone: cancelling while a stage runs stops
// it (its process group) and records the experiment as cancelled; a queued
// one (-j 1) is cancelled without starting.
func TestCancelLeavesCancelledNeverDone(t *testing.T) {
	lab := newLab(t)
	marks := t.TempDir()
	t.Setenv("FIT_HOOK", fmt.Sprintf(`touch %s/started; sleep 30; touch %s/finished`, marks, marks))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for range 400 {
			if _, err := os.Stat(filepath.Join(marks, "started")); err == nil {
				cancel()
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
	}()
	start := time.Now()
	recs, err := lab.Run(ctx, RunOptions{Sweeps: []string{"b=5,6"}, Jobs: 1, Progress: &bytes.Buffer{}})
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want cancelled", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("cancel took %v: the stage was not stopped", d)
	}
	if _, err := os.Stat(filepath.Join(marks, "finished")); err == nil {
		t.Error("the stage ran to its end after the cancel")
	}
	for _, r := range recs {
		stored, err := lab.Record(r.Name)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Status != StatusCancelled {
			t.Errorf("%s recorded as %s, want cancelled", r.Name, stored.Status)
		}
	}
	// A cancelled experiment's name can be run again without --force.
	t.Setenv("FIT_HOOK", "")
	runExps(t, lab, context.Background(), RunOptions{Sweeps: []string{"b=5,6"}})
}

func TestFailedExperimentDoesNotStopOthers(t *testing.T) {
	lab := newLab(t)
	t.Setenv("FIT_HOOK", `[ "$(cat build/prep.txt)" = "prep 1" ] && grep -q '"b":7' <<EOF
$DATALAB_SET
EOF`)
	recs, err := lab.Run(context.Background(), RunOptions{Sweeps: []string{"b=7,8"}, Jobs: 2, Stage: stagerun.Options{Retries: 0}})
	if err == nil || !strings.Contains(err.Error(), "b-8 failed") {
		t.Fatalf("err = %v, want b-8 failed", err)
	}
	if recs[0].Status != StatusDone || recs[1].Status != StatusFailed || recs[1].Error == "" {
		t.Errorf("statuses = %s, %s (%s); want done, failed with the error", recs[0].Status, recs[1].Status, recs[1].Error)
	}
}

// TestBuildMadeWithoutTheCacheIsNotRecomputed: a workspace whose build/
// predates the cache (or was made with --no-cache) still gives experiments
// its unchanged outs — as links, up to date by the lock — and they land in
// the cache for the next ones; the workspace's files keep their bytes.
func TestBuildMadeWithoutTheCacheIsNotRecomputed(t *testing.T) {
	lab := newLabCached(t, false)
	before := takeSnapshot(t, lab)
	recs, _ := runExps(t, lab, context.Background(), RunOptions{Sweeps: []string{"b=3,4"}, Jobs: 1})
	if got := counts(t); strings.Join(got, " ") != "fit=3 fit=4" {
		t.Errorf("commands run = %q, want fit=3 fit=4 (prep up to date from the workspace's build/)", got)
	}
	if recs[0].Stages["prep"] != stagerun.StatusSkipped || recs[1].Stages["prep"] != stagerun.StatusSkipped {
		t.Errorf("prep: %s and %s, want skipped (linked in, up to date)", recs[0].Stages["prep"], recs[1].Stages["prep"])
	}
	same(t, filepath.Join(lab.Root, "build/prep.txt"), filepath.Join(lab.Dir(recs[1].Name), "build/prep.txt"), true)
	recs, _ = runExps(t, lab, context.Background(), RunOptions{Sets: []string{"b=5"}})
	if recs[0].Stages["prep"] != stagerun.StatusCached {
		t.Errorf("prep in a later experiment: %s, want cached", recs[0].Stages["prep"])
	}
	before.check(t, lab, "after the experiments")
}

// TestMisspeltSetNamesClosestKeys: exp run --set with a typo fails before
// any workspace exists and names the closest keys, as datalab run --set does.
func TestMisspeltSetNamesClosestKeys(t *testing.T) {
	lab := newLab(t)
	_, err := lab.Run(context.Background(), RunOptions{Sets: []string{"s.xx=3"}})
	if err == nil || !strings.Contains(err.Error(), "did you mean s.x") {
		t.Errorf("--set s.xx=3: err = %v, want it to name s.x", err)
	}
	if names, _ := lab.names(); len(names) > 0 {
		t.Errorf("workspaces made for a bad --set: %v", names)
	}
}
