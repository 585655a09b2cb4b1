package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/datalabhq/datalab/internal/testtree"
	"github.com/datalabhq/datalab/pipeline/objstore/objstoretest"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func open(t *testing.T, location string) *Store {
	t.Helper()
	s, err := Open(context.Background(), location)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestFileRoundTripS3 uploads a file big enough for a multipart upload to
// the fake S3 over HTTP, checks what the S3 API returns for it, and
// downloads it again.
func TestFileRoundTripS3(t *testing.T) {
	ctx := context.Background()
	fake := objstoretest.NewS3(t, "lab")
	s := open(t, fake.URL())
	dir := t.TempDir()
	// Above the AWS SDK transfer manager's 16 MiB multipart threshold (8 MiB
	// parts), so the upload is a multipart one.
	data := randomBytes(17<<20+17, 1)
	src := filepath.Join(dir, "in", "matches.parquet")
	testtree.WriteFile(t, src, data)

	obj, sent, err := s.Upload(ctx, "parquet/matches.parquet", src)
	if err != nil || !sent {
		t.Fatalf("upload: sent=%v err=%v", sent, err)
	}
	if obj.SHA256 != sha(data) || obj.Size != int64(len(data)) {
		t.Fatalf("upload returned %+v", obj)
	}
	if n := fake.UploadParts(); n < 2 {
		t.Fatalf("%d UploadPart requests, want a multipart upload", n)
	}
	// What S3 itself holds: bytes and the sha256 metadata header.
	got := fake.Objects(t)["parquet/matches.parquet"]
	if !bytes.Equal(got, data) {
		t.Fatalf("S3 holds %d bytes (sha256 %s), want %d (%s)", len(got), sha(got), len(data), sha(data))
	}
	head, err := fake.Client(t).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("lab"), Key: aws.String("parquet/matches.parquet")})
	if err != nil {
		t.Fatal(err)
	}
	if head.Metadata["sha256"] != sha(data) {
		t.Fatalf("x-amz-meta-sha256 = %q, want %s", head.Metadata["sha256"], sha(data))
	}

	dst := filepath.Join(dir, "out", "m.parquet")
	if _, err := s.Download(ctx, "parquet/matches.parquet", dst, ""); err != nil {
		t.Fatal(err)
	}
	back, _ := os.ReadFile(dst)
	if !bytes.Equal(back, data) {
		t.Fatal("downloaded bytes differ")
	}

	// The same bytes again: nothing is sent.
	if _, sent, err := s.Upload(ctx, "parquet/matches.parquet", src); err != nil || sent {
		t.Fatalf("second upload: sent=%v err=%v, want nothing sent", sent, err)
	}
	// Changed bytes are sent.
	testtree.WriteFile(t, src, data[:1000])
	if _, sent, err := s.Upload(ctx, "parquet/matches.parquet", src); err != nil || !sent {
		t.Fatalf("upload after change: sent=%v err=%v", sent, err)
	}
	if got := fake.Objects(t)["parquet/matches.parquet"]; !bytes.Equal(got, data[:1000]) {
		t.Fatalf("S3 holds %d bytes after the change, want 1000", len(got))
	}
}

// stores opens the same kinds of location `datalab run --remote` takes.
func stores(t *testing.T) map[string]*Store {
	fake := objstoretest.NewS3(t, "lab")
	local := filepath.Join(t.TempDir(), "bucket")
	fileDir := t.TempDir()
	return map[string]*Store{
		"s3":        open(t, fake.URL()),
		"s3-prefix": open(t, strings.Replace(fake.URL(), "s3://lab?", "s3://lab/team/a?", 1)),
		"path":      open(t, local),
		"file-url":  open(t, "file://"+filepath.ToSlash(fileDir)),
	}
}

func equalTrees(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected file %s", k)
		}
	}
}

