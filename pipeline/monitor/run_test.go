package monitor

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testtree"
	"github.com/datalabhq/datalab/pipeline/drift"
	"github.com/datalabhq/datalab/pipeline/registry"
)

// fakeSource serves a model named after its directory; its reference and
// current samples are fixed, and it counts the references it builds.
type fakeSource struct {
	served     []Served
	refs       int
	lastData   string
	currentFor string
}

func (f *fakeSource) Served(context.Context, Window) ([]Served, error) { return f.served, nil }
func (f *fakeSource) Load(dir string) (string, error)                  { return filepath.Base(dir), nil }
func (f *fakeSource) Name(m string) string                             { return m }
func (f *fakeSource) DataSets(string, registry.Version) ([]string, error) {
	return []string{"matches"}, nil
}
func (f *fakeSource) Reference(_ context.Context, m string, _ *registry.Version, data string) (drift.Sample, string, error) {
	f.refs++
	f.lastData = data
	return drift.Sample{Columns: []drift.Column{drift.NumericColumn("x", seq(1000, 0))}}, "ref of " + m, nil
}
func (f *fakeSource) Current(_ context.Context, m, version string, _ Window, _ int) (drift.Sample, error) {
	f.currentFor = version
	return drift.Sample{Columns: []drift.Column{drift.NumericColumn("x", seq(1000, 0))}}, nil
}

// fetchingRegistry fetches every version to a directory named after it.
type fetchingRegistry struct{ fakeRegistry }

func (f fetchingRegistry) Fetch(_ context.Context, _, id, cache string) (string, error) {
	return filepath.Join(cache, id), nil
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	testtree.Write(t, root, map[string]string{"data/pointers/matches/m.csv.pointer": "version https://git-lfs.github.com/spec/v1\noid sha256:" + strings.Repeat("1", 64) + "\nsize 1\n"})
	w := Last(time.Hour, time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	base := Config{Model: "matches", Root: root, Window: w, CacheDir: "/cache", LocalModel: "/models/form3"}

	// A local model whose name is the served version.
	src := &fakeSource{served: []Served{{"form3", 1000}}}
	rep, err := Run(ctx, src, base)
	if err != nil || rep.Target.Version != "form3" || rep.Reference != "ref of form3" || rep.Result.Verdict != drift.StatusOK ||
		!strings.Contains(strings.Join(rep.About(), " "), "local directory /models/form3") {
		t.Fatalf("local model: %+v, %v", rep, err)
	}
	// The served version is not the local model's: refused with what to do.
	src.served = []Served{{"0123456789abcdef", 1000}}
	if _, err := Run(ctx, src, base); err == nil || !strings.Contains(err.Error(), "give --model the directory of 0123456789abcdef") {
		t.Errorf("other local model: %v", err)
	}
	// A registry version: fetched, its data checked.
	reg := fetchingRegistry{fakeRegistry{versions: map[string]registry.Version{idA: {ID: idA, Lineage: registry.Lineage{DataOids: map[string]string{"matches/m.csv": strings.Repeat("1", 64)}}}}}}
	c := base
	c.Registry = reg
	src.served = []Served{{idA, 1000}}
	rep, err = Run(ctx, src, c)
	if err != nil || rep.Target.Registered == nil || rep.Reference != "ref of "+idA || src.currentFor != idA ||
		!strings.Contains(strings.Join(rep.Notes, " "), "is what version") {
		t.Fatalf("registry version: %+v, %v", rep, err)
	}
	// Its lineage names other data: refused, unless --reference-data.
	reg.versions[idA] = registry.Version{ID: idA, Lineage: registry.Lineage{DataOids: map[string]string{"matches/m.csv": strings.Repeat("2", 64)}}}
	if _, err := Run(ctx, src, c); err == nil || !strings.Contains(err.Error(), "not what version") {
		t.Errorf("other data: %v", err)
	}
	c.ReferenceData = "/elsewhere/features.parquet"
	rep, err = Run(ctx, src, c)
	if err != nil || src.lastData != c.ReferenceData || !strings.Contains(strings.Join(rep.Notes, " "), "(--reference-data): not checked") {
		t.Errorf("--reference-data: %+v, %v", rep, err)
	}
}

// TestJudgeCachesReference: the dashboard's judge builds a version's
// reference once, and again when the version changes.
func TestJudgeCachesReference(t *testing.T) {
	ctx := context.Background()
	src := &fakeSource{}
	var j Judge[string]
	w := Last(time.Hour, time.Now())
	for _, v := range []string{"v1", "v1", "v2", "v2", "v1"} {
		rep, err := j.Check(ctx, src, "matches", v, v, w, drift.Options{})
		if err != nil || rep.Target.Version != v || src.currentFor != v {
			t.Fatalf("check %s: %+v, %v", v, rep, err)
		}
	}
	if src.refs != 3 {
		t.Errorf("%d references built for v1, v1, v2, v2, v1; want 3", src.refs)
	}
}
