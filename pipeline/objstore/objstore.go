// Package objstore moves pipeline artifacts between the local working tree
// and object storage: a local directory, file://, s3:// or gs:// through
// gocloud.dev/blob, opened the same way from a URL or a plain path.
//
// It sits beside the pipeline, not in it: stages keep reading and writing
// local files (they are shell commands), and `datalab run --remote` copies
// their inputs in and their outputs out (package objstore/layout maps local
// paths to the bucket layout; pipeline/stagerun decides when).
//
// Every object it writes carries its sha256 in the metadata key "sha256"
// (S3 x-amz-meta-sha256, GCS object metadata, fileblob's .attrs sidecar),
// and every download is verified against it — or against a digest the
// caller knows — before the local file appears. A directory is uploaded file
// by file and then described by a manifest written last (see Manifest);
// readers go through the manifest, so they never take a half-uploaded
// directory for a whole one.
package objstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"gocloud.dev/blob"
	// Bucket drivers for file://, s3:// and gs:// URLs.
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// MetadataSHA256 is the metadata key holding an object's hex sha256.
const MetadataSHA256 = "sha256"

// ErrNotFound is wrapped by errors about keys the store does not hold.
var ErrNotFound = errors.New("not found")

// ErrOtherVersion is wrapped by errors about objects whose sha256 metadata
// is not the digest the caller expected: the store holds another version.
var ErrOtherVersion = errors.New("the store holds another version")

// ErrCorrupt is wrapped by errors about objects whose bytes do not match
// their recorded sha256 and size (see ChecksumError).
var ErrCorrupt = errors.New("object does not match its checksum")

// ChecksumError says that the bytes read for Key are not the ones its
// metadata, its manifest or the caller declared. Nothing was written
// locally.
type ChecksumError struct {
	Store, Key string
	// Want and Got are hex sha256 digests; Got is empty when the sizes
	// already differ.
	Want, Got         string
	WantSize, GotSize int64
	// Client is set when the storage client's own integrity check (the AWS
	// SDK's CRC32/SHA256 response checksum) failed first; it says what the
	// client saw.
	Client string
}

func (e *ChecksumError) Error() string {
	if e.Client != "" {
		return fmt.Sprintf("%s: %s: the storage client's integrity check failed (%s): the object is corrupt; delete it and upload it again", e.Store, e.Key, e.Client)
	}
	if e.Got == "" {
		return fmt.Sprintf("%s: %s: expected %d bytes, read %d: delete the object and upload it again", e.Store, e.Key, e.WantSize, e.GotSize)
	}
	return fmt.Sprintf("%s: %s: sha256 %s, expected %s: the object is corrupt or was replaced without its checksum; delete it and upload it again", e.Store, e.Key, e.Got, e.Want)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *ChecksumError) Is(target error) bool { return target == ErrCorrupt }

// Store is an opened bucket, possibly narrowed to a prefix.
type Store struct {
	location string
	bucket   *blob.Bucket
	// localDir and localPrefix are the directory and key prefix of a
	// file:// store (conditional writes lock files there; see SwapRef).
	localDir, localPrefix string
}

// Object describes a stored object.
type Object struct {
	Key  string
	Size int64
	// SHA256 is the hex digest from the object's metadata; empty for
	// objects written by other tools.
	SHA256  string
	ModTime time.Time
}

