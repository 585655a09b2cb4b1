package datasets

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/lfspointer"
)

// TestMain silences the per-file "materialised" log lines.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

// cloneDeclarations copies the committed catalog and pointer files (never
// data) into a fresh data directory, as a clean clone has them.
func cloneDeclarations(t *testing.T) string {
	t.Helper()
	src := filepath.Join(testmirror.RepoRoot(), "data")
	dst := filepath.Join(t.TempDir(), "data")
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if e.Name() != CatalogFile && !strings.HasSuffix(e.Name(), PointerSuffix) {
			return nil
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// smallMirror copies the mirror files of one set into a temporary mirror.
func smallMirror(t *testing.T, s *Set) string {
	t.Helper()
	real := testmirror.Dir(t)
	dir := t.TempDir()
	for _, f := range s.Files {
		b, err := os.ReadFile(filepath.Join(real, filepath.FromSlash(f.Mirror)))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, filepath.FromSlash(f.Mirror))
		os.MkdirAll(filepath.Dir(out), 0o755)
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func openClone(t *testing.T) (*Catalog, string) {
	t.Helper()
	testmirror.Dir(t)
	dir := cloneDeclarations(t)
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c, filepath.Join(t.TempDir(), "store")
}

func mustSet(t *testing.T, c *Catalog, name string) *Set {
	t.Helper()
	s, err := c.Set(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func statusOf(t *testing.T, c *Catalog, store string, names ...string) []SetStatus {
	t.Helper()
	st, err := c.Status(context.Background(), names, StatusOptions{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestPullEverySetFromMirror(t *testing.T) {
	c, store := openClone(t)
	mirror := testmirror.Dir(t)
	for _, s := range statusOf(t, c, store) {
		if s.State != StateMissing || s.Missing != s.Files {
			t.Fatalf("clean clone: set %s is %s, want all missing", s.Name, s.Summary())
		}
	}
	res, err := c.Pull(context.Background(), nil, PullOptions{Store: store, Mirror: mirror, NoOrigin: true})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, s := range c.Sets {
		total += len(s.Files)
	}
	if len(res.Files) != total || res.Count(FromMirror)+res.Count(FromEmpty) != total {
		t.Errorf("pulled %d files (%d from mirror, %d empty), want all %d", len(res.Files), res.Count(FromMirror), res.Count(FromEmpty), total)
	}
	for _, s := range statusOf(t, c, store) {
		if s.State != StatePresent || s.Present != s.Files || s.Summary() != "present" {
			t.Errorf("after pull: set %s is %s", s.Name, s.Summary())
		}
		for _, f := range s.Details {
			if !f.InStore {
				t.Errorf("%s not in store after pull", f.WorkingPath)
			}
		}
	}
	// Working files equal the mirror byte for byte.
	flights := mustSet(t, c, "flights3m")
	f := flights.Files[0]
	got, err := HashFile(flights.WorkingPath(f))
	if err != nil || got != f.Pointer || got.Size != 13493022 {
		t.Errorf("flights3m working file: %v %v", got, err)
	}
	empty, err := mustSet(t, c, "spark-rf-2.3-4parts").File("data/_SUCCESS")
	if err != nil || empty.Size != 0 || empty.Oid != lfspointer.EmptyOid {
		t.Errorf("_SUCCESS marker: %+v %v", empty, err)
	}

	// Pulling again touches nothing.
	res, err = c.Pull(context.Background(), nil, PullOptions{Store: store, Mirror: mirror, NoOrigin: true})
	if err != nil || res.Count(FromWorking) != total {
		t.Errorf("second pull: %d of %d already present, err %v", res.Count(FromWorking), total, err)
	}

	// Without working files and without a mirror, the store supplies them.
	if err := os.RemoveAll(mustSet(t, c, "matches").Dir()); err != nil {
		t.Fatal(err)
	}
	res, err = c.Pull(context.Background(), []string{"matches"}, PullOptions{Store: store, NoOrigin: true})
	if err != nil || res.Count(FromStore) != 1 {
		t.Errorf("store pull: %+v, %v", res, err)
	}
}

func TestPullSourceMismatch(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(b []byte) []byte
		gotSize string
	}{
		{"flipped byte", func(b []byte) []byte { b[100] ^= 1; return b }, "(3315 bytes)"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }, "(3314 bytes)"},
		{"appended", func(b []byte) []byte { return append(b, '\n') }, "more than 3315 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, store := openClone(t)
			s := mustSet(t, c, "worldcup2022")
			mirror := smallMirror(t, s)
			f, _ := s.File("2022_world_cup_matches.csv")
			mp := filepath.Join(mirror, filepath.FromSlash(f.Mirror))
			b, _ := os.ReadFile(mp)
			os.WriteFile(mp, tt.tamper(b), 0o644)

			res, err := c.Pull(context.Background(), []string{"worldcup2022"}, PullOptions{Store: store, Mirror: mirror, NoOrigin: true})
			var pe *PullError
			var mm *MismatchError
			if !errors.As(err, &pe) || !errors.As(err, &mm) {
				t.Fatalf("want a PullError with a MismatchError, got %v", err)
			}
			if len(pe.Failures) != 1 || pe.Failures[0].Path != f.Path || len(res.Files) != 1 {
				t.Errorf("failures %+v, pulled %+v: want only the tampered file to fail", pe.Failures, res.Files)
			}
			msg := err.Error()
			for _, want := range []string{s.WorkingPath(f), f.Oid, "3315 bytes", tt.gotSize, "mirror copy differs", "datalab data add"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			if _, err := os.Stat(s.WorkingPath(f)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("tampered bytes reached the working path: %v", err)
			}
			if Store := (Store{Dir: store}); Store.Has(f.Pointer) {
				t.Error("tampered bytes reached the store")
			}
		})
	}
}

func TestModifiedWorkingFile(t *testing.T) {
	c, store := openClone(t)
	s := mustSet(t, c, "worldcup2022")
	mirror := smallMirror(t, s)
	opts := PullOptions{Store: store, Mirror: mirror, NoOrigin: true}
	if _, err := c.Pull(context.Background(), []string{"worldcup2022"}, opts); err != nil {
		t.Fatal(err)
	}
	f, _ := s.File("2022_world_cup_groups.csv")
	wp := s.WorkingPath(f)
	orig, _ := os.ReadFile(wp)
	edited := bytes.Replace(orig, []byte("Qatar"), []byte("Qatan"), 1)
	os.WriteFile(wp, edited, 0o644)

	st := statusOf(t, c, store, "worldcup2022")[0]
	if st.State != StateModified || st.Modified != 1 || st.Summary() != "modified 1/2" {
		t.Fatalf("status %+v", st)
	}
	var detail FileStatus
	for _, d := range st.Details {
		if d.Path == f.Path {
			detail = d
		}
	}
	if detail.State != StateModified || detail.WorkingPath != wp || detail.Actual == nil || detail.Actual.Oid == "" {
		t.Errorf("file status %+v", detail)
	}

	_, err := c.Pull(context.Background(), nil, opts)
	var me *ModifiedError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), wp) {
		t.Fatalf("pull over a modified file: %v", err)
	}
	if b, _ := os.ReadFile(wp); !bytes.Equal(b, edited) {
		t.Error("pull overwrote the user's modified file without --force")
	}
	opts.Force = true
	res, err := c.Pull(context.Background(), []string{"worldcup2022"}, opts)
	if err != nil || res.Count(FromStore) != 1 {
		t.Fatalf("forced pull: %+v %v", res, err)
	}
	if b, _ := os.ReadFile(wp); !bytes.Equal(b, orig) {
		t.Error("forced pull did not restore the declared bytes")
	}
}

func TestPullFromOriginURL(t *testing.T) {
	c, store := openClone(t)
	s := mustSet(t, c, "martj42")
	mirror := smallMirror(t, s) // the server serves the real bytes
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		switch r.URL.Path {
		case "/gone.csv":
			http.NotFound(w, r)
		case "/bad.csv":
			w.Write([]byte("date,home_team\n"))
		default:
			http.ServeFile(w, r, filepath.Join(mirror, filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/"))))
		}
	}))
	defer srv.Close()
	for _, f := range s.Files {
		f.URL = srv.URL + "/" + f.Mirror
	}
	opts := PullOptions{Store: store, HTTPClient: srv.Client()}
	res, err := c.Pull(context.Background(), []string{"martj42"}, opts)
	if err != nil || res.Count(FromURL) != len(s.Files) || hits != len(s.Files) {
		t.Fatalf("URL pull: %+v, %d hits, %v", res, hits, err)
	}
	if st := statusOf(t, c, store, "martj42")[0]; st.State != StatePresent {
		t.Errorf("after URL pull: %s", st.Summary())
	}

	// An origin serving other bytes, or nothing, is reported per file.
	os.RemoveAll(s.Dir())
	os.RemoveAll(store)
	results, _ := s.File("results.csv")
	shootouts, _ := s.File("shootouts.csv")
	results.URL = srv.URL + "/bad.csv"
	shootouts.URL = srv.URL + "/gone.csv"
	_, err = c.Pull(context.Background(), []string{"martj42"}, opts)
	var pe *PullError
	if !errors.As(err, &pe) || len(pe.Failures) != 2 {
		t.Fatalf("want 2 failures, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"origin " + srv.URL + "/bad.csv", "origin serves different bytes", "404", results.Oid} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if !errors.Is(err, ErrNotFound) {
		t.Error("a 404 should wrap ErrNotFound")
	}
}

func TestPullMissingEverywhere(t *testing.T) {
	c, store := openClone(t)
	_, err := c.Pull(context.Background(), []string{"distances", "flights3m"}, PullOptions{Store: store, NoOrigin: true})
	var pe *PullError
	if !errors.As(err, &pe) || len(pe.Failures) != 2 {
		t.Fatalf("want both files to fail, got %v", err)
	}
	for _, want := range []string{"data/distances/origin_dest_distances.jsonl", "data/flights3m/flights-3m.parquet", "DATALAB_MIRROR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%v", want, err)
		}
	}
	// distances has no origin URL: with origin allowed the message says so.
	_, err = c.Pull(context.Background(), []string{"distances"}, PullOptions{Store: store, Mirror: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no origin URL declared") || !strings.Contains(err.Error(), "not found") {
		t.Errorf("no-URL set: %v", err)
	}
	if _, err := c.Pull(context.Background(), []string{"nope"}, PullOptions{}); err == nil || !strings.Contains(err.Error(), "known: bts2008") {
		t.Errorf("unknown set: %v", err)
	}
}

func TestCorruptStoreObjectIsReplaced(t *testing.T) {
	c, store := openClone(t)
	s := mustSet(t, c, "worldcup2022")
	mirror := smallMirror(t, s)
	f, _ := s.File("2022_world_cup_groups.csv")
	obj := Store{Dir: store}.Path(f.Oid)
	os.MkdirAll(filepath.Dir(obj), 0o755)
	os.WriteFile(obj, bytes.Repeat([]byte("x"), int(f.Size)), 0o644) // right size, wrong bytes
	res, err := c.Pull(context.Background(), []string{"worldcup2022"}, PullOptions{Store: store, Mirror: mirror, NoOrigin: true})
	if err != nil || res.Count(FromMirror) != 2 {
		t.Fatalf("pull: %+v %v", res, err)
	}
	if got, _ := HashFile(obj); got != f.Pointer {
		t.Errorf("store object not replaced: %v", got)
	}
}

func TestAdd(t *testing.T) {
	c, store := openClone(t)
	before := mustSet(t, c, "worldcup2022").Digest()
	src := filepath.Join(t.TempDir(), "extra.csv")
	os.WriteFile(src, []byte("team,group\nQatar,A\n"), 0o644)

	set, rel, err := c.Locate(src, "worldcup2022")
	if err != nil || set != "worldcup2022" || rel != "extra.csv" {
		t.Fatalf("Locate: %s %s %v", set, rel, err)
	}
	f, err := c.Add(set, rel, src, AddOptions{Store: store, URL: "https://example.org/extra.csv", Schema: "extra-v1"})
	if err != nil {
		t.Fatal(err)
	}
	s := mustSet(t, c, "worldcup2022")
	ptr, err := os.ReadFile(s.PointerPath(f))
	if err != nil {
		t.Fatal(err)
	}
	want := "version https://git-lfs.github.com/spec/v1\noid sha256:" + f.Oid + "\nsize 19\n"
	if string(ptr) != want {
		t.Errorf("pointer %q, want %q", ptr, want)
	}
	if !(Store{Dir: store}).Has(f.Pointer) {
		t.Error("added file not in store")
	}
	re, err := Open(c.Dir())
	if err != nil {
		t.Fatal(err)
	}
	rs := mustSet(t, re, "worldcup2022")
	if len(rs.Files) != 3 || rs.Files[2].Path != "extra.csv" || rs.Files[2].URL != "https://example.org/extra.csv" || rs.FileSchema(rs.Files[2]) != "extra-v1" || rs.FileFormat(rs.Files[2]) != "csv" {
		t.Errorf("reopened set: %+v", rs.Files)
	}
	if rs.Digest() == before || rs.Oids()["extra.csv"] != f.Oid {
		t.Error("digest/oids do not reflect the added file")
	}
	if st := statusOf(t, re, store, "worldcup2022")[0]; st.Present != 1 || st.Missing != 2 {
		t.Errorf("status after add: %s", st.Summary())
	}

	// Re-adding a changed working file updates the pointer in place.
	wp := rs.WorkingPath(rs.Files[2])
	os.WriteFile(wp, []byte("team,group\nQatar,A\nEcuador,A\n"), 0o644)
	set, rel, err = re.Locate(wp, "")
	if err != nil || set != "worldcup2022" || rel != "extra.csv" {
		t.Fatalf("Locate working path: %s %s %v", set, rel, err)
	}
	f2, err := re.Add(set, rel, wp, AddOptions{Store: store})
	if err != nil || f2.Size != 29 || f2.URL != "https://example.org/extra.csv" {
		t.Fatalf("re-add: %+v %v", f2, err)
	}
	if st := statusOf(t, re, store, "worldcup2022")[0]; st.Modified != 0 || st.Present != 1 {
		t.Errorf("after re-add: %s", st.Summary())
	}
}

func TestAddRejects(t *testing.T) {
	c, store := openClone(t)
	src := filepath.Join(t.TempDir(), "x.csv")
	os.WriteFile(src, []byte("a\n"), 0o644)
	tests := []struct {
		set, rel, want string
	}{
		{"nope", "x.csv", "no data set"},
		{"matches", "../x.csv", "clean path"},
		{"matches", "/x.csv", "relative"},
		{"matches", "x.csv.pointer", "pointer files"},
	}
	for _, tt := range tests {
		if _, err := c.Add(tt.set, tt.rel, src, AddOptions{Store: store}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Add(%s, %s): %v, want %q", tt.set, tt.rel, err, tt.want)
		}
	}
	if _, _, err := c.Locate(src, ""); err == nil || !strings.Contains(err.Error(), "--set") {
		t.Errorf("Locate outside without --set: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "no data catalog") {
		t.Errorf("missing catalog: %v", err)
	}
	tests := []struct{ yaml, want string }{
		{"sets:\n  - name: Bad Name\n    format: csv\n", "lower-case"},
		{"sets:\n  - name: a\n    format: xls\n", "format \"xls\""},
		{"sets:\n  - name: a\n    format: csv\n    files:\n      - path: ../../etc/passwd\n", "clean path"},
		{"sets:\n  - name: a\n    format: csv\n    files:\n      - path: x.csv\n", "pointer file is missing"},
		{"sets:\n  - name: a\n    format: csv\n    colour: red\n", "colour"},
		{"sets:\n  - name: a\n    format: csv\n    files:\n      - path: x.csv\n        url: ftp://x\n", "not http"},
	}
	for _, tt := range tests {
		os.WriteFile(filepath.Join(dir, CatalogFile), []byte(tt.yaml), 0o644)
		if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.yaml, err, tt.want)
		}
	}
}
