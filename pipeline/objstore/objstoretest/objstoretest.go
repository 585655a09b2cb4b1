// Package objstoretest serves an in-process S3 for tests: gofakes3 with its
// in-memory backend behind an httptest server on 127.0.0.1, so code under
// test talks real S3 HTTP (SigV4, path-style requests, multipart uploads)
// to it through the same URL a real bucket would take.
package objstoretest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Region is the region the fake S3 URLs name.
const Region = "us-east-1"

// S3 is a running fake S3 with one bucket.
type S3 struct {
	// Endpoint is the server's base URL (http://127.0.0.1:PORT).
	Endpoint string
	// Bucket is the bucket created at start.
	Bucket string
	// Backend is the server's storage, for tests that damage objects
	// behind the API's back.
	Backend *s3mem.Backend

	parts    atomic.Int64
	noConfig string // an absent file: the shared AWS config Client reads
}

// NewS3 starts a fake S3 holding an empty bucket, stopped when the test
// ends. It sets the AWS credential variables the SDK needs (to dummy values)
// and points the shared AWS config files at nothing, for this test and the
// processes it starts.
func NewS3(t testing.TB, bucket string) *S3 {
	t.Helper()
	s, env := NewS3Env(t, bucket)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return s
}

// NewS3Env is NewS3 for parallel tests (t.Setenv is not allowed there): the
// process environment is left alone, the returned variables (KEY=value) are
// for the processes the test starts, and Client uses them explicitly.
func NewS3Env(t testing.TB, bucket string) (*S3, []string) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "no-aws-config")
	env := []string{
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + none,
		"AWS_SHARED_CREDENTIALS_FILE=" + none,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	s := &S3{Bucket: bucket, Backend: backend, noConfig: none}
	api := gofakes3.New(backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") {
			s.parts.Add(1)
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.Endpoint = srv.URL
	return s, env
}

// UploadParts counts the multipart UploadPart requests served so far.
func (s *S3) UploadParts() int64 { return s.parts.Load() }

// URL is the objstore / gocloud URL of the bucket, with extra query
// parameters (e.g. "prefix", "lab/") appended as pairs.
func (s *S3) URL(extra ...string) string {
	q := url.Values{}
	q.Set("endpoint", s.Endpoint)
	q.Set("region", Region)
	q.Set("use_path_style", "true")
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "s3://" + s.Bucket + "?" + q.Encode()
}

// Client is an AWS SDK S3 client for the server, independent of the code
// under test, to check what it stored.
func (s *S3) Client(t testing.TB) *s3.Client {
	t.Helper()
	// The fake's dummy credentials, explicitly: the process environment may
	// not have them (NewS3Env).
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithSharedConfigFiles([]string{s.noConfig}), config.WithSharedCredentialsFiles([]string{s.noConfig}),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	if err != nil {
		t.Fatal(err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint)
		o.UsePathStyle = true
	})
}

// Objects reads every object of the bucket through the S3 API (ListObjectsV2
// and GetObject with Client): key → content.
func (s *S3) Objects(t testing.TB) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	c := s.Client(t)
	objs := map[string][]byte{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list bucket %s: %v", s.Bucket, err)
		}
		for _, o := range page.Contents {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: o.Key})
			if err != nil {
				t.Fatalf("get %s: %v", *o.Key, err)
			}
			b, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				t.Fatalf("read %s: %v", *o.Key, err)
			}
			objs[*o.Key] = b
		}
	}
	return objs
}

// Keys lists the bucket's keys, sorted.
func (s *S3) Keys(t testing.TB) []string {
	t.Helper()
	var keys []string
	for k := range s.Objects(t) {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Replace overwrites key with content directly in the backend, keeping
// the object's user metadata (x-amz-meta-*, so its recorded sha256) but not
// the checksums S3 computed at upload: another tool rewriting the key
// without updating datalab's checksum.
func (s *S3) Replace(t testing.TB, key string, content []byte) {
	t.Helper()
	s.put(t, key, content, func(k string) bool { return strings.HasPrefix(strings.ToLower(k), "x-amz-meta-") })
}

// Corrupt overwrites key with content directly in the backend, keeping all
// its headers, including the CRC32 S3 computed at upload: bit rot, which
// the S3 client's own response checksum notices.
func (s *S3) Corrupt(t testing.TB, key string, content []byte) {
	t.Helper()
	s.put(t, key, content, func(string) bool { return true })
}

func (s *S3) put(t testing.TB, key string, content []byte, keep func(header string) bool) {
	t.Helper()
	obj, err := s.Backend.HeadObject(s.Bucket, key)
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	meta := map[string]string{}
	for k, v := range obj.Metadata {
		if keep(k) {
			meta[k] = v
		}
	}
	// s3mem carries an existing object's headers over to its replacement:
	// delete it first so that only the kept ones survive.
	if _, err := s.Backend.DeleteObject(s.Bucket, key); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
	if _, err := s.Backend.PutObject(s.Bucket, key, meta, bytes.NewReader(content), int64(len(content)), nil); err != nil {
		t.Fatalf("replace %s: %v", key, err)
	}
}

// Delete removes key directly in the backend.
func (s *S3) Delete(t testing.TB, key string) {
	t.Helper()
	if _, err := s.Backend.DeleteObject(s.Bucket, key); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}