// BucketURL turns a location into a gocloud.dev bucket URL:
//
//   - a plain path is a local directory (created if missing):
//     "out/bucket" → "file:///abs/out/bucket?no_tmp_dir=1";
//   - file:// URLs get no_tmp_dir=1: fileblob then writes its temporary
//     files beside the objects, so the rename that publishes one never
//     crosses a mount;
//   - s3:// and gs:// URLs may name a prefix in their path, which gocloud
//     would otherwise ignore: "s3://lab/runs/a?region=x" →
//     "s3://lab?prefix=runs%2Fa%2F&region=x";
//   - anything else with "://" passes through (file:///abs/dir, s3://bucket?…).
//
// s3:// URLs take gocloud's query parameters: region, endpoint,
// use_path_style (or s3ForcePathStyle), disable_https, profile, anonymous,
// ssetype, kmskeyid, accelerate, request_checksum_calculation, …; every URL
// takes prefix=.
func BucketURL(location string) (string, error) {
	if location == "" {
		return "", errors.New("empty storage location: give a directory or a file://, s3:// or gs:// URL")
	}
	if !strings.Contains(location, "://") {
		abs, err := filepath.Abs(location)
		if err != nil {
			return "", err
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return "", fmt.Errorf("create storage directory: %w", err)
		}
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "no_tmp_dir=1"}).String(), nil
	}
	u, err := url.Parse(location)
	if err != nil {
		return "", fmt.Errorf("storage URL %q: %w", location, err)
	}
	if u.Scheme == "file" {
		// fileblob writes a temporary file and renames it into place; from
		// TMPDIR, that rename fails across mounts (EXDEV), e.g. into a
		// directory mounted into a container. Next to the object it cannot.
		q := u.Query()
		if q.Get("no_tmp_dir") == "" {
			q.Set("no_tmp_dir", "1")
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
	if (u.Scheme == "s3" || u.Scheme == "gs") && strings.Trim(u.Path, "/") != "" {
		q := u.Query()
		if q.Get("prefix") != "" {
			return "", fmt.Errorf("storage URL %q names a prefix twice: give it in the path or as ?prefix=, not both", location)
		}
		q.Set("prefix", strings.Trim(u.Path, "/")+"/")
		u.Path, u.RawPath, u.RawQuery = "", "", q.Encode()
	}
	return u.String(), nil
}

// Open opens the store at location (see BucketURL). Credentials come from
// the standard AWS and Google environment (AWS_ACCESS_KEY_ID, profiles,
// instance roles; GOOGLE_APPLICATION_CREDENTIALS, metadata server).
func Open(ctx context.Context, location string) (*Store, error) {
	u, err := BucketURL(location)
	if err != nil {
		return nil, err
	}
	b, err := blob.OpenBucket(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("open storage %s: %w", location, err)
	}
	st := &Store{location: location, bucket: b}
	st.localDir, st.localPrefix = localRoot(u)
	return st, nil
}

// String is the location the store was opened from.
func (s *Store) String() string { return s.location }

// Close releases the bucket.
func (s *Store) Close() error { return s.bucket.Close() }

// wrap turns a gocloud error about key into one that says where, wrapping
// ErrNotFound for missing keys.
func (s *Store) wrap(op, key string, err error) error {
	// fileblob reports a key below a key that is a file (a/b under a) as
	// ENOTDIR; there is no such object either.
	if gcerrors.Code(err) == gcerrors.NotFound || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%s %s: %s: %w", op, s.location, key, ErrNotFound)
	}
	return fmt.Errorf("%s %s: %s: %w", op, s.location, key, err)
}

// Stat describes the object at key; a missing key wraps ErrNotFound.
func (s *Store) Stat(ctx context.Context, key string) (Object, error) {
	a, err := s.bucket.Attributes(ctx, key)
	if err != nil {
		return Object{}, s.wrap("stat", key, err)
	}
	return Object{Key: key, Size: a.Size, SHA256: a.Metadata[MetadataSHA256], ModTime: a.ModTime}, nil
}

// List returns every object under prefix (recursively), sorted by key.
// SHA256 is not filled in (it needs a request per object: use Stat).
func (s *Store) List(ctx context.Context, prefix string) ([]Object, error) {
	var objs []Object
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, s.wrap("list", prefix, err)
		}
		if !o.IsDir && !(s.localDir != "" && fileblobTemp.MatchString(o.Key)) {
			objs = append(objs, Object{Key: o.Key, Size: o.Size, ModTime: o.ModTime})
		}
	}
}

// fileblobTemp is the name of a write in progress (or one a crash cut
// short) in a directory store: fileblob writes "<key>.<nanoseconds in
// hex>.tmp" beside the object (no_tmp_dir, BucketURL) and renames it.
var fileblobTemp = regexp.MustCompile(`\.[0-9a-f]+\.tmp$`)

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.bucket.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return s.wrap("delete", key, err)
	}
	return nil
}

// fileDigest is the sha256, MD5 and size of a local file.
type fileDigest struct {
	sha256 string
	md5    []byte
	size   int64
}

func digestFile(path string) (fileDigest, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileDigest{}, err
	}
	defer f.Close()
	hs, hm := sha256.New(), md5.New()
	n, err := io.Copy(io.MultiWriter(hs, hm), f)
	if err != nil {
		return fileDigest{}, fmt.Errorf("read %s: %w", path, err)
	}
	return fileDigest{sha256: hex.EncodeToString(hs.Sum(nil)), md5: hm.Sum(nil), size: n}, nil
}

// Upload stores the local file at path under key, with its sha256 in the
// metadata, unless the store already holds exactly those bytes (same sha256
// metadata and size); sent reports whether anything was written.
//
// Bytes damaged in transit are rejected by the service: GCS (and fileblob)
// check the content MD5 sent along; on S3 the AWS SDK's CRC32 request
// checksum does that job (gocloud's S3 driver does not send Content-MD5). A
// file that changes while it is being uploaded makes the upload fail
// instead of storing a mix. Readers see the old object or the
// new one, never part of it: an S3 PUT or completed multipart upload, a GCS
// upload and fileblob's temp-file-and-rename all publish whole objects.
func (s *Store) Upload(ctx context.Context, key, path string) (obj Object, sent bool, err error) {
	d, err := digestFile(path)
	if err != nil {
		return Object{}, false, fmt.Errorf("upload %s: %w", path, err)
	}
	if cur, err := s.Stat(ctx, key); err == nil && cur.SHA256 == d.sha256 && cur.Size == d.size {
		return cur, false, nil
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return Object{}, false, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Object{}, false, fmt.Errorf("upload %s: %w", path, err)
	}
	defer f.Close()
	if err := s.write(ctx, key, f, d); err != nil {
		return Object{}, false, fmt.Errorf("upload %s: %w", path, err)
	}
	return Object{Key: key, Size: d.size, SHA256: d.sha256}, true, nil
}

