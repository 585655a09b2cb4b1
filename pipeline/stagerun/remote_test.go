package stagerun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testtree"
)

// dirRemote is a Remote over a local directory that mirrors the root's
// paths, recording what was pushed and fetched. The bucket implementation
// (objstore/layout) is tested against S3 by cmd/datalab's remote test.
type dirRemote struct {
	dir     string
	pushed  []string
	fetched []string
	runs    []string
	failOn  string // Fetch of this path fails
}

func (d *dirRemote) String() string { return "dir " + d.dir }

func (d *dirRemote) Fetch(ctx context.Context, path string) (bool, error) {
	if path == d.failOn {
		return false, errors.New("checksum mismatch")
	}
	return d.copy(filepath.Join(d.dir, path), filepath.Join(rootOf(ctx), path), &d.fetched, path)
}

func (d *dirRemote) Push(ctx context.Context, path string) error {
	_, err := d.copy(filepath.Join(rootOf(ctx), path), filepath.Join(d.dir, path), &d.pushed, path)
	return err
}

func (d *dirRemote) PushRun(ctx context.Context, dir, id string) error {
	if _, err := os.Stat(filepath.Join(dir, "run.json")); err != nil {
		return err
	}
	d.runs = append(d.runs, id)
	return nil
}

func (d *dirRemote) copy(src, dst string, log *[]string, path string) (bool, error) {
	st, err := os.Stat(src)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	*log = append(*log, path)
	os.RemoveAll(dst)
	if st.IsDir() {
		return true, os.CopyFS(dst, os.DirFS(src))
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return false, err
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	return true, os.WriteFile(dst, b, 0o644)
}

type rootKey struct{}

// rootOf is the pipeline root the test put in the context: Remote methods
// get root-relative paths, as the real implementation is built for one
// root.
func rootOf(ctx context.Context) string { return ctx.Value(rootKey{}).(string) }

const remotePipeline = `
stages:
  ingest:
    cmd: mkdir -p data/s out && printf 'a,b\n1,2\n' > data/s/f.csv && cp data/s/f.csv out/rows.csv && echo ran >> ../ingest.count
    deps: [data/pointers/s/f.csv.pointer]
    outs: [out]
  count:
    cmd: wc -l < out/rows.csv > count.txt
    deps: [out]
    outs: [count.txt]
  use-data:
    cmd: cp data/s/f.csv copy.csv
    deps: [data/s/f.csv]
    outs: [copy.csv]
`

// remoteRoot writes the pipeline and the pointer of data/s/f.csv (and the
// lock, when given) into a fresh directory.
func remoteRoot(t *testing.T, lock []byte) *Pipeline {
	t.Helper()
	p := writePipeline(t, remotePipeline)
	data := "a,b\n1,2\n"
	sum := sha256.Sum256([]byte(data))
	ptr := fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", hex.EncodeToString(sum[:]), len(data))
	testtree.WriteFile(t, filepath.Join(p.Root, "data/pointers/s/f.csv.pointer"), ptr)
	if lock != nil {
		testtree.WriteFile(t, p.LockPath(), string(lock))
	}
	return p
}

// TestRemotePushAndFetch runs a pipeline with a remote, then runs it again
// in a second root holding only the pipeline, pointer and lock: the up to
// date stages fetch their outs instead of running, and a dependency missing
// locally is fetched.
func TestRemotePushAndFetch(t *testing.T) {
	rem := &dirRemote{dir: t.TempDir()}
	p1 := remoteRoot(t, nil)
	opts := testOptions()
	opts.Remote = rem
	ctx := context.WithValue(context.Background(), rootKey{}, p1.Root)
	rec, err := p1.Run(ctx, []string{"count"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	wantRan(t, rec, "ingest", "count")
	// The data file behind the pointer dependency, and every out.
	if want := []string{"data/s/f.csv", "out", "count.txt"}; !slices.Equal(rem.pushed, want) {
		t.Fatalf("pushed %v, want %v", rem.pushed, want)
	}
	if !slices.Equal(rem.runs, []string{rec.ID}) || rec.Remote != rem.String() {
		t.Fatalf("run record pushed %v, record remote %q", rem.runs, rec.Remote)
	}

	// A second machine: same pipeline and lock, nothing built.
	lock, err := os.ReadFile(p1.LockPath())
	if err != nil {
		t.Fatal(err)
	}
	p2 := remoteRoot(t, lock)
	rem.pushed = nil
	ctx2 := context.WithValue(context.Background(), rootKey{}, p2.Root)
	rec, err = p2.Run(ctx2, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	// ingest and count are fetched; use-data is new, and its dependency
	// data/s/f.csv (not materialised here) comes from the remote.
	wantRan(t, rec, "use-data")
	for name, want := range map[string][]string{"ingest": {"out"}, "count": {"count.txt"}, "use-data": {"data/s/f.csv"}} {
		if got := rec.Stage(name).Fetched; !slices.Equal(got, want) {
			t.Errorf("stage %s fetched %v, want %v", name, got, want)
		}
	}
	if rec.Stage("ingest").Status != StatusSkipped {
		t.Fatalf("ingest: %s", rec.Stage("ingest").Status)
	}
	if b, _ := os.ReadFile(filepath.Join(p2.Root, "count.txt")); strings.TrimSpace(string(b)) != "2" {
		t.Fatalf("fetched count.txt = %q", b)
	}
	// Every root is a t.TempDir of this test, so they share the parent
	// the ingest command counts its runs in.
	if b, _ := os.ReadFile(filepath.Join(filepath.Dir(p2.Root), "ingest.count")); string(b) != "ran\n" {
		t.Fatalf("ingest ran %d times, want once", strings.Count(string(b), "ran"))
	}
	// Fetched outs are not pushed back; use-data's out and the fetched data
	// file (it matches its pointer) are.
	if want := []string{"data/s/f.csv", "copy.csv"}; !slices.Equal(rem.pushed, want) {
		t.Fatalf("second run pushed %v, want %v", rem.pushed, want)
	}
}

// TestRemoteVersionMismatch: outs on the remote that do not hash to the
// lock (another version) make the stage run; a remote whose copy of a data
// file differs from its pointer, or a failing fetch, fail the run.
func TestRemoteVersionMismatch(t *testing.T) {
	rem := &dirRemote{dir: t.TempDir()}
	p1 := remoteRoot(t, nil)
	opts := testOptions()
	opts.Remote = rem
	ctx := context.WithValue(context.Background(), rootKey{}, p1.Root)
	if _, err := p1.Run(ctx, nil, opts); err != nil {
		t.Fatal(err)
	}
	lock, _ := os.ReadFile(p1.LockPath())

	testtree.WriteFile(t, filepath.Join(rem.dir, "count.txt"), "99\n")
	p2 := remoteRoot(t, lock)
	ctx2 := context.WithValue(context.Background(), rootKey{}, p2.Root)
	rec, err := p2.Run(ctx2, []string{"count"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	wantRan(t, rec, "count")
	if r := rec.Stage("count").Reasons; len(r) != 1 || r[0] != "outs changed since last run: count.txt" {
		t.Fatalf("reasons %v", r)
	}

	testtree.WriteFile(t, filepath.Join(rem.dir, "data/s/f.csv"), "a,b\n1,3\n")
	p3 := remoteRoot(t, lock)
	ctx3 := context.WithValue(context.Background(), rootKey{}, p3.Root)
	_, err = p3.Run(ctx3, []string{"use-data"}, opts)
	if !errors.Is(err, ErrRemote) || !strings.Contains(err.Error(), "declares") {
		t.Fatalf("data file differing from its pointer: %v", err)
	}
	if _, err := os.Stat(filepath.Join(p3.Root, "data/s/f.csv")); err == nil {
		t.Fatal("a data file that does not match its pointer was left in place")
	}

	rem.failOn = "out"
	p4 := remoteRoot(t, lock)
	ctx4 := context.WithValue(context.Background(), rootKey{}, p4.Root)
	rec, err = p4.Run(ctx4, []string{"count"}, opts)
	if !errors.Is(err, ErrRemote) || rec.Stage("ingest").Status != StatusFailed {
		t.Fatalf("failing fetch: err %v, ingest %s", err, rec.Stage("ingest").Status)
	}
}
