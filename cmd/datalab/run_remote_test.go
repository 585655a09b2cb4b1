package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/internal/testtree"
	"github.com/datalabhq/datalab/pipeline/lfspointer"
	"github.com/datalabhq/datalab/pipeline/objstore"
	"github.com/datalabhq/datalab/pipeline/objstore/layout"
	"github.com/datalabhq/datalab/pipeline/objstore/objstoretest"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// remoteStages are the cheapest stages that touch every kind of artifact:
// pulled raw data, Parquet, other build outputs and model directories.
var remoteStages = []string{"ingest-matches", "features-matches", "train-matches"}

// TestRunRemoteS3 runs the match pipeline with --remote pointing at an
// in-process S3 (gofakes3 over HTTP on loopback), checks the bucket holds the
// seed's layout with the bytes of the local files, then runs the same
// stages in a second clean copy with an empty build/: every stage is up to
// date by the lock, so its outs are fetched from the bucket, verified, and
// nothing is recomputed. A damaged object makes a third copy fail loudly.
func TestRunRemoteS3(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end run on real data")
	}
	mirror := testmirror.Dir(t)
	fake, awsEnv := objstoretest.NewS3Env(t, "lab")
	bin := buildDatalab(t)
	dir := checkout(t)
	// Whatever PySpark job files the tree holds go to scripts/;
	// one more makes sure the check below is never vacuous.
	job := filepath.Join(dir, filepath.FromSlash(layout.SparkJobDir), "remote_test_job.py")
	testtree.WriteFile(t, job, "# written by cmd/datalab/run_remote_test.go\nprint('spark')\n")
	env := append(awsEnv, "DATALAB_MIRROR="+mirror, "DATALAB_STORE=", "DATALAB_RETRIES=0", "DATALAB_REMOTE=")

	args := append([]string{"run", "--remote", fake.URL()}, remoteStages...)
	out, code := datalabCmd(t, bin, dir, env, args...)
	if code != 0 {
		t.Fatalf("run --remote exit %d:\n%s", code, out)
	}
	t.Logf("first copy:\n%s", out)
	runID := runIDOf(t, out)
	objs := fake.Objects(t)

	// Every key is in one of the layout's prefixes.
	for key := range objs {
		if !slices.ContainsFunc([]string{"raw/", "parquet/", "models/", "build/", "logs/", "scripts/", "site/"}, func(p string) bool { return strings.HasPrefix(key, p) }) {
			t.Errorf("key %s is outside the layout", key)
		}
	}
	// Each local artifact is in the bucket under its layout key, byte for
	// byte (compared by sha256 so failures stay readable).
	want := map[string]string{
		"data/matches/international_matches.csv":      "raw/matches/international_matches.csv",
		"data/worldcup2022/2022_world_cup_groups.csv": "raw/worldcup2022/2022_world_cup_groups.csv",
		"build/parquet/matches.parquet":               "parquet/matches.parquet",
		"build/parquet/matches.quarantine.jsonl":      "parquet/matches.quarantine.jsonl",
		"build/matches/lookup.json":                   "build/matches/lookup.json",
		"build/matches/features.parquet":              "build/matches/features.parquet",
		"runs/" + runID + "/run.json":                 "logs/" + runID + "/run.json",
		"datalab.yaml":                                "scripts/datalab.yaml",
	}
	for _, stage := range remoteStages {
		want["runs/"+runID+"/"+stage+".log"] = "logs/" + runID + "/" + stage + ".log"
	}
	for _, dirRel := range []string{"build/models/matches", "flights/sparkjob"} {
		root := filepath.Join(dir, filepath.FromSlash(dirRel))
		filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || (dirRel == "flights/sparkjob" && filepath.Ext(p) != ".py") {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			rel = filepath.ToSlash(rel)
			want[rel] = strings.Replace(strings.Replace(rel, "build/models/", "models/", 1), "flights/sparkjob/", "scripts/", 1)
			return nil
		})
	}
	if _, ok := want["flights/sparkjob/remote_test_job.py"]; !ok {
		t.Fatal("the test's job file was not listed")
	}
	for rel, key := range want {
		local, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			t.Errorf("local %s: %v", rel, err)
			continue
		}
		got, ok := objs[key]
		if !ok {
			t.Errorf("%s is not in the bucket (expected at %s)", rel, key)
			continue
		}
		if hexSHA256(got) != hexSHA256(local) {
			t.Errorf("%s: bucket sha256 %s, local %s", key, hexSHA256(got), hexSHA256(local))
		}
	}
	if _, ok := objs["models/matches/"+objstore.ManifestName]; !ok {
		t.Error("models/matches has no manifest")
	}
	// The stored sha256 metadata is what S3 serves for the object.
	head, err := fake.Client(t).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("lab"), Key: aws.String("parquet/matches.parquet")})
	if err != nil {
		t.Fatal(err)
	}
	if head.Metadata["sha256"] != hexSHA256(objs["parquet/matches.parquet"]) {
		t.Errorf("x-amz-meta-sha256 %q differs from the object's sha256", head.Metadata["sha256"])
	}
	// The raw files are the declared data: their sha256 is the pointer oid.
	for _, name := range []string{"matches/international_matches.csv", "worldcup2022/2022_world_cup_groups.csv"} {
		ptr, _ := os.ReadFile(filepath.Join(dir, "data", "pointers", filepath.FromSlash(name)+".pointer"))
		p, err := lfspointer.Decode(ptr)
		if err != nil || hexSHA256(objs["raw/"+name]) != p.Oid {
			t.Errorf("raw/%s does not match its pointer oid %s (%v)", name, p.Oid, err)
		}
	}
	script := string(objs["scripts/pipeline.sh"])
	for _, cmd := range []string{"datalab data pull matches && datalab ingest matches", "datalab features matches", "datalab train matches"} {
		if !strings.Contains(script, cmd) {
			t.Errorf("scripts/pipeline.sh lacks %q:\n%s", cmd, script)
		}
	}
	var rec stagerun.RunRecord
	if err := json.Unmarshal(objs["logs/"+runID+"/run.json"], &rec); err != nil || rec.Remote != fake.URL() || rec.Status != "ok" {
		t.Fatalf("stored run record: remote %q status %q err %v", rec.Remote, rec.Status, err)
	}

	// A second clean copy with the lock of the first (as committed) and an
	// empty build/: the same stages are fetched, not run. DATALAB_REMOTE
	// names the bucket this time.
	dir2 := cleanCopy(t, dir)
	env2 := append(slices.Clone(env[:len(env)-1]), "DATALAB_REMOTE="+fake.URL())
	out, code = datalabCmd(t, bin, dir2, env2, append([]string{"run"}, remoteStages...)...)
	if code != 0 {
		t.Fatalf("second copy run exit %d:\n%s", code, out)
	}
	t.Logf("second copy:\n%s", out)
	if strings.Contains(out, "  ran ") {
		t.Fatalf("second copy recomputed a stage instead of fetching it:\n%s", out)
	}
	for _, stage := range remoteStages {
		if !regexp.MustCompile(`skipped +` + stage + ` \(fetched from remote: `).MatchString(out) {
			t.Errorf("stage %s not reported as fetched:\n%s", stage, out)
		}
	}
	for rel := range want {
		if !strings.HasPrefix(rel, "build/") {
			continue
		}
		a, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		b, err := os.ReadFile(filepath.Join(dir2, filepath.FromSlash(rel)))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("fetched %s differs from the first copy's (err %v)", rel, err)
		}
	}
	// Nothing needed the raw data: the fetched stages did not pull it.
	if _, err := os.Stat(filepath.Join(dir2, "data", "matches", "international_matches.csv")); err == nil {
		t.Error("the second copy materialised raw data it did not need")
	}
	run2 := runIDOf(t, out)
	if _, ok := fake.Objects(t)["logs/"+run2+"/run.json"]; !ok {
		t.Errorf("second run's record logs/%s/run.json not in the bucket", run2)
	}

	// A damaged object: the third copy's fetch fails loudly, naming the
	// key, and leaves no file behind.
	parquet := objs["parquet/matches.parquet"]
	damaged := bytes.Clone(parquet)
	damaged[len(damaged)/2] ^= 0xff
	fake.Replace(t, "parquet/matches.parquet", damaged)
	dir3 := cleanCopy(t, dir)
	out, code = datalabCmd(t, bin, dir3, env2, append([]string{"run"}, remoteStages...)...)
	t.Logf("third copy, damaged object:\n%s", out)
	if code == 0 || !strings.Contains(out, "parquet/matches.parquet") || !strings.Contains(out, "sha256") {
		t.Fatalf("run over a damaged object should fail naming it (exit %d):\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir3, "build", "parquet", "matches.parquet")); err == nil {
		t.Error("a damaged object was written to build/")
	}
}