// Put stores data under key with its sha256, unless already stored.
func (s *Store) Put(ctx context.Context, key string, data []byte) (sent bool, err error) {
	hs, hm := sha256.Sum256(data), md5.Sum(data)
	d := fileDigest{sha256: hex.EncodeToString(hs[:]), md5: hm[:], size: int64(len(data))}
	if cur, err := s.Stat(ctx, key); err == nil && cur.SHA256 == d.sha256 && cur.Size == d.size {
		return false, nil
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	return true, s.write(ctx, key, bytes.NewReader(data), d)
}

// write streams r to key and publishes it only when r produced exactly the
// bytes of d; otherwise the write is cancelled and nothing replaces key.
func (s *Store) write(ctx context.Context, key string, r io.Reader, d fileDigest) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.bucket.NewWriter(wctx, key, &blob.WriterOptions{
		ContentMD5: d.md5,
		Metadata:   map[string]string{MetadataSHA256: d.sha256},
	})
	if err != nil {
		return s.wrap("write", key, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), r)
	if err == nil && (n != d.size || hex.EncodeToString(h.Sum(nil)) != d.sha256) {
		err = errors.New("the file changed while it was being uploaded; run again")
	}
	if err != nil {
		cancel() // aborts the upload: the previous object, if any, stays
		w.Close()
		return fmt.Errorf("write %s: %s: %w", s.location, key, err)
	}
	if err := w.Close(); err != nil {
		return s.wrap("write", key, err)
	}
	return nil
}

// expected picks the digest a download must match: the caller's when given
// (then the object's metadata must agree), else the metadata's.
func (s *Store) expected(obj Object, want string) (string, error) {
	switch {
	case want != "" && obj.SHA256 != "" && want != obj.SHA256:
		return "", fmt.Errorf("%s: %s has sha256 %s (metadata), expected %s: %w", s.location, obj.Key, obj.SHA256, want, ErrOtherVersion)
	case want != "":
		return want, nil
	case obj.SHA256 != "":
		return obj.SHA256, nil
	}
	return "", fmt.Errorf("%s: %s has no %s metadata and no expected digest was given, so it cannot be verified: upload it with datalab (objstore.Upload)", s.location, obj.Key, MetadataSHA256)
}

// NewReader streams the object at key without verifying it, for callers
// that check the bytes themselves (data pull verifies them against the
// data set's git-LFS pointer). A missing key wraps ErrNotFound.
func (s *Store) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := s.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, s.wrap("read", key, err)
	}
	return r, nil
}

// Download copies key to the local file path, verified against want (a
// hex sha256; empty means the object's own sha256 metadata) and the
// object's size. The local file appears only when both match; a mismatch
// is a *ChecksumError (errors.Is ErrCorrupt) and leaves path untouched.
func (s *Store) Download(ctx context.Context, key, path, want string) (Object, error) {
	obj, err := s.Stat(ctx, key)
	if err != nil {
		return Object{}, err
	}
	if want, err = s.expected(obj, want); err != nil {
		return Object{}, err
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return Object{}, err
	}
	defer f.Abort()
	if err := s.read(ctx, obj, want, f); err != nil {
		return Object{}, err
	}
	if err := f.Commit(); err != nil {
		return Object{}, err
	}
	obj.SHA256 = want
	return obj, nil
}

// Get returns the verified content of key (small objects: manifests,
// records); want as in Download.
func (s *Store) Get(ctx context.Context, key, want string) ([]byte, error) {
	obj, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	if want, err = s.expected(obj, want); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := s.read(ctx, obj, want, &b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// sdkChecksumMismatch starts the message of the AWS SDK's response
// checksum error, whose type is unexported: the S3 client verifies the
// CRC32 it stored with the object and fails the read before datalab's
// sha256 check can.
const sdkChecksumMismatch = "checksum did not match"

// read copies obj to w and checks its size and sha256.
func (s *Store) read(ctx context.Context, obj Object, want string, w io.Writer) error {
	r, err := s.bucket.NewReader(ctx, obj.Key, nil)
	if err != nil {
		return s.wrap("read", obj.Key, err)
	}
	defer r.Close()
	h := sha256.New()
	// One byte past the size, to notice an object that grew since Stat.
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, obj.Size+1))
	if err != nil && strings.Contains(err.Error(), sdkChecksumMismatch) {
		return &ChecksumError{Store: s.location, Key: obj.Key, Client: err.Error()}
	}
	if err != nil {
		return s.wrap("read", obj.Key, err)
	}
	if n != obj.Size {
		return &ChecksumError{Store: s.location, Key: obj.Key, WantSize: obj.Size, GotSize: n}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return &ChecksumError{Store: s.location, Key: obj.Key, Want: want, Got: got, WantSize: obj.Size, GotSize: n}
	}
	return nil
}
