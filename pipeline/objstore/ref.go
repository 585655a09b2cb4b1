package objstore

import (
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
	"strconv"
	"syscall"
	"time"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// ErrConflict is wrapped by errors of a compare-and-swap whose object was
// changed by another writer after it was read (see SwapRef).
var ErrConflict = errors.New("changed by another writer since it was read")

// Ref is a small object read for a compare-and-swap: its bytes and the tag
// a conditional write compares with. The zero Ref is an absent object.
type Ref struct {
	Data []byte
	// Tag identifies the version read: the S3 ETag, the GCS generation, or
	// (local directories) the sha256 of Data. Empty when the object is
	// absent.
	Tag string
}

// Exists says whether the object was there when it was read.
func (r Ref) Exists() bool { return r.Tag != "" }

// driver is how a store does conditional writes.
type driver int

const (
	driverOther driver = iota
	driverFile
	driverS3
	driverGCS
)

func (s *Store) driver() driver {
	var s3c *s3.Client
	if s.bucket.As(&s3c) {
		return driverS3
	}
	var gcs *storage.Client
	if s.bucket.As(&gcs) {
		return driverGCS
	}
	if s.localDir != "" {
		return driverFile
	}
	return driverOther
}

// ReadRef reads the object at key with the tag SwapRef compares against,
// both from the same read (no window between them). A missing key is the
// zero Ref, not an error.
//
// In a local directory the read takes the key's lock shared: fileblob
// publishes the content and its attributes sidecar in two steps, which a
// reader must not see half-way.
func (s *Store) ReadRef(ctx context.Context, key string) (Ref, error) {
	if s.driver() == driverFile {
		unlock, err := s.lockKey(ctx, key, syscall.LOCK_SH)
		if err != nil {
			return Ref{}, err
		}
		defer unlock()
	}
	return s.readRef(ctx, key)
}

func (s *Store) readRef(ctx context.Context, key string) (Ref, error) {
	r, err := s.bucket.NewReader(ctx, key, nil)
	if gcerrors.Code(err) == gcerrors.NotFound || errors.Is(err, syscall.ENOTDIR) {
		return Ref{}, nil
	}
	if err != nil {
		return Ref{}, s.wrap("read", key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return Ref{}, s.wrap("read", key, err)
	}
	ref := Ref{Data: data}
	switch s.driver() {
	case driverS3:
		var out s3.GetObjectOutput
		if !r.As(&out) || aws.ToString(out.ETag) == "" {
			return Ref{}, fmt.Errorf("read %s: %s: the S3 answer has no ETag, which compare-and-swap needs", s.location, key)
		}
		ref.Tag = aws.ToString(out.ETag)
	case driverGCS:
		var gr *storage.Reader
		if !r.As(&gr) {
			return Ref{}, fmt.Errorf("read %s: %s: no GCS generation", s.location, key)
		}
		ref.Tag = strconv.FormatInt(gr.Attrs.Generation, 10)
	default:
		sum := sha256.Sum256(data)
		ref.Tag = hex.EncodeToString(sum[:])
	}
	return ref, nil
}

// SwapRef replaces the object at key with data if it is still the version
// old was read as (old.Tag), or creates it if old is the zero Ref and the
// key is still absent. If another writer got there first, the error wraps
// ErrConflict and nothing is written: read again and decide again.
//
// The condition is checked by the store itself, atomically with the
// write: S3 If-Match / If-None-Match, GCS generation preconditions, and
// for local directories an exclusive flock(2) on a lock file under the
// directory's .locks/, held across read-compare-write (released by the
// kernel if the process dies, so no stale lock is left behind). Other
// stores (mem://, …) refuse.
func (s *Store) SwapRef(ctx context.Context, key string, old Ref, data []byte) error {
	hs, hm := sha256.Sum256(data), md5.Sum(data)
	opts := &blob.WriterOptions{
		ContentMD5: hm[:],
		Metadata:   map[string]string{MetadataSHA256: hex.EncodeToString(hs[:])},
	}
	switch s.driver() {
	case driverS3:
		opts.BeforeWrite = func(as func(any) bool) error {
			var in *transfermanager.UploadObjectInput
			if !as(&in) {
				return errors.New("s3 conditional write: no upload input")
			}
			if old.Exists() {
				in.IfMatch = aws.String(old.Tag)
			} else {
				in.IfNoneMatch = aws.String("*")
			}
			return nil
		}
	case driverGCS:
		opts.BeforeWrite = func(as func(any) bool) error {
			var oh **storage.ObjectHandle
			if !as(&oh) {
				return errors.New("gcs conditional write: no object handle")
			}
			if !old.Exists() {
				*oh = (*oh).If(storage.Conditions{DoesNotExist: true})
				return nil
			}
			gen, err := strconv.ParseInt(old.Tag, 10, 64)
			if err != nil {
				return fmt.Errorf("gcs conditional write: tag %q is not a generation", old.Tag)
			}
			*oh = (*oh).If(storage.Conditions{GenerationMatch: gen})
			return nil
		}
	case driverFile:
		unlock, err := s.lockKey(ctx, key, syscall.LOCK_EX)
		if err != nil {
			return err
		}
		defer unlock()
		cur, err := s.readRef(ctx, key)
		if err != nil {
			return err
		}
		if cur.Tag != old.Tag {
			return s.conflict(key)
		}
	default:
		return fmt.Errorf("write %s: %s: this store cannot do conditional writes (use a directory, s3:// or gs://)", s.location, key)
	}
	w, err := s.bucket.NewWriter(ctx, key, opts)
	if err != nil {
		return s.swapError(key, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return s.swapError(key, err)
	}
	if err := w.Close(); err != nil {
		return s.swapError(key, err)
	}
	return nil
}

func (s *Store) conflict(key string) error {
	return fmt.Errorf("write %s: %s: %w", s.location, key, ErrConflict)
}

// swapError turns a failed precondition into ErrConflict. S3 answers 412
// Precondition Failed (or 409 when two conditional writes race), GCS 412.
func (s *Store) swapError(key string, err error) error {
	if gcerrors.Code(err) == gcerrors.FailedPrecondition {
		return s.conflict(key)
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && (re.HTTPStatusCode() == 412 || re.HTTPStatusCode() == 409) {
		return s.conflict(key)
	}
	return s.wrap("write", key, err)
}

// lockKey takes the lock of key in a local store, exclusive (LOCK_EX) or
// shared (LOCK_SH), waiting for another holder until ctx ends.
func (s *Store) lockKey(ctx context.Context, key string, how int) (func(), error) {
	sum := sha256.Sum256([]byte(s.localPrefix + key))
	dir := filepath.Join(s.localDir, ".locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	path := filepath.Join(dir, hex.EncodeToString(sum[:8])+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s (%s): %w", key, path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: another process holds %s: %w", key, path, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// localRoot is the directory and key prefix of a file:// bucket URL.
func localRoot(bucketURL string) (dir, prefix string) {
	u, err := url.Parse(bucketURL)
	if err != nil || u.Scheme != "file" {
		return "", ""
	}
	return filepath.FromSlash(u.Path), u.Query().Get("prefix")
}
