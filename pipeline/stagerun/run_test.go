package stagerun

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/datalabhq/datalab/internal/testtree"
	"github.com/datalabhq/datalab/pipeline/lfspointer"
)

// exampleCopy copies testdata/example into a temporary directory and loads
// its pipeline.
func exampleCopy(t *testing.T) *Pipeline {
	t.Helper()
	dir := t.TempDir()
	err := os.CopyFS(dir, os.DirFS("testdata/example"))
	if err != nil {
		t.Fatal(err)
	}
	return mustLoad(t, filepath.Join(dir, "datalab.yaml"))
}

func mustLoad(t *testing.T, path string) *Pipeline {
	t.Helper()
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writePipeline writes a pipeline file into a fresh directory and loads it.
func writePipeline(t *testing.T, yaml string) *Pipeline {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "datalab.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return mustLoad(t, path)
}

func testOptions() Options {
	return Options{Retries: 0, RetryDelay: time.Millisecond, Version: "test", Logger: slog.New(slog.DiscardHandler)}
}

func mustRun(t *testing.T, p *Pipeline, targets []string, opts Options) *RunRecord {
	t.Helper()
	rec, err := p.Run(context.Background(), targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func statuses(rec *RunRecord) map[string]string {
	m := map[string]string{}
	for _, s := range rec.Stages {
		m[s.Name] = s.Status
	}
	return m
}

func wantRan(t *testing.T, rec *RunRecord, want ...string) {
	t.Helper()
	if got := rec.Ran(); !slices.Equal(got, want) {
		t.Fatalf("ran %v, want %v (statuses %v)", got, want, statuses(rec))
	}
}

func TestRunTwiceSkipsEverything(t *testing.T) {
	p := exampleCopy(t)
	var out bytes.Buffer
	opts := testOptions()
	opts.Stdout, opts.Stderr = &out, &out
	first := mustRun(t, p, nil, opts)
	wantRan(t, first, "ingest", "features", "train", "evaluate")
	if !strings.Contains(out.String(), "[ingest] max_bad_ratio=0.05") {
		t.Errorf("stage output not streamed with prefix:\n%s", out.String())
	}
	lock1, err := os.ReadFile(p.LockPath())
	if err != nil {
		t.Fatal(err)
	}

	second := mustRun(t, p, nil, opts)
	wantRan(t, second)
	for _, s := range second.Stages {
		if s.Status != StatusSkipped {
			t.Errorf("stage %s: status %s, want skipped", s.Name, s.Status)
		}
	}
	lock2, _ := os.ReadFile(p.LockPath())
	if !bytes.Equal(lock1, lock2) {
		t.Error("a run that did nothing changed the lock file")
	}
	plan, err := p.Plan(context.Background(), nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range plan.Stages {
		if s.Run {
			t.Errorf("plan runs %s: %v", s.Name, s.Reasons)
		}
	}

	// The run record is on disk and says what happened.
	data, err := os.ReadFile(filepath.Join(p.Root, "runs", first.ID, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec RunRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Status != "ok" || rec.GoVersion == "" || rec.DatalabVersion != "test" {
		t.Errorf("record = %+v", rec)
	}
	if rec.Datasets["data/matches.csv"] == "" {
		t.Errorf("dataset oid missing: %v", rec.Datasets)
	}
	if rec.Params["train.num_trees"] != float64(50) {
		t.Errorf("params = %v", rec.Params)
	}
	if rec.Git.Error != "not a git repository" {
		t.Errorf("git = %+v, want not a git repository", rec.Git)
	}
	if _, err := os.Stat(filepath.Join(p.Root, "runs", first.ID, "ingest.log")); err != nil {
		t.Errorf("stage log: %v", err)
	}
	if !runIDRE.MatchString(first.ID) || first.ID[:16] > second.ID[:16] {
		t.Errorf("run ids %s, %s: want time-sortable 20261123T121400Z-1a2b3c", first.ID, second.ID)
	}
}

var runIDRE = regexp.MustCompile(`^\d{8}T\d{6}Z-[0-9a-f]{6}$`)

func TestParamChangeRerunsOnlyDependents(t *testing.T) {
	p := exampleCopy(t)
	opts := testOptions()
	mustRun(t, p, nil, opts)

	text, _ := os.ReadFile(p.Path)
	edited := strings.Replace(string(text), "num_trees: 50", "num_trees: 80", 1)
	os.WriteFile(p.Path, []byte(edited), 0o644)
	p = mustLoad(t, p.Path)

	plan, err := p.Plan(context.Background(), nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	got := plan.String()
	want := "skip  ingest: up to date\n" +
		"skip  features: up to date\n" +
		"run   train: param train.num_trees changed\n" +
		"run   evaluate: upstream train will run\n"
	if got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	rec := mustRun(t, p, nil, opts)
	wantRan(t, rec, "train", "evaluate")
	model, _ := os.ReadFile(filepath.Join(p.Root, "work/model.txt"))
	if !strings.Contains(string(model), "trees=80") {
		t.Errorf("model.txt = %q, want the new param substituted", model)
	}
}

func TestUpstreamWithIdenticalOutputsSkipsDownstream(t *testing.T) {
	p := exampleCopy(t)
	opts := testOptions()
	mustRun(t, p, nil, opts)
	// A comment-only change: ingest must rerun, but it strips comments, so
	// its output is identical and nothing downstream runs.
	f, _ := os.OpenFile(filepath.Join(p.Root, "data/matches.csv"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("# a comment\n")
	f.Close()
	rec := mustRun(t, p, nil, opts)
	wantRan(t, rec, "ingest")
	if r := rec.Stage("ingest").Reasons; !slices.Equal(r, []string{"deps changed: data/matches.csv"}) {
		t.Errorf("ingest reasons = %v", r)
	}
}

func TestCodeChangeAndMissingOuts(t *testing.T) {
	p := exampleCopy(t)
	opts := testOptions()
	mustRun(t, p, nil, opts)

	os.WriteFile(filepath.Join(p.Root, "code/ingest.sh"), []byte("#!/bin/sh\n# v2\n"), 0o644)
	os.Remove(filepath.Join(p.Root, "work/model.txt"))
	plan, err := p.Plan(context.Background(), nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, s := range plan.Stages {
		reasons[s.Name] = strings.Join(s.Reasons, "; ")
	}
	if reasons["ingest"] != "code changed: code/ingest.sh" {
		t.Errorf("ingest: %q", reasons["ingest"])
	}
	if reasons["train"] != "outs missing: work/model.txt; upstream features will run" {
		t.Errorf("train: %q", reasons["train"])
	}
	rec := mustRun(t, p, nil, opts)
	// ingest and train produce the same bytes again, so features and
	// evaluate are skipped.
	wantRan(t, rec, "ingest", "train")
}

func TestTargetsAndForce(t *testing.T) {
	p := exampleCopy(t)
	opts := testOptions()
	rec := mustRun(t, p, []string{"features"}, opts)
	wantRan(t, rec, "ingest", "features")
	if len(rec.Stages) != 2 {
		t.Errorf("stages in record: %v, want only the target and its upstream", statuses(rec))
	}
	opts.Force = true
	rec = mustRun(t, p, []string{"features"}, opts)
	wantRan(t, rec, "ingest", "features")
	if r := rec.Stage("ingest").Reasons; !slices.Equal(r, []string{"forced"}) {
		t.Errorf("reasons = %v", r)
	}

	_, err := p.Run(context.Background(), []string{"trian"}, opts)
	if err == nil || !strings.Contains(err.Error(), `unknown stage "trian"; known stages: ingest, features, train, evaluate`) {
		t.Errorf("err = %v", err)
	}
}

const flakyPipeline = `
stages:
  flaky:
    cmd: |
      n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count
      if [ $n -lt 3 ]; then echo "flaky failure $n" >&2; exit 1; fi
      echo done > out.txt
    outs: [out.txt]
    retries: 3
    retry_delay: 5ms
  after:
    cmd: cp out.txt after.txt
    deps: [out.txt]
    outs: [after.txt]
`

func TestFailTwiceThenSucceedIsRetriedAndRecorded(t *testing.T) {
	p := writePipeline(t, flakyPipeline)
	rec := mustRun(t, p, nil, testOptions())
	wantRan(t, rec, "flaky", "after")
	s := rec.Stage("flaky")
	if len(s.Attempts) != 3 {
		t.Fatalf("attempts = %d, want 3", len(s.Attempts))
	}
	wantErrs := []string{"attempt 1: exit status 1: flaky failure 1", "attempt 2: exit status 1: flaky failure 2"}
	if !slices.Equal(s.Errors, wantErrs) {
		t.Errorf("errors = %q, want %q", s.Errors, wantErrs)
	}
	if s.Attempts[2].Error != "" || s.Attempts[0].Error == "" {
		t.Errorf("attempts = %+v", s.Attempts)
	}
	// Attempts and errors are kept in the run record on disk (the lock
	// holds content hashes only).
	data, err := os.ReadFile(filepath.Join(p.Root, "runs", rec.ID, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk RunRecord
	if err := json.Unmarshal(data, &onDisk); err != nil {
		t.Fatal(err)
	}
	if ds := onDisk.Stage("flaky"); ds == nil || len(ds.Attempts) != 3 || !slices.Equal(ds.Errors, wantErrs) {
		t.Errorf("run record entry = %+v", ds)
	}
	if lock, err := ReadLock(p.LockPath()); err != nil || lock.Stages["flaky"] == nil {
		t.Errorf("flaky not locked: %v", err)
	}
	logText, _ := os.ReadFile(filepath.Join(p.Root, s.Log))
	if !strings.Contains(string(logText), "flaky failure 2") || !strings.Contains(string(logText), "### attempt 3") {
		t.Errorf("log:\n%s", logText)
	}
}

func TestRetriesExhausted(t *testing.T) {
	p := writePipeline(t, `
stages:
  broken:
    cmd: echo nope >&2; exit 3
    outs: [x]
  downstream:
    cmd: cp x y
    deps: [x]
    outs: [y]
`)
	opts := testOptions()
	opts.Retries = 2 // run-wide policy applies: the stage sets none
	rec, err := p.Run(context.Background(), nil, opts)
	if !errors.Is(err, ErrStageFailed) {
		t.Fatalf("err = %v, want ErrStageFailed", err)
	}
	if got := statuses(rec); got["broken"] != StatusFailed || got["downstream"] != StatusNotRun {
		t.Errorf("statuses = %v", got)
	}
	if n := len(rec.Stage("broken").Attempts); n != 3 {
		t.Errorf("attempts = %d, want 3", n)
	}
	if rec.Status != "failed" {
		t.Errorf("record status = %s", rec.Status)
	}
	if _, err := os.Stat(filepath.Join(p.Root, "runs", rec.ID, "run.json")); err != nil {
		t.Errorf("failed run left no record: %v", err)
	}
	lock, _ := ReadLock(p.LockPath())
	if lock.Stages["broken"] != nil {
		t.Error("a failed stage was locked as up to date")
	}
}

func TestMissingOutputIsNotRetried(t *testing.T) {
	p := writePipeline(t, `
stages:
  forgetful:
    cmd: "true"
    outs: [never.txt]
    retries: 5
    retry_delay: 1h
`)
	rec, err := p.Run(context.Background(), nil, testOptions())
	if err == nil || !strings.Contains(err.Error(), "did not produce out never.txt") {
		t.Fatalf("err = %v", err)
	}
	if n := len(rec.Stage("forgetful").Attempts); n != 1 {
		t.Errorf("attempts = %d, want 1", n)
	}
}

func TestCancelStopsStageAndRetries(t *testing.T) {
	p := writePipeline(t, `
stages:
  slow:
    cmd: sleep 30 & wait
    outs: [x]
    retries: 3
    retry_delay: 1h
`)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	rec, err := p.Run(ctx, nil, testOptions())
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %s", d)
	}
	if rec.Status != "cancelled" || len(rec.Stage("slow").Attempts) != 1 {
		t.Errorf("record: status %s, attempts %d", rec.Status, len(rec.Stage("slow").Attempts))
	}
}

func TestStageEnvironment(t *testing.T) {
	p := writePipeline(t, `
stages:
  env:
    cmd: echo "$DATALAB_BIN $DATALAB_STAGE $DATALAB_ATTEMPT $(readlink "$(command -v datalab)")" > env.txt
    outs: [env.txt]
`)
	exe := filepath.Join(t.TempDir(), "datalab")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := testOptions()
	opts.Executable = exe
	mustRun(t, p, nil, opts)
	got, _ := os.ReadFile(filepath.Join(p.Root, "env.txt"))
	if want := exe + " env 1 " + exe + "\n"; string(got) != want {
		t.Errorf("env.txt = %q, want %q", got, want)
	}
}

func TestConcurrentRunIsRefused(t *testing.T) {
	p := writePipeline(t, "stages:\n  a:\n    cmd: \"true\"\n")
	release, err := lockRoot(p.Root)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := p.Run(context.Background(), nil, testOptions()); err == nil || !strings.Contains(err.Error(), "another datalab run") {
		t.Errorf("err = %v", err)
	}
}

func TestGitState(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a\n"), 0o644)
	// An LFS pointer committed, with its real content checked out.
	content := []byte("the real data\n")
	d, _ := hashFileBytes(t, content)
	os.WriteFile(filepath.Join(dir, "big.csv"), []byte("version https://git-lfs.github.com/spec/v1\noid sha256:"+d+"\nsize 14\n"), 0o644)
	wt, _ := repo.Worktree()
	wt.Add("a.txt")
	wt.Add("big.csv")
	hash, err := wt.Commit("init", &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "big.csv"), content, 0o644)
	os.WriteFile(filepath.Join(dir, "untracked.txt"), []byte("u"), 0o644)
	// Both ways to ask (the git command, go-git) must agree.
	both := func() []GitState {
		cli, ok := gitStateCLI(dir)
		if !ok {
			t.Fatal("the git command could not answer")
		}
		return []GitState{cli, gitStateGoGit(dir), GitStateOf(dir)}
	}
	for _, gs := range both() {
		if gs.Commit != hash.String() || gs.Dirty || gs.Error != "" || gs.Branch != "master" {
			t.Errorf("clean tree: %+v (commit %s)", gs, hash)
		}
	}
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("changed\n"), 0o644)
	for _, gs := range both() {
		if !gs.Dirty {
			t.Errorf("modified tree: %+v", gs)
		}
	}
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "new.txt"), []byte("n\n"), 0o644)
	wt.Add("new.txt")
	for _, gs := range both() {
		if !gs.Dirty {
			t.Errorf("staged new file: %+v", gs)
		}
	}
	if gs := GitStateOf(t.TempDir()); gs.Error != "not a git repository" {
		t.Errorf("outside a repository: %+v", gs)
	}
}

func hashFileBytes(t *testing.T, data []byte) (string, int64) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, data, 0o644)
	d, err := hashFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return d.SHA256, d.Size
}

func TestLFSPointerHashesAsItsContent(t *testing.T) {
	content := []byte("date,home,away\n2022-11-20,Qatar,Ecuador\n")
	sha, size := hashFileBytes(t, content)
	pointer := "version https://git-lfs.github.com/spec/v1\noid sha256:" + sha + "\nsize 40\n"
	psha, psize := hashFileBytes(t, []byte(pointer))
	if psha != sha || psize != size {
		t.Errorf("pointer hashes to %s/%d, content to %s/%d", psha, psize, sha, size)
	}
	// What is not a pointer (package lfspointer decides) hashes as its bytes.
	for _, bad := range []string{
		"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 3\n",
		"version https://git-lfs.github.com/spec/v1\noid sha256:" + sha + "\n",
		"oid sha256:" + sha + "\nsize 3\n",
		"version https://git-lfs.github.com/spec/v1\next-0-foo sha256:" + sha + "\noid sha256:" + sha + "\nsize 40\n",
	} {
		sum := sha256.Sum256([]byte(bad))
		if got, size := hashFileBytes(t, []byte(bad)); got != hex.EncodeToString(sum[:]) || size != int64(len(bad)) {
			t.Errorf("%q hashes to %s/%d, not its bytes' sha256", bad, got, size)
		}
	}
	// An empty file is its own pointer, and the oid is its bytes' sha256.
	if got, size := hashFileBytes(t, nil); got != lfspointer.EmptyOid || size != 0 {
		t.Errorf("empty file hashes to %s/%d", got, size)
	}
}

func TestDirectoryDepsHashTheTree(t *testing.T) {
	p := writePipeline(t, `
stages:
  count:
    cmd: ls raw | wc -l > n.txt
    deps: [raw]
    outs: [n.txt]
`)
	raw := filepath.Join(p.Root, "raw")
	os.MkdirAll(filepath.Join(raw, "sub"), 0o755)
	os.WriteFile(filepath.Join(raw, "a.csv"), []byte("1"), 0o644)
	opts := testOptions()
	wantRan(t, mustRun(t, p, nil, opts), "count")
	wantRan(t, mustRun(t, p, nil, opts))
	os.WriteFile(filepath.Join(raw, "sub", "b.csv"), []byte("2"), 0o644)
	wantRan(t, mustRun(t, p, nil, opts), "count")
}

func TestMissingDependencyNamesIt(t *testing.T) {
	p := writePipeline(t, "stages:\n  a:\n    cmd: cat in.txt\n    deps: [in.txt]\n")
	_, err := p.Plan(context.Background(), nil, testOptions())
	if !errors.Is(err, fs.ErrNotExist) && (err == nil || !strings.Contains(err.Error(), "dependency in.txt does not exist")) {
		t.Errorf("plan err = %v", err)
	}
	_, err = p.Run(context.Background(), nil, testOptions())
	if err == nil || !strings.Contains(err.Error(), "dependency in.txt does not exist") {
		t.Errorf("run err = %v", err)
	}
}

func TestUnpulledDataSetSaysPull(t *testing.T) {
	p := writePipeline(t, "stages:\n  a:\n    cmd: cat data/m.csv\n    deps: [data/m.csv]\n")
	os.MkdirAll(filepath.Join(p.Root, "data", "pointers"), 0o755)
	os.WriteFile(filepath.Join(p.Root, "data/pointers/m.csv.pointer"), []byte("version https://git-lfs.github.com/spec/v1\noid sha256:aa60afdb9ba5064d7e5635e22ab2831211b553b7ba6bad60bcc6a87c51615578\nsize 332\n"), 0o644)
	_, err := p.Plan(context.Background(), nil, testOptions())
	if err == nil || !strings.Contains(err.Error(), "run `datalab data pull`") {
		t.Errorf("err = %v", err)
	}
}

// TestGoPackageCode: a pkg: code entry is what the Go package builds — its
// non-test files and the assets beside them (templates/) — so a change to a
// test, to testdata or to a package below it does not rerun the stage, and
// a change to a source file or an embedded asset does.
func TestGoPackageCode(t *testing.T) {
	p := writePipeline(t, `
stages:
  build:
    cmd: cat lib/a.go > out.txt
    code: [pkg:lib]
    outs: [out.txt]
`)
	files := map[string]string{
		"lib/a.go":             "package lib\n",
		"lib/a_test.go":        "package lib\n",
		"lib/testdata/in.txt":  "x\n",
		"lib/templates/t.html": "<p>\n",
		"lib/sub/b.go":         "package sub\n",
	}
	for rel, content := range files {
		testtree.WriteFile(t, filepath.Join(p.Root, rel), content)
	}
	opts := testOptions()
	wantRan(t, mustRun(t, p, nil, opts), "build")
	for _, rel := range []string{"lib/a_test.go", "lib/testdata/in.txt", "lib/sub/b.go"} {
		testtree.WriteFile(t, filepath.Join(p.Root, rel), files[rel]+"// changed\n")
		if rec := mustRun(t, p, nil, opts); rec.Stage("build").Status != "skipped" {
			t.Errorf("a change to %s reran the stage: %+v", rel, rec.Stage("build"))
		}
	}
	for _, rel := range []string{"lib/a.go", "lib/templates/t.html"} {
		testtree.WriteFile(t, filepath.Join(p.Root, rel), files[rel]+"// changed\n")
		rec := mustRun(t, p, nil, opts)
		wantRan(t, rec, "build")
		if r := rec.Stage("build").Reasons; !slices.Equal(r, []string{"code changed: pkg:lib"}) {
			t.Errorf("after a change to %s: reasons %v", rel, r)
		}
	}
	if _, err := Parse([]byte("stages:\n  a:\n    cmd: true\n    code: [pkg:../x]\n"), p.Root); err == nil {
		t.Error("pkg:../x accepted")
	}
}

// TestHashPathMatchesTheLock: HashPath of a stage's output directory, copied
// anywhere, is the digest the lock records for it; a changed byte is not.
func TestHashPathMatchesTheLock(t *testing.T) {
	p := writePipeline(t, `
stages:
  make:
    cmd: mkdir -p out/sub && echo a > out/a.txt && echo b > out/sub/b.txt
    outs: [out]
`)
	wantRan(t, mustRun(t, p, nil, testOptions()), "make")
	lock, err := ReadLock(filepath.Join(p.Root, "datalab.lock"))
	if err != nil {
		t.Fatal(err)
	}
	want := lock.Stages["make"].Outs[0]
	elsewhere := t.TempDir()
	os.MkdirAll(filepath.Join(elsewhere, "copy", "sub"), 0o755)
	os.WriteFile(filepath.Join(elsewhere, "copy", "a.txt"), []byte("a\n"), 0o644)
	os.WriteFile(filepath.Join(elsewhere, "copy", "sub", "b.txt"), []byte("b\n"), 0o644)
	d, err := HashPath(elsewhere, "copy")
	if err != nil || d.SHA256 != want.SHA256 || d.Size != want.Size {
		t.Fatalf("HashPath = %+v, %v; the lock has %+v", d, err, want)
	}
	os.WriteFile(filepath.Join(elsewhere, "copy", "sub", "b.txt"), []byte("c\n"), 0o644)
	if d, _ := HashPath(elsewhere, "copy"); d.SHA256 == want.SHA256 {
		t.Error("a changed file hashes the same")
	}
}