// TestDirRoundTrip stores a model-like directory, reads it back, then
// stores a changed version: only changed files are sent, files gone from
// the directory are deleted from the store, and a download replaces the
// local directory with exactly the new version.
func TestDirRoundTrip(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "form3")
			want := map[string]string{
				"metadata/part-00000":                   `{"class":"org.apache.spark.ml.PipelineModel"}`,
				"metadata/_SUCCESS":                     "",
				"stages/0_rfc/data/part-00000.parquet":  string(randomBytes(70_000, 2)),
				"stages/0_rfc/treesMetadata/part-00000": "trees",
				"lookup.json":                           `{"teams":[]}`,
			}
			for rel, c := range want {
				testtree.WriteFile(t, filepath.Join(src, rel), []byte(c))
			}
			m, sent, err := s.UploadDir(ctx, "models/matches/form3", src)
			if err != nil {
				t.Fatal(err)
			}
			if sent != len(want) || len(m.Files) != len(want) {
				t.Fatalf("sent %d, manifest %d files, want %d", sent, len(m.Files), len(want))
			}
			if k, err := s.Lookup(ctx, "models/matches/form3"); err != nil || k != Dir {
				t.Fatalf("lookup dir = %v, %v", k, err)
			}
			if k, err := s.Lookup(ctx, "models/matches/form3/lookup.json"); err != nil || k != File {
				t.Fatalf("lookup file = %v, %v", k, err)
			}
			if k, err := s.Lookup(ctx, "models/matches/seed"); err != nil || k != Missing {
				t.Fatalf("lookup missing = %v, %v", k, err)
			}

			dst := filepath.Join(t.TempDir(), "build", "models", "form3")
			if _, err := s.DownloadDir(ctx, "models/matches/form3", dst); err != nil {
				t.Fatal(err)
			}
			equalTrees(t, testtree.Read(t, dst), want)

			// Unchanged: nothing sent.
			if _, sent, err := s.UploadDir(ctx, "models/matches/form3", src); err != nil || sent != 0 {
				t.Fatalf("unchanged upload sent %d files, err %v", sent, err)
			}

			// Change one file, remove one, add one.
			os.Remove(filepath.Join(src, "stages/0_rfc/treesMetadata/part-00000"))
			delete(want, "stages/0_rfc/treesMetadata/part-00000")
			want["lookup.json"] = `{"teams":["ARG"]}`
			want["stages/1_idx/metadata/part-00000"] = "idx"
			for _, rel := range []string{"lookup.json", "stages/1_idx/metadata/part-00000"} {
				testtree.WriteFile(t, filepath.Join(src, rel), []byte(want[rel]))
			}
			if _, sent, err := s.UploadDir(ctx, "models/matches/form3", src); err != nil || sent != 2 {
				t.Fatalf("changed upload sent %d files (want 2), err %v", sent, err)
			}
			objs, err := s.List(ctx, "models/matches/form3/")
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, o := range objs {
				keys = append(keys, strings.TrimPrefix(o.Key, "models/matches/form3/"))
			}
			wantKeys := []string{ManifestName}
			for rel := range want {
				wantKeys = append(wantKeys, rel)
			}
			slices.Sort(wantKeys)
			if !slices.Equal(keys, wantKeys) {
				t.Fatalf("stored keys %v, want %v", keys, wantKeys)
			}
			if _, err := s.DownloadDir(ctx, "models/matches/form3", dst); err != nil {
				t.Fatal(err)
			}
			equalTrees(t, testtree.Read(t, dst), want)
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".form3*")); len(left) > 0 {
				t.Fatalf("temporary directories left behind: %v", left)
			}
		})
	}
}

// TestPrefixInPath checks that s3://bucket/path puts keys under path/.
func TestPrefixInPath(t *testing.T) {
	ctx := context.Background()
	fake := objstoretest.NewS3(t, "lab")
	s := open(t, strings.Replace(fake.URL(), "s3://lab?", "s3://lab/team/a/?", 1))
	if _, err := s.Put(ctx, "logs/x/run.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if keys := fake.Keys(t); !slices.Equal(keys, []string{"team/a/logs/x/run.json"}) {
		t.Fatalf("keys %v", keys)
	}
}

// TestCorruptObjectFails damages stored objects behind the API's back (same
// metadata, other bytes): every download fails with ErrCorrupt and writes
// nothing.
func TestCorruptObjectFails(t *testing.T) {
	ctx := context.Background()
	fake := objstoretest.NewS3(t, "lab")
	s := open(t, fake.URL())
	dir := t.TempDir()
	data := []byte("date,home_team,away_team\n2022-11-20,Qatar,Ecuador\n")
	testtree.WriteFile(t, filepath.Join(dir, "a.csv"), data)
	if _, _, err := s.Upload(ctx, "raw/matches/a.csv", filepath.Join(dir, "a.csv")); err != nil {
		t.Fatal(err)
	}

	flipped := bytes.Clone(data)
	flipped[10] ^= 1
	for name, content := range map[string][]byte{"same size": flipped, "truncated": data[:20], "longer": append(bytes.Clone(data), '\n')} {
		for how, damage := range map[string]func(testing.TB, string, []byte){"rewritten": fake.Replace, "bit rot": fake.Corrupt} {
			t.Run(name+"/"+how, func(t *testing.T) {
				damage(t, "raw/matches/a.csv", content)
				dst := filepath.Join(t.TempDir(), "a.csv")
				_, err := s.Download(ctx, "raw/matches/a.csv", dst, "")
				var ce *ChecksumError
				if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
					t.Fatalf("download of a corrupt object: err = %v, want ErrCorrupt", err)
				}
				if ce.Key != "raw/matches/a.csv" || !strings.Contains(err.Error(), "upload it again") {
					t.Fatalf("error does not name the key and the fix: %v", err)
				}
				if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("corrupt download left %s", dst)
				}
				if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".a.csv*")); len(left) > 0 {
					t.Fatalf("temporary files left: %v", left)
				}
				if how == "rewritten" && ce.Client != "" {
					t.Fatalf("rewritten object caught by the client, not by the sha256 check: %v", err)
				}
			})
		}
	}

	// A corrupt file inside a directory fails the whole directory and
	// leaves the local copy as it was.
	src := filepath.Join(dir, "model")
	testtree.WriteFile(t, filepath.Join(src, "metadata/part-00000"), []byte("meta v1"))
	testtree.WriteFile(t, filepath.Join(src, "data/part-00000"), []byte("data v1"))
	if _, _, err := s.UploadDir(ctx, "models/m", src); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(dir, "local-model")
	if _, err := s.DownloadDir(ctx, "models/m", local); err != nil {
		t.Fatal(err)
	}
	before := testtree.Read(t, local)
	fake.Replace(t, "models/m/data/part-00000", []byte("data v2"))
	if _, err := s.DownloadDir(ctx, "models/m", local); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("directory with a corrupt file: err = %v, want ErrCorrupt", err)
	}
	equalTrees(t, testtree.Read(t, local), before)
}

