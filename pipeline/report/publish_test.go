package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"html"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// publishPipeline is a two-stage pipeline with params of two use cases;
// demo.forest.max_depth is overridden (as datalab run --set does), and so
// is other.seed, which the demo report does not list.
const publishPipeline = `params:
  demo:
    test_year: 2022
    forest: {max_depth: 4, trees: 10}
  other:
    seed: 1
stages:
  evaluate-demo:
    cmd: datalab evaluate demo
    outs: [build/demo/metrics.json]
  report-demo:
    cmd: datalab report demo
    deps: [build/demo/metrics.json]
    outs: [build/demo/report.html]
`

// publishFixture writes the inputs of a use-case report into a temporary
// directory: the pipeline (loaded, with two overrides), a metrics file and a
// data pointer. RepoDir is this package's directory, inside the module's
// git work tree.
func publishFixture(t *testing.T) UseCaseReport {
	t.Helper()
	dir := t.TempDir()
	p, err := stagerun.Parse([]byte(publishPipeline), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Override(map[string]any{"demo.forest.max_depth": 12, "other.seed": 7}); err != nil {
		t.Fatal(err)
	}
	metrics := filepath.Join(dir, "build", "demo", "metrics.json")
	pointer := filepath.Join(dir, "data", "pointers", "demo", "games.csv.pointer")
	for path, content := range map[string]string{
		metrics: `{"accuracy": 0.75}` + "\n",
		pointer: "version https://git-lfs.github.com/spec/v1\noid sha256:" + strings.Repeat("ab", 32) + "\nsize 42\n",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	comps := sampleComparisons(t, []string{"away", "home"}, 200, 1)
	return UseCaseReport{
		Kind:        "demo",
		MetricsPath: metrics,
		RepoDir:     ".",
		Pipeline:    p,
		Pointers:    []string{pointer},
		Params:      UseCaseParams(p, "demo"),
		StableOut:   filepath.Join(dir, "build", "demo", "report.html"),
		ReportsDir:  filepath.Join(dir, "reports"),
		Build: func(l Lineage) (*Report, error) {
			r := New("Demo report")
			r.Lineage(l)
			r.MetricsTable("Hold-out", comps)
			r.Headline(comps[0].Result)
			return r, r.Err()
		},
	}
}

// TestPublishUseCaseReport: the input-determined copy has no run id, commit
// or Go version and the same bytes whatever the run; the run's report goes
// under runs/<run id>/ with its sidecar and full lineage; both list the
// data oids, the use case's parameters and only the overrides of those;
// the index is rebuilt with the stage graph and lists every run.
func TestPublishUseCaseReport(t *testing.T) {
	u := publishFixture(t)
	var stables [][]byte
	for _, runID := range []string{"20261201T101500Z-1a2b3c", "20261202T101500Z-4d5e6f"} {
		u.RunID = runID
		pub, err := u.Publish()
		if err != nil {
			t.Fatal(err)
		}
		want := Published{RunID: runID, RunPath: filepath.Join(u.ReportsDir, "runs", runID, "demo.html"),
			StablePath: u.StableOut, IndexPath: filepath.Join(u.ReportsDir, "index.html")}
		if pub != want {
			t.Fatalf("published %+v, want %+v", pub, want)
		}
		stable, err := os.ReadFile(pub.StablePath)
		if err != nil {
			t.Fatal(err)
		}
		stables = append(stables, stable)
		run, err := os.ReadFile(pub.RunPath)
		if err != nil {
			t.Fatal(err)
		}
		gs := stagerun.GitStateOf(u.RepoDir)
		commit := gs.Commit
		if gs.Error != "" {
			commit = "unknown (" + gs.Error + ")"
		}
		for _, c := range []struct {
			name      string
			page      []byte
			has, lack []string
		}{
			{"stable copy", stable,
				[]string{html.EscapeString(StableCommit), "sha256:" + strings.Repeat("ab", 32), "demo.forest.trees", "demo.test_year", "demo.forest.max_depth = 12"},
				[]string{runID, runtime.Version(), commit, "other.seed", "<dt>Run</dt>", "<dt>Go</dt>"}},
			{"run's report", run,
				[]string{"<dt>Run</dt><dd>" + runID + "</dd>", "<dt>Go</dt><dd>" + runtime.Version() + "</dd>", commit,
					"sha256:" + strings.Repeat("ab", 32), "demo.forest.trees", "demo.test_year", "demo.forest.max_depth = 12"},
				[]string{html.EscapeString(StableCommit), "other.seed"}},
		} {
			for _, s := range c.has {
				if !bytes.Contains(c.page, []byte(s)) {
					t.Errorf("%s of run %s: no %q", c.name, runID, s)
				}
			}
			for _, s := range c.lack {
				if bytes.Contains(c.page, []byte(s)) {
					t.Errorf("%s of run %s: has %q", c.name, runID, s)
				}
			}
		}
		sc, err := ReadSidecar(SidecarPath(pub.RunPath))
		if err != nil || sc.Kind != "demo" || sc.RunID != runID || sc.Commit != commit || sc.Dirty != gs.Dirty || sc.Metrics["accuracy"] == 0 {
			t.Errorf("sidecar of run %s: %+v %v", runID, sc, err)
		}
		if _, err := os.Stat(SidecarPath(pub.StablePath)); !os.IsNotExist(err) {
			t.Errorf("the stable copy has a sidecar (the index would list it): %v", err)
		}
	}
	if !bytes.Equal(stables[0], stables[1]) {
		t.Error("the input-determined copy differs between two runs")
	}

	idx, err := ScanIndex(u.ReportsDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Runs) != 2 || idx.Runs[0].Report("demo") == nil || idx.Runs[1].Report("demo") == nil {
		t.Fatalf("index runs: %+v", idx.Runs)
	}
	page, err := os.ReadFile(filepath.Join(u.ReportsDir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"runs/20261201T101500Z-1a2b3c/demo.html", "runs/20261202T101500Z-4d5e6f/demo.html", "report-demo", "<svg"} {
		if !bytes.Contains(page, []byte(s)) {
			t.Errorf("index.html: no %q", s)
		}
	}
	if _, err := os.Stat(filepath.Join(u.ReportsDir, DAGFile)); err != nil {
		t.Errorf("stage graph: %v", err)
	}
}

// Without a run id the run is named after the metrics: kind + the first 12
// hex digits of their sha256; the same metrics, the same run directory.
func TestPublishRunIDFromMetrics(t *testing.T) {
	u := publishFixture(t)
	b, err := os.ReadFile(u.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	want := "demo-" + hex.EncodeToString(sum[:])[:12]
	if id, err := MetricsRunID(u.Kind, u.MetricsPath); err != nil || id != want {
		t.Fatalf("MetricsRunID = %q, %v, want %q", id, err, want)
	}
	for range 2 {
		pub, err := u.Publish()
		if err != nil {
			t.Fatal(err)
		}
		if pub.RunID != want || pub.RunPath != RunPath(u.ReportsDir, want, "demo") {
			t.Fatalf("published %+v, want run %s", pub, want)
		}
	}
	if entries, err := os.ReadDir(filepath.Join(u.ReportsDir, "runs")); err != nil || len(entries) != 1 {
		t.Fatalf("runs: %v %v", entries, err)
	}
	if _, err := MetricsRunID("demo", filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing metrics file names a run")
	}
	u.RunID, u.MetricsPath = "", filepath.Join(t.TempDir(), "missing.json")
	if _, err := u.Publish(); err == nil {
		t.Error("published without a run id or metrics")
	}
}

// Both copies end with the data-quality section of the ingest outputs.
func TestPublishDataQuality(t *testing.T) {
	out, _ := ingestWithBadRows(t)
	u := publishFixture(t)
	u.RunID, u.IngestOuts = "20261201T101500Z-1a2b3c", []string{out}
	pub, err := u.Publish()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{pub.StablePath, pub.RunPath} {
		page, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(page, []byte("Data quality")) || !bytes.Contains(page, []byte("bts2017")) || !bytes.Contains(page, []byte("wrong_column_count")) {
			t.Errorf("%s: no data-quality section of bts2017", path)
		}
	}
}

// UseCaseParams lists the leaves of one use case's params only.
func TestUseCaseParams(t *testing.T) {
	p, err := stagerun.Parse([]byte(publishPipeline), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got := UseCaseParams(p, "demo")
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, []string{"demo.forest.max_depth", "demo.forest.trees", "demo.test_year"}) || got["demo.test_year"] != 2022 {
		t.Errorf("UseCaseParams(demo) = %v", got)
	}
	if got := UseCaseParams(p, "dem"); len(got) != 0 {
		t.Errorf("a prefix of a use case's name matched: %v", got)
	}
	if got := slices.Sorted(maps.Keys(UseCaseParams(p, "other"))); !slices.Equal(got, []string{"other.seed"}) {
		t.Errorf("UseCaseParams(other) = %v", got)
	}
}
