package experiment

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

func inode(info os.FileInfo) uint64 { return info.Sys().(*syscall.Stat_t).Ino }

// TestApplyThenNothingToRun: applying an experiment puts its outs (the
// same inodes as the experiment's), its lock entries and its parameter
// (comments kept) into the workspace, after which a run has nothing to do.
func TestApplyThenNothingToRun(t *testing.T) {
	lab := newLab(t)
	runExps(t, lab, context.Background(), RunOptions{Sweeps: []string{"b=3,4"}})
	if _, err := lab.Apply("nosuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("apply of an unknown experiment: %v", err)
	}
	res, err := lab.Apply("b-4")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Stages, ",") != "fit" || strings.Join(res.Outs, ",") != "build/fit" {
		t.Errorf("applied stages %v outs %v, want fit and build/fit", res.Stages, res.Outs)
	}
	same(t, filepath.Join(lab.Root, "build/fit/model.txt"), filepath.Join(lab.Dir("b-4"), "build/fit/model.txt"), true)
	yaml, err := os.ReadFile(lab.PipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(yaml), "  # b is what experiments sweep.\n  b: 4\n") || !strings.Contains(string(yaml), "# The test lab.") {
		t.Errorf("datalab.yaml after apply:\n%s", yaml)
	}
	p, err := stagerun.Load(lab.PipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	plan, err := p.Plan(context.Background(), nil, stagerun.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range plan.Stages {
		if s.Run {
			t.Errorf("after apply, %s would run: %v", s.Name, s.Reasons)
		}
	}
	resetCounts(t)
	cache, err := stagerun.OpenCache(lab.CacheDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(context.Background(), nil, stagerun.Options{Cache: cache}); err != nil {
		t.Fatal(err)
	}
	if got := counts(t); len(got) > 0 {
		t.Errorf("datalab run after apply ran %v, want nothing", got)
	}
}

// TestApplyFailureLeavesWorkspaceAsItWas: a failure at any swap step puts
// back what earlier steps replaced.
func TestApplyFailureLeavesWorkspaceAsItWas(t *testing.T) {
	lab := newLab(t)
	runExps(t, lab, context.Background(), RunOptions{Sets: []string{"b=9"}, Name: "nine"})
	before := takeSnapshot(t, lab)
	for step := range 3 { // out, lock, pipeline file
		applyHook = func(n int) error {
			if n == step {
				return errors.New("disk full (test)")
			}
			return nil
		}
		_, err := lab.Apply("nine")
		applyHook = nil
		if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "unchanged") {
			t.Fatalf("step %d: err = %v, want the failure and that the workspace is unchanged", step, err)
		}
		before.check(t, lab, "after a failed apply")
	}
	leftovers, _ := filepath.Glob(filepath.Join(lab.Root, ".datalab", "apply-*"))
	if len(leftovers) > 0 {
		t.Errorf("apply left %v", leftovers)
	}
	if _, err := lab.Apply("nine"); err != nil {
		t.Fatalf("apply after the failures: %v", err)
	}
}

func TestApplyRefusesUnfinished(t *testing.T) {
	lab := newLab(t)
	t.Setenv("FIT_HOOK", "false")
	lab.Run(context.Background(), RunOptions{Sets: []string{"b=5"}, Name: "broken"})
	if _, err := lab.Apply("broken"); err == nil || !strings.Contains(err.Error(), "failed, not done") {
		t.Errorf("apply of a failed experiment: %v", err)
	}
}

// TestRemoveAndGC: remove deletes a workspace (its run record stays); gc
// removes failed workspaces and the cache entries only they used, keeps
// what the workspace's lock and the remaining experiments refer to, and
// says how many bytes it freed.
func TestRemoveAndGC(t *testing.T) {
	lab := newLab(t)
	recs, _ := runExps(t, lab, context.Background(), RunOptions{Sweeps: []string{"b=3,4"}})
	t.Setenv("FIT_HOOK", "false")
	lab.Run(context.Background(), RunOptions{Sets: []string{"b=5"}, Name: "broken", Stage: stagerun.Options{Retries: 0}})
	t.Setenv("FIT_HOOK", "")

	cache, err := stagerun.OpenCache(lab.CacheDir())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cache.Keys()
	if err != nil {
		t.Fatal(err)
	}
	keysBefore := len(keys)
	if _, err := lab.Remove("b-3", "nosuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove with an unknown name: %v", err)
	}
	if _, err := os.Stat(lab.Dir("b-3")); err != nil {
		t.Errorf("a remove that failed on a name removed b-3 anyway: %v", err)
	}
	freed, err := lab.Remove("b-3")
	if err != nil {
		t.Fatal(err)
	}
	if freed <= 0 {
		t.Errorf("remove freed %d bytes, want its own files (exp.json, exp.log)", freed)
	}
	if _, err := os.Stat(lab.Dir("b-3")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("workspace of b-3 still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(lab.RunsDir(), recs[0].RunID, "run.json")); err != nil {
		t.Errorf("run record of the removed experiment gone: %v", err)
	}
	res, err := lab.GC()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Workspaces, ",") != "broken" {
		t.Errorf("gc removed workspaces %v, want broken", res.Workspaces)
	}
	if res.CacheBytes <= 0 {
		t.Errorf("gc freed %d bytes from the cache, want b-3's fit outs", res.CacheBytes)
	}
	if keys, _ = cache.Keys(); len(keys) != keysBefore-1 {
		got := len(keys)
		t.Errorf("cache keys %d → %d, want one fewer (b-3's fit)", keysBefore, got)
	}
	// What is kept is still restored, not recomputed: b-4 again and the
	// workspace's own state.
	resetCounts(t)
	runExps(t, lab, context.Background(), RunOptions{Sets: []string{"b=4"}, Name: "again"})
	runExps(t, lab, context.Background(), RunOptions{Sets: []string{"b=2"}, Name: "base"})
	if got := counts(t); len(got) > 0 {
		t.Errorf("after gc, kept keys ran %v, want all from the cache", got)
	}
}