// TestMissingObjectFails: missing files, directories without a manifest
// and manifests naming deleted files are errors, with nothing written.
func TestMissingObjectFails(t *testing.T) {
	ctx := context.Background()
	fake := objstoretest.NewS3(t, "lab")
	s := open(t, fake.URL())
	dir := t.TempDir()
	if _, err := s.Download(ctx, "parquet/none.parquet", filepath.Join(dir, "x"), ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing file: %v, want ErrNotFound", err)
	}
	if _, err := s.DownloadDir(ctx, "models/none", filepath.Join(dir, "y")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing dir: %v, want ErrNotFound", err)
	}

	src := filepath.Join(dir, "model")
	testtree.WriteFile(t, filepath.Join(src, "a"), []byte("a"))
	testtree.WriteFile(t, filepath.Join(src, "b/c"), []byte("c"))
	if _, _, err := s.UploadDir(ctx, "models/m", src); err != nil {
		t.Fatal(err)
	}
	fake.Delete(t, "models/m/b/c")
	dst := filepath.Join(dir, "dst")
	if _, err := s.DownloadDir(ctx, "models/m", dst); !errors.Is(err, ErrNotFound) {
		t.Fatalf("manifest naming a deleted file: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a failed directory download created the directory")
	}
	// Without the manifest the prefix is not a directory: an interrupted
	// first upload is never taken for a whole one.
	fake.Delete(t, "models/m/"+ManifestName)
	if k, err := s.Lookup(ctx, "models/m"); err != nil || k != Missing {
		t.Fatalf("prefix without manifest: %v %v, want missing", k, err)
	}
}

// TestExpectedDigest: a caller's digest must agree with the object's
// metadata; an object written by another tool (no metadata) is only
// accepted when the caller knows its digest.
func TestExpectedDigest(t *testing.T) {
	ctx := context.Background()
	fake := objstoretest.NewS3(t, "lab")
	s := open(t, fake.URL())
	dst := filepath.Join(t.TempDir(), "f")
	if _, err := s.Put(ctx, "k", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Download(ctx, "k", dst, sha([]byte("v1"))); !errors.Is(err, ErrOtherVersion) {
		t.Fatalf("other version: %v, want ErrOtherVersion", err)
	}

	body := []byte("written by aws s3 cp")
	_, err := fake.Client(t).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lab"), Key: aws.String("raw/x.csv"), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Download(ctx, "raw/x.csv", dst, ""); err == nil || !strings.Contains(err.Error(), "cannot be verified") {
		t.Fatalf("unverifiable object: %v", err)
	}
	if _, err := s.Download(ctx, "raw/x.csv", dst, sha([]byte("other"))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong expected digest: %v, want ErrCorrupt", err)
	}
	if _, err := s.Download(ctx, "raw/x.csv", dst, sha(body)); err != nil {
		t.Fatalf("known digest: %v", err)
	}
}

// TestWriteAbortKeepsOldObject: when the bytes streamed are not the ones
// hashed beforehand (a file changing during upload), the upload is
// cancelled and the stored object stays the previous version.
func TestWriteAbortKeepsOldObject(t *testing.T) {
	ctx := context.Background()
	fake := objstoretest.NewS3(t, "lab")
	s := open(t, fake.URL())
	if _, err := s.Put(ctx, "k", []byte("old")); err != nil {
		t.Fatal(err)
	}
	d := fileDigest{sha256: sha([]byte("new!")), size: 4}
	err := s.write(ctx, "k", strings.NewReader("NEW!"), d)
	if err == nil || !strings.Contains(err.Error(), "changed while") {
		t.Fatalf("write of other bytes: %v", err)
	}
	if got := fake.Objects(t)["k"]; string(got) != "old" {
		t.Fatalf("object is %q after an aborted write, want old", got)
	}
}