// TestSiteHistoryS3 is CI's history on a bucket: two pipeline invocations
// from two clean clones of the same commit, with different --set values,
// against one S3 bucket (gofakes3 over HTTP). The second clone has the lock
// the first run wrote (as committed after it). The second invocation
// fetches every stage the override does not change instead of running it,
// merges the first run's reports from the bucket's site/ before its report
// stage rebuilds the index, and pushes the merged site: the index — in the
// second clone and in the bucket — lists both runs and links their diff
// page. A third, empty site pulls both runs with datalab report sync.
func TestSiteHistoryS3(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end run on real data")
	}
	mirror := testmirror.Dir(t)
	fake, awsEnv := objstoretest.NewS3Env(t, "lab")
	bin := buildDatalab(t)
	env := append(awsEnv, "DATALAB_MIRROR="+mirror, "DATALAB_STORE=", "DATALAB_RETRIES=0", "DATALAB_REMOTE=", "DATALAB_SET=")
	invoke := func(dir, depth string) string {
		t.Helper()
		out, code := datalabCmd(t, bin, dir, env, "run", "report-matches", "--remote", fake.URL(),
			"--set", "matches.forests.default.max_depth="+depth)
		if code != 0 {
			t.Fatalf("run --set max_depth=%s exit %d:\n%s", depth, code, out)
		}
		return runIDOf(t, out)
	}
	dir1 := cloneHead(t)
	run1 := invoke(dir1, "6")
	dir2 := cloneHead(t)
	lock, err := os.ReadFile(filepath.Join(dir1, "datalab.lock"))
	if err != nil {
		t.Fatal(err)
	}
	testtree.WriteFile(t, filepath.Join(dir2, "datalab.lock"), string(lock))
	run2 := invoke(dir2, "10")

	// The second run ran what max_depth changes and fetched the rest.
	var rec stagerun.RunRecord
	b, err := os.ReadFile(filepath.Join(dir2, "runs", run2, "run.json"))
	if err != nil || json.Unmarshal(b, &rec) != nil {
		t.Fatalf("second run's record: %v", err)
	}
	changed := []string{"train-matches", "evaluate-matches", "report-matches"}
	var fetched []string
	for _, s := range rec.Stages {
		switch {
		case slices.Contains(changed, s.Name) && s.Status != stagerun.StatusRan:
			t.Errorf("%s: status %s, want ran (its params changed)", s.Name, s.Status)
		case !slices.Contains(changed, s.Name) && (s.Status != stagerun.StatusSkipped || len(s.Fetched) == 0):
			t.Errorf("%s: status %s, fetched %v; want skipped with its outs fetched from the bucket", s.Name, s.Status, s.Fetched)
		case !slices.Contains(changed, s.Name):
			fetched = append(fetched, s.Name)
		}
	}
	if want := []string{"ingest-matches", "ingest-martj42", "features-matches"}; !reflect.DeepEqual(fetched, want) {
		t.Errorf("fetched stages %v, want %v", fetched, want)
	}
	if v, ok := rec.Overrides["matches.forests.default.max_depth"]; !ok || fmt.Sprint(v) != "10" {
		t.Errorf("second run's overrides %v", rec.Overrides)
	}

	// Both indexes list both runs and link the pair's diff page, which is
	// there beside them; the bucket holds both runs' reports and records.
	objs := fake.Objects(t)
	diff := "diffs/" + run1 + ".." + run2 + ".html"
	local, err := os.ReadFile(filepath.Join(dir2, "reports", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for where, index := range map[string]string{"second clone": string(local), "bucket": string(objs["site/index.html"])} {
		for _, want := range []string{run1, run2, `href="` + diff} {
			if !strings.Contains(index, want) {
				t.Errorf("%s: index.html lacks %q", where, want)
			}
		}
	}
	page, err := os.ReadFile(filepath.Join(dir2, "reports", filepath.FromSlash(diff)))
	if err != nil {
		t.Fatalf("diff page: %v", err)
	}
	if !bytes.Equal(objs["site/"+diff], page) {
		t.Errorf("site/%s is not the second clone's diff page", diff)
	}
	for _, want := range []string{run1, run2, "max_depth"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("diff page lacks %q", want)
		}
	}
	for _, id := range []string{run1, run2} {
		for _, f := range []string{"matches.html", "run.json"} {
			if _, ok := objs["site/runs/"+id+"/"+f]; !ok {
				t.Errorf("site/runs/%s/%s is not in the bucket", id, f)
			}
		}
	}
	if !bytes.Equal(objs["site/runs/"+run1+"/matches.html"], mustRead(t, filepath.Join(dir1, "reports", "runs", run1, "matches.html"))) {
		t.Error("the first run's report in the bucket is not the one its clone wrote")
	}

	// A third, empty site: report sync --pull-only fetches both runs and
	// builds an index listing them.
	third := filepath.Join(t.TempDir(), "reports")
	out, code := datalabCmd(t, bin, t.TempDir(), env, "report", "sync", "--remote", fake.URL(), "--reports-dir", third, "--pull-only")
	if code != 0 || !strings.Contains(out, "site: pulled 2 runs") {
		t.Fatalf("report sync --pull-only exit %d:\n%s", code, out)
	}
	index := string(mustRead(t, filepath.Join(third, "index.html")))
	for _, want := range []string{run1, run2, `href="` + diff} {
		if !strings.Contains(index, want) {
			t.Errorf("third site's index lacks %q", want)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cleanCopy copies the source files of a used checkout — what a clone
// holds, including its datalab.lock — leaving out build outputs, runs,
// materialised data and the local object store. Copying the same tree
// (rather than the live repository again) keeps the stage keys equal even
// when the repository changes meanwhile.
func cleanCopy(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		rel = filepath.ToSlash(rel)
		generated := rel == "build" || rel == "runs" || rel == ".datalab" || rel == "reports/runs" ||
			(strings.HasPrefix(rel, "data/") && !strings.HasPrefix(rel, "data/pointers") && rel != "data/catalog.yaml" && rel != "data/README.md" && !e.IsDir())
		switch {
		case generated && e.IsDir():
			return filepath.SkipDir
		case generated || e.IsDir():
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		testtree.WriteFile(t, filepath.Join(dst, filepath.FromSlash(rel)), string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

var runIDLine = regexp.MustCompile(`(?m)^run (\d{8}T\d{6}Z-[0-9a-f]{6}): `)

// runIDOf finds the run id in `datalab run`'s summary.
func runIDOf(t *testing.T, out string) string {
	t.Helper()
	m := runIDLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no run id in output:\n%s", out)
	}
	return m[1]
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
