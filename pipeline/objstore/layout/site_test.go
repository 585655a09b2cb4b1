package layout

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/datalabhq/datalab/internal/testtree"
	"github.com/datalabhq/datalab/pipeline/objstore"
	"github.com/datalabhq/datalab/pipeline/objstore/objstoretest"
)

// site writes a report site: files by path relative to reportsDir.
func site(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "reports")
	for rel, body := range files {
		testtree.WriteFile(t, filepath.Join(dir, filepath.FromSlash(rel)), []byte(body))
	}
	return dir
}

// tree reads every file under dir: slash path → content.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !e.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			got[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	return got
}

// TestSiteHistory: two checkouts share one store's site. The first pushes
// its runs, notebooks and index; the second, which has a run of its own and
// a different copy of one of the first's runs, pulls the runs it lacks
// (verified, never overwriting its own copy), leaves the index to be rebuilt,
// and pushes only its new run — the store's copy of the shared run stays.
// Run against the fake S3 and a local directory (the workflow's no-bucket
// history).
func TestSiteHistory(t *testing.T) {
	ctx := context.Background()
	fake := objstoretest.NewS3(t, "lab")
	for name, location := range map[string]string{"s3": fake.URL(), "dir": t.TempDir()} {
		t.Run(name, func(t *testing.T) {
			log := slog.New(slog.DiscardHandler)
			a := site(t, map[string]string{
				"runs/20261201T100000Z-aaaaaa/matches.html":        "<html>run a</html>",
				"runs/20261201T100000Z-aaaaaa/matches.report.json": `{"kind":"matches"}`,
				"runs/20261201T100000Z-aaaaaa/run.json":            `{"id":"20261201T100000Z-aaaaaa"}`,
				"runs/20261202T100000Z-bbbbbb/run.json":            `{"id":"20261202T100000Z-bbbbbb"}`,
				"notebooks/matches-explore.html":                   "<html>nb</html>",
				"index.html":                                       "<html>index of a</html>",
			})
			ra, err := Open(ctx, location, filepath.Dir(a), log)
			if err != nil {
				t.Fatal(err)
			}
			defer ra.Close()
			res, err := ra.PushSite(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"20261201T100000Z-aaaaaa", "20261202T100000Z-bbbbbb"}; !reflect.DeepEqual(res.Pushed, want) {
				t.Errorf("pushed %v, want %v", res.Pushed, want)
			}
			if want := []string{"notebooks/", "index.html"}; !reflect.DeepEqual(res.Pages, want) {
				t.Errorf("pages %v, want %v (directories before the index)", res.Pages, want)
			}
			// Pushing again sends nothing.
			if res, err := ra.PushSite(ctx, a); err != nil || len(res.Pushed)+len(res.Pages) > 0 || res.Same != 2 {
				t.Errorf("second push: %+v, %v", res, err)
			}

			b := site(t, map[string]string{
				"runs/20261203T100000Z-cccccc/run.json": `{"id":"20261203T100000Z-cccccc"}`,
				"runs/20261202T100000Z-bbbbbb/run.json": `{"id":"20261202T100000Z-bbbbbb","edited":true}`,
			})
			rb, err := Open(ctx, location, filepath.Dir(b), log)
			if err != nil {
				t.Fatal(err)
			}
			defer rb.Close()
			res, err = rb.PullSite(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Pulled, []string{"20261201T100000Z-aaaaaa"}) || !reflect.DeepEqual(res.Differ, []string{"20261202T100000Z-bbbbbb"}) ||
				!reflect.DeepEqual(res.Pages, []string{"notebooks/"}) || res.Same != 0 {
				t.Errorf("pull: %+v", res)
			}
			got := tree(t, b)
			want := map[string]string{
				"runs/20261201T100000Z-aaaaaa/matches.html":        "<html>run a</html>",
				"runs/20261201T100000Z-aaaaaa/matches.report.json": `{"kind":"matches"}`,
				"runs/20261201T100000Z-aaaaaa/run.json":            `{"id":"20261201T100000Z-aaaaaa"}`,
				"runs/20261202T100000Z-bbbbbb/run.json":            `{"id":"20261202T100000Z-bbbbbb","edited":true}`, // kept
				"runs/20261203T100000Z-cccccc/run.json":            `{"id":"20261203T100000Z-cccccc"}`,
				"notebooks/matches-explore.html":                   "<html>nb</html>",
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("after pull:\n got %v\nwant %v", got, want)
			}
			testtree.WriteFile(t, filepath.Join(b, "index.html"), []byte("<html>index of a, b and c</html>"))
			res, err = rb.PushSite(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Pushed, []string{"20261203T100000Z-cccccc"}) || !reflect.DeepEqual(res.Differ, []string{"20261202T100000Z-bbbbbb"}) ||
				res.Same != 1 || !reflect.DeepEqual(res.Pages, []string{"index.html"}) {
				t.Errorf("push from b: %+v", res)
			}

			// A third, empty checkout gets every run, each as its maker
			// pushed it.
			c := filepath.Join(t.TempDir(), "reports")
			res, err = rb.PullSite(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Pulled) != 3 {
				t.Errorf("pulled %v, want all three runs", res.Pulled)
			}
			if b, _ := os.ReadFile(filepath.Join(c, "runs/20261202T100000Z-bbbbbb/run.json")); string(b) != `{"id":"20261202T100000Z-bbbbbb"}` {
				t.Errorf("the shared run was overwritten in the store: %s", b)
			}
			if _, err := os.Stat(filepath.Join(c, "index.html")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the index was pulled (it is rebuilt from the runs): %v", err)
			}
		})
	}
}

// TestSitePullRefusesDamage: a run whose object was damaged fails the pull
// naming the key, and leaves no part of that run locally; names under
// site/runs/ that are unsafe or have no manifest are skipped, never written.
func TestSitePullRefusesDamage(t *testing.T) {
	ctx := context.Background()
	fake := objstoretest.NewS3(t, "lab")
	log := slog.New(slog.DiscardHandler)
	a := site(t, map[string]string{"runs/20261201T100000Z-aaaaaa/matches.html": "<html>run a</html>"})
	r, err := Open(ctx, fake.URL(), filepath.Dir(a), log)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.PushSite(ctx, a); err != nil {
		t.Fatal(err)
	}
	s3c := fake.Client(t)
	for key, body := range map[string]string{
		"site/runs/.hidden/" + objstore.ManifestName: `{"schema":1,"files":[]}`,
		"site/runs/partial/matches.html":             "half an upload",
	} {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lab"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}

	dst := filepath.Join(t.TempDir(), "reports")
	res, err := r.PullSite(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Skipped, []string{".hidden", "partial"}) || !reflect.DeepEqual(res.Pulled, []string{"20261201T100000Z-aaaaaa"}) {
		t.Errorf("pull: %+v", res)
	}
	if got := slices.Sorted(maps.Keys(tree(t, dst))); !reflect.DeepEqual(got, []string{"runs/20261201T100000Z-aaaaaa/matches.html"}) {
		t.Errorf("local files %v", got)
	}

	key := "site/runs/20261201T100000Z-aaaaaa/matches.html"
	fake.Replace(t, key, bytes.Replace(fake.Objects(t)[key], []byte("run a"), []byte("run X"), 1))
	dst2 := filepath.Join(t.TempDir(), "reports")
	_, err = r.PullSite(ctx, dst2)
	if err == nil || !errors.Is(err, objstore.ErrCorrupt) || !strings.Contains(err.Error(), key) {
		t.Fatalf("pull of a damaged run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst2, "runs", "20261201T100000Z-aaaaaa")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a damaged run was written locally: %v", err)
	}
}