func TestBucketURL(t *testing.T) {
	abs, _ := filepath.Abs("rel/bucket")
	t.Cleanup(func() { os.RemoveAll("rel") })
	for _, c := range []struct{ in, want, err string }{
		{in: "rel/bucket", want: "file://" + filepath.ToSlash(abs) + "?no_tmp_dir=1"},
		{in: "file:///srv/lab", want: "file:///srv/lab?no_tmp_dir=1"},
		{in: "file:///srv/lab?no_tmp_dir=1", want: "file:///srv/lab?no_tmp_dir=1"},
		{in: "s3://lab?region=eu-west-1", want: "s3://lab?region=eu-west-1"},
		{in: "s3://lab/team/a?region=eu-west-1", want: "s3://lab?prefix=team%2Fa%2F&region=eu-west-1"},
		{in: "gs://lab/x/", want: "gs://lab?prefix=x%2F"},
		{in: "s3://lab/x?prefix=y/", err: "prefix twice"},
		{in: "", err: "empty"},
	} {
		got, err := BucketURL(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("BucketURL(%q) err = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("BucketURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// TestUnsafeManifest: a manifest naming paths outside the directory is
// refused before anything is written.
func TestUnsafeManifest(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "bucket"))
	for _, p := range []string{"../evil", "/etc/passwd", "a/../../b", "a//b", "./a", `a\..\b`, ""} {
		body := `{"schema":1,"files":[{"path":"` + strings.ReplaceAll(p, `\`, `\\`) + `","sha256":"` + sha(nil) + `","size":0}]}`
		if _, err := s.Put(ctx, "d/"+ManifestName, []byte(body)); err != nil {
			t.Fatal(err)
		}
		root := t.TempDir()
		if _, err := s.DownloadDir(ctx, "d", filepath.Join(root, "x", "d")); err == nil || !strings.Contains(err.Error(), "unsafe path") {
			t.Errorf("manifest path %q: err = %v, want unsafe path", p, err)
		}
	}
}

// FuzzManifestCheck: any manifest check accepts names a file inside the
// target directory.
func FuzzManifestCheck(f *testing.F) {
	for _, p := range []string{"a", "a/b", "../a", "a/../b", "/a", ".", "a/./b", "..."} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		m := Manifest{Schema: manifestSchema, Files: []ManifestFile{{Path: p, SHA256: sha(nil)}}}
		if m.check() != nil {
			return
		}
		root := "/target/dir"
		full := filepath.Join(root, filepath.FromSlash(p))
		if !strings.HasPrefix(full, root+string(filepath.Separator)) {
			t.Fatalf("accepted %q, which resolves to %s", p, full)
		}
	})
}

// TestDirOnAnotherMount: a directory store on a different mount than
// TMPDIR takes writes. fileblob writes a temporary file and renames it into
// place; a rename across mounts fails (EXDEV), which is what `datalab
// report sync --remote /history` hit in a Dagger container, where /history
// is a mount of its own (found on the real engine, docs/dagger.md).
func TestDirOnAnotherMount(t *testing.T) {
	shm, err := os.Stat("/dev/shm")
	if err != nil {
		t.Skip("no /dev/shm (a tmpfs) to put the store on another mount than TMPDIR")
	}
	tmp, err := os.Stat(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if shm.Sys().(*syscall.Stat_t).Dev == tmp.Sys().(*syscall.Stat_t).Dev {
		t.Skip("/dev/shm is on the same device as TMPDIR here")
	}
	dir, err := os.MkdirTemp("/dev/shm", "objstore-mount-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Setenv("TMPDIR", t.TempDir())
	for _, loc := range []string{dir, "file://" + dir} {
		st, err := Open(context.Background(), loc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(context.Background(), "site/runs/a/report.json", []byte(`{"ok":true}`)); err != nil {
			t.Errorf("%s: put: %v", loc, err)
		} else if b, err := st.Get(context.Background(), "site/runs/a/report.json", ""); err != nil || string(b) != `{"ok":true}` {
			t.Errorf("%s: get %q, %v", loc, b, err)
		}
		st.Close()
	}
}

// TestListSkipsWritesInProgress: a directory store's listing leaves out
// fileblob's temporary files, which sit beside the objects (no_tmp_dir).
func TestListSkipsWritesInProgress(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Put(context.Background(), "a/x.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "y.json.18ef21aeeda85c2d.tmp"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := st.List(context.Background(), "a/")
	if err != nil || len(objs) != 1 || objs[0].Key != "a/x.json" {
		t.Errorf("List = %+v, %v; want only a/x.json", objs, err)
	}
}
